"""How much output a session may record, shared by every recording that draws on it.

One technician connection records one file per channel; a ControlMaster connection can open
many channels. Were the budget per recording, each channel would get the whole budget
again: so the recorders of one session draw on one :class:`OutputBudget` (and, when the
bastion is set to count per grant, every connection of the grant on this node does).

Past ``soft_fraction`` of the budget, output is throttled to ``throttle_bytes_per_second``
(for the whole budget, however many channels share it); output that would pass the budget
is refused, and so is everything after it.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from .errors import BudgetExceeded

MIB = 1024 * 1024


@dataclass(frozen=True)
class Limits:
    budget_bytes: int = 512 * MIB
    soft_fraction: float = 0.75
    throttle_bytes_per_second: float = 1 * MIB

    def __post_init__(self) -> None:
        if self.budget_bytes <= 0 or not 0 < self.soft_fraction <= 1:
            raise ValueError("the budget must be positive and soft_fraction in (0, 1]")
        if self.throttle_bytes_per_second <= 0:
            raise ValueError("throttle_bytes_per_second must be positive")

    @property
    def soft_bytes(self) -> int:
        return int(self.budget_bytes * self.soft_fraction)

    @classmethod
    def from_megabytes(cls, session_budget_mb: int, **kwargs: Any) -> Limits:
        return cls(budget_bytes=session_budget_mb * MIB, **kwargs)


class OutputBudget:
    """Bytes drawn so far against ``limits``; ``spent_bytes`` may start above zero (what the
    grant's earlier connections already recorded). Used from one event loop only."""

    def __init__(self, limits: Limits, *, spent_bytes: int = 0, scope: str = "connection",
                 clock: Callable[[], float] = time.monotonic) -> None:
        self.limits = limits
        self.scope = scope
        self.spent_bytes = spent_bytes
        self.exhausted = spent_bytes >= limits.budget_bytes
        self._clock = clock
        self._throttle_until = 0.0

    def draw(self, size: int) -> float:
        """Take ``size`` bytes; return how long the caller must wait once they are recorded
        (0 below the soft limit). Raises :class:`BudgetExceeded` when they would pass the
        budget, and for every call after that."""
        if self.exhausted or self.spent_bytes + size > self.limits.budget_bytes:
            self.exhausted = True
            raise self.exceeded()
        self.spent_bytes += size
        if self.spent_bytes <= self.limits.soft_bytes:
            return 0.0
        # One throttle clock for the whole budget: calls made concurrently (pipelined reads,
        # several channels) queue up behind each other instead of each sleeping its own
        # share at the same time, so the rate holds however the proxy calls.
        now = self._clock()
        self._throttle_until = max(now, self._throttle_until) + size / self.limits.throttle_bytes_per_second
        return self._throttle_until - now

    def exceeded(self) -> BudgetExceeded:
        return BudgetExceeded(
            f"the {self.scope}'s output budget ({self.limits.budget_bytes} bytes) is spent",
            budget_bytes=self.limits.budget_bytes, scope=self.scope)

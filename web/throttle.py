"""A small per-client-address rate limit for the sign-in endpoints.

Why not flask-limiter: the protection that matters, the per-account lock-out, lives in the
database (``StaffUser.failed_sign_ins`` / ``locked_until``, kept by
``bastion.approvals.sign_in``) so it holds across nodes and restarts. This limit only slows
one address spraying many user names; an in-process window is enough for that, and it needs
no extra dependency (whose default in-memory storage would be per process anyway).
"""

from __future__ import annotations

import threading
import time
from collections import deque
from enum import Enum


class Verdict(Enum):
    OK = "ok"
    LIMITED_FIRST = "limited-first"  # the first refusal in this window: worth an audit event
    LIMITED = "limited"  # further refusals: not audited, so a flood cannot flood the log


class Throttle:
    def __init__(self, limit: int, window_seconds: float, max_addresses: int = 10_000) -> None:
        self.limit = limit
        self.window = window_seconds
        self.max_addresses = max_addresses
        self._hits: dict[str, deque[float]] = {}
        self._warned: dict[str, float] = {}
        self._lock = threading.Lock()

    def hit(self, address: str, now: float | None = None) -> Verdict:
        """Count one attempt; refused attempts are not counted (the window still ends), and
        the caller takes back a successful one with :meth:`forgive`."""
        now = time.monotonic() if now is None else now
        with self._lock:
            hits = self._hits.setdefault(address, deque())
            while hits and now - hits[0] > self.window:
                hits.popleft()
            if len(hits) >= self.limit:
                warned = self._warned.get(address)
                if warned is not None and now - warned <= self.window:
                    return Verdict.LIMITED
                self._warned[address] = now
                return Verdict.LIMITED_FIRST
            hits.append(now)
            if len(self._hits) > self.max_addresses:
                self._forget_idle(now)
            return Verdict.OK

    def forgive(self, address: str) -> None:
        """Take back this address's latest attempt: it succeeded. Only failures should add
        up, or a ward signing in from behind one NAT address would lock itself out."""
        with self._lock:
            hits = self._hits.get(address)
            if hits:
                hits.pop()

    def _forget_idle(self, now: float) -> None:
        # Bounded memory even when many addresses try once.
        for address in [a for a, h in self._hits.items() if not h or now - h[-1] > self.window]:
            del self._hits[address]
            self._warned.pop(address, None)

"""The node's periodic work: one round now, then one every interval until ``stop``."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable

log = logging.getLogger("bastion.periodic")


async def run_every(interval_seconds: float, stop: asyncio.Event,
                    round_: Callable[[], Awaitable[None]], *, what: str) -> None:
    """Run ``round_`` now, then every ``interval_seconds`` until ``stop`` is set. A round
    that fails is logged and retried at the next one: periodic work never stops the node."""
    while not stop.is_set():
        try:
            await round_()
        except Exception:  # noqa: BLE001 - see the docstring
            log.exception("%s failed", what)
        try:
            await asyncio.wait_for(stop.wait(), interval_seconds)
        except TimeoutError:
            pass

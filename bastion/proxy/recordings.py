"""The proxy's side of recording: one recording per channel, opened before the channel
relays anything, closed with the reason the channel ended."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from functools import partial
from typing import TYPE_CHECKING, Any

from bastion.recording import (
    BudgetExceeded,
    OutputBudget,
    RecordingFailed,
    RecordingService,
    SessionRecorder,
)
from bastion.recording.events import TerminalInfo

from .budgets import SessionBudgets

if TYPE_CHECKING:
    from bastion.observability import NodeMetrics

    from .connection import ProxyConnection
    from .service import ProxyService


def _nothing() -> None:
    pass


class ChannelRecording:
    """What the relays call; ``output`` returns once the bytes are stored."""

    def __init__(self, recorder: SessionRecorder, on_close: Callable[[], None],
                 metrics: NodeMetrics) -> None:
        self.recorder = recorder
        self.recording_id: int = recorder.recording_id
        self._on_close = on_close
        self.metrics = metrics

    async def output(self, data: bytes, *, stderr: bool = False) -> None:
        await self.output_stored(data, stderr=stderr)

    def output_stored(self, data: bytes, *, stderr: bool = False) -> asyncio.Future[None]:
        """Queue ``data`` now; what comes back completes once it is stored (relay.py reads
        on meanwhile). Counted in the node's metrics when it completes."""
        stored = self.recorder.output_stored(data, stderr=stderr)
        stored.add_done_callback(partial(self._count, len(data)))
        return stored

    def _count(self, size: int, stored: asyncio.Future[None]) -> None:
        if stored.cancelled():
            return
        error = stored.exception()
        if error is None:
            self.metrics.recording_bytes.inc(size)
        elif isinstance(error, BudgetExceeded):
            self.metrics.recording_errors.labels("budget").inc()
        elif isinstance(error, RecordingFailed):
            self.metrics.recording_errors.labels("storage").inc()

    async def input(self, data: bytes) -> None:
        await self.recorder.input(data)

    async def resize(self, cols: int, rows: int) -> None:
        await self.recorder.resize(cols, rows)

    async def marker(self, kind: str, details: dict[str, Any]) -> None:
        await self.recorder.marker(kind, **details)

    def on_failure(self, listener: Callable[[RecordingFailed], Any]) -> None:
        """``listener(error)`` once, when the recording fails while nothing is being
        written (its recorder process died): the session ends without waiting for output."""
        def count(error: RecordingFailed) -> None:
            self.metrics.recording_errors.labels("storage").inc()
            listener(error)

        self.recorder.on_failure(count)

    @property
    def budget(self) -> OutputBudget:
        return self.recorder.budget

    async def close(self, reason: str) -> None:
        try:
            await self.recorder.close(reason)
        finally:
            on_close, self._on_close = self._on_close, _nothing
            on_close()  # once: the budget's holder count must not go down twice


class SessionRecordings:
    failure_types = (RecordingFailed, BudgetExceeded)

    def __init__(self, service: ProxyService) -> None:
        self.catalog = RecordingService(service.core, recorder_link=service.recorder_link)
        self.metrics = service.core.metrics
        self.budgets = SessionBudgets(self.catalog, service.core.settings.recording.budget_scope,
                                      service.call)
        # Recordings not closed yet: a stopping node waits for them to be sealed (a
        # connection is gone before its channels have sealed what they recorded).
        self._open = 0
        self.all_closed = asyncio.Event()
        self.all_closed.set()

    async def open(self, owner: ProxyConnection, kind: str, command: str | None,
                   terminal: tuple[str | None, int, int] | None = None) -> ChannelRecording:
        info = None
        if terminal is not None:
            term, width, height = terminal
            info = TerminalInfo(width=width or 80, height=height or 24, term=term,
                                title=f"{owner.technician}@{owner.target_name}")
        grant = owner.grant
        assert grant is not None
        budget = await self.budgets.acquire(owner, grant.grant_id)
        try:
            recorder = await self.catalog.start(owner.session_id, kind, info, budget)  # type: ignore[arg-type]
        except BaseException:
            self.budgets.release(grant.grant_id)
            raise
        self._open += 1
        self.all_closed.clear()
        recording = ChannelRecording(recorder, partial(self._closed, grant.grant_id),
                                     self.metrics)
        await recording.marker("session", {
            "technician": owner.technician, "target": owner.target_name,
            "account": grant.account, "grant": grant.grant_id, "channel": kind,
            "client_address": owner.peer,
        })
        if command is not None:
            await recording.marker("exec", {"command": command})
        return recording

    def _closed(self, grant_id: int) -> None:
        self.budgets.release(grant_id)
        self._open -= 1
        if self._open == 0:
            self.all_closed.set()

    def mark_interrupted(self) -> int:
        return len(self.catalog.mark_interrupted())

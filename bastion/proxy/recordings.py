"""The proxy's side of recording: one recording per channel, opened before the channel
relays anything, closed with the reason the channel ended."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from bastion.recording import BudgetExceeded, RecordingFailed, RecordingService, SessionRecorder
from bastion.recording.events import TerminalInfo

if TYPE_CHECKING:
    from .connection import ProxyConnection
    from .service import ProxyService


class ChannelRecording:
    """What the relays call; ``output`` returns once the bytes are stored."""

    def __init__(self, recorder: SessionRecorder) -> None:
        self.recorder = recorder
        self.recording_id: int = recorder.recording_id

    async def output(self, data: bytes, *, stderr: bool = False) -> None:
        await self.recorder.output(data, stderr=stderr)

    async def input(self, data: bytes) -> None:
        await self.recorder.input(data)

    async def resize(self, cols: int, rows: int) -> None:
        await self.recorder.resize(cols, rows)

    async def marker(self, kind: str, details: dict[str, Any]) -> None:
        await self.recorder.marker(kind, **details)

    async def close(self, reason: str) -> None:
        await self.recorder.close(reason)


class SessionRecordings:
    failure_types = (RecordingFailed, BudgetExceeded)

    def __init__(self, service: ProxyService) -> None:
        self.catalog = RecordingService(service.core)

    async def open(self, owner: ProxyConnection, kind: str, command: str | None,
                   terminal: tuple[str | None, int, int] | None = None) -> ChannelRecording:
        info = None
        if terminal is not None:
            term, width, height = terminal
            info = TerminalInfo(width=width or 80, height=height or 24, term=term,
                                title=f"{owner.technician}@{owner.target_name}")
        recorder = await self.catalog.start(owner.session_id, kind, info)  # type: ignore[arg-type]
        recording = ChannelRecording(recorder)
        grant = owner.grant
        await recording.marker("session", {
            "technician": owner.technician, "target": owner.target_name,
            "account": grant.account if grant else None,
            "grant": grant.grant_id if grant else None, "channel": kind,
            "client_address": owner.peer,
        })
        if command is not None:
            await recording.marker("exec", {"command": command})
        return recording

    def mark_interrupted(self) -> int:
        return len(self.catalog.mark_interrupted())

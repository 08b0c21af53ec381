"""TEMPORARY scratch adapter (in-memory) to exercise the relay until the recording library lands."""

from __future__ import annotations


class _Scratch:
    def __init__(self) -> None:
        self.out = bytearray()

    async def output(self, data: bytes) -> None:
        self.out += data

    async def input(self, data: bytes) -> None:
        pass

    async def resize(self, cols: int, rows: int) -> None:
        pass

    async def marker(self, kind: str, details: dict[str, object]) -> None:
        pass

    async def close(self, reason: str) -> None:
        pass


class SessionRecordings:
    failure_types = (RuntimeError,)

    def __init__(self, service) -> None:  # type: ignore[no-untyped-def]
        self.service = service

    async def open(self, owner, kind, command):  # type: ignore[no-untyped-def]
        return _Scratch()

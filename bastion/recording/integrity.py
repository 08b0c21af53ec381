"""Verifying a recording: the whole chain, every chunk, against what the catalog recorded.

A verification never raises for a bad recording: it returns a :class:`VerifyReport`
naming the first bad chunk and what is wrong there, and how much verified before it.
"""

from __future__ import annotations

from dataclasses import dataclass

from .errors import RecordingCorrupted, RecordingTruncated, StorageError
from .reader import Expected, RecordingReader
from .storage import Storage


@dataclass(frozen=True)
class VerifyReport:
    ok: bool
    chunks: int  # chunks verified good, from the start
    final_hash: str  # the chain hash after the last good chunk
    size_bytes: int  # file bytes up to the end of the last good chunk
    output_bytes: int  # output bytes in the good chunks
    sealed: bool  # the final chunk was found and verified
    bad_chunk: int | None = None
    problem: str | None = None
    notes: tuple[str, ...] = ()
    truncated: bool = False  # the file ends inside a chunk (a cut, or a crash mid-write)

    def describe(self) -> str:
        if self.ok:
            state = "sealed" if self.sealed else "not sealed"
            text = f"ok: {self.chunks} chunks verified, {state}, final hash {self.final_hash}"
        else:
            where = f"first bad chunk: {self.bad_chunk}; " if self.bad_chunk is not None else ""
            text = f"FAILED: {where}{self.problem} ({self.chunks} chunks verified before it)"
        return "; ".join([text, *self.notes])


def verify_file(
    storage: Storage, storage_key: str, data_key: bytes, expected: Expected | None = None
) -> VerifyReport:
    reader = RecordingReader(storage, storage_key, data_key, expected)
    problem: str | None = None
    bad_chunk: int | None = None
    truncated = False
    try:
        for _event in reader.events():
            pass
    except RecordingCorrupted as exc:
        problem, bad_chunk = exc.problem, exc.chunk
        truncated = isinstance(exc, RecordingTruncated)
    except StorageError as exc:
        problem = str(exc)
    progress = reader.progress
    return VerifyReport(
        ok=problem is None,
        chunks=progress.chunks,
        final_hash=progress.final_hash,
        size_bytes=progress.size_bytes,
        output_bytes=progress.output_bytes,
        sealed=progress.sealed,
        bad_chunk=bad_chunk,
        problem=problem,
        notes=tuple(progress.notes),
        truncated=truncated,
    )

"""Recording throughput on binary output, pipelined as the proxy does it:
`.venv/bin/python -m bench.recording_throughput`. Prints MB/s; not a pass/fail test."""

from __future__ import annotations

import asyncio
import os
import tempfile
import time
from pathlib import Path

from bastion.recording import Limits, LocalFolderStorage, RecordingWriter, SessionRecorder

PIECES, PIECE_BYTES = 1600, 32768


async def measure() -> float:
    folder = Path(tempfile.mkdtemp(prefix="bench-recording-"))
    writer = RecordingWriter.create(LocalFolderStorage(folder), "bench", os.urandom(32), None,
                                    chunk_bytes=65536, metadata={})
    recorder = SessionRecorder(writer, limits=Limits(budget_bytes=10**10))
    data = os.urandom(PIECE_BYTES)
    started = time.perf_counter()
    await asyncio.gather(*(recorder.output(data) for _ in range(PIECES)))
    await recorder.close("benchmark")
    return PIECES * PIECE_BYTES / (time.perf_counter() - started) / 1e6


if __name__ == "__main__":
    print(f"{asyncio.run(measure()):.1f} MB/s of random output recorded (pipelined 32 KiB pieces)")

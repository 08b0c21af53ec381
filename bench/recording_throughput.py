"""Recording cost seen from the process that records, pipelined as the proxy does it:
``.venv/bin/python -m bench.recording_throughput``. Not a pass/fail test.

Two ways, one after the other on the same data: the recording written in this process's
threads (a one-process node), and written by a recorder process (a proxy worker,
recorder_link.py). For each: MB/s of random output recorded in 32 KiB pieces, 8 in flight,
and the CPU this process spent per MB (what is taken from SSH in a proxy worker, whose GIL
it shares); then 200 recordings each sent one keystroke-sized event at a time, and this
process's CPU per event (the event loop's hand-off cost, the concurrency benchmark's
bottleneck).
"""

from __future__ import annotations

import asyncio
import os
import tempfile
import time
from pathlib import Path
from typing import Any

from bastion.config import load_settings
from bastion.recording import Limits, LocalFolderStorage, RecordingWriter, SessionRecorder
from bastion.recording.recorder_link import RecorderLink

PIECES, PIECE_BYTES, IN_FLIGHT = 1600, 32768, 8
RECORDERS, EVENTS_EACH = 200, 50


async def _recorders(link: RecorderLink | None, folder: Path, count: int) -> list[SessionRecorder]:
    storage = LocalFolderStorage(folder)

    def create(n: int) -> Any:
        make = link.create_writer if link is not None else RecordingWriter.create
        return make(storage, f"bench-{n}-{time.monotonic_ns()}.rec", os.urandom(32), None,
                    chunk_bytes=65536, metadata={})

    writers = [await asyncio.to_thread(create, n) for n in range(count)]
    return [SessionRecorder(writer, limits=Limits(budget_bytes=10**11)) for writer in writers]


async def _bulk(recorder: SessionRecorder) -> tuple[float, float]:
    data = os.urandom(PIECE_BYTES)
    cpu, wall = time.process_time(), time.perf_counter()
    for _ in range(PIECES // IN_FLIGHT):
        await asyncio.gather(*(recorder.output(data) for _ in range(IN_FLIGHT)))
    wall, cpu = time.perf_counter() - wall, time.process_time() - cpu
    await recorder.close("benchmark")
    megabytes = PIECES * PIECE_BYTES / 1e6
    return megabytes / wall, cpu / megabytes


async def _small(recorders: list[SessionRecorder]) -> float:
    cpu = time.process_time()
    for _ in range(EVENTS_EACH):
        await asyncio.gather(*(recorder.output(b"x") for recorder in recorders))
    cpu = time.process_time() - cpu
    for recorder in recorders:
        await recorder.close("benchmark")
    return cpu / (EVENTS_EACH * len(recorders))


async def measure() -> dict[str, dict[str, float]]:
    folder = Path(tempfile.mkdtemp(prefix="bench-recording-"))
    settings = load_settings(None, env={"BASTION_PATHS__VAR_DIR": str(folder)})
    results = {}
    for name in ("in-process threads", "recorder process"):
        link = RecorderLink(settings) if name == "recorder process" else None
        if link is not None:
            await link.start()
        try:
            (bulk,) = await _recorders(link, settings.recordings_dir, 1)
            mb_s, cpu_per_mb = await _bulk(bulk)
            per_event = await _small(await _recorders(link, settings.recordings_dir, RECORDERS))
        finally:
            if link is not None:
                await link.stop()
        results[name] = {"mb_s": round(mb_s, 1), "cpu_ms_per_mb": round(cpu_per_mb * 1000, 2),
                         "cpu_us_per_small_event": round(per_event * 1e6, 1)}
    return results


if __name__ == "__main__":
    for way, figures in asyncio.run(measure()).items():
        print(f"{way}: {figures['mb_s']} MB/s of random output recorded; this process's CPU "
              f"{figures['cpu_ms_per_mb']} ms per MB, {figures['cpu_us_per_small_event']} us "
              "per keystroke-sized event")

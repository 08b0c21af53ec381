"""Benchmark 8: the node's memory during output floods (issue 15).

``N`` technicians each run ``head -c SIZE /dev/urandom`` through the bastion at once (an
exec channel: every byte recorded before it is forwarded; random bytes, so nothing
compresses). The node's RSS is sampled every 50 ms from /proc: the peak during the
floods, against the RSS before, and the RSS once the next housekeeping round has handed
freed memory back. Once with 1 flood, once with 10 (smaller ones: 2 shared cores).
"""

from __future__ import annotations

import os
import subprocess
import threading
import time
from typing import Any

from .measure import rss_by_process, rss_bytes, wait_quiet
from .world import World

MIB = 1024 * 1024


class _PeakRss:
    """RSS of ``pid`` and its descendants sampled on a thread until stopped; keeps the
    highest total, and each process's own highest (which process grew)."""

    def __init__(self, pid: int, every: float = 0.05) -> None:
        self.pid, self.every = pid, every
        self.before = rss_by_process(pid)
        self.peak = sum(rss for _, rss in self.before.values())
        self.peaks = {member: rss for member, (_, rss) in self.before.items()}
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._sample, daemon=True)

    def _sample(self) -> None:
        while not self._stop.wait(self.every):
            now = rss_by_process(self.pid)
            self.peak = max(self.peak, sum(rss for _, rss in now.values()))
            for member, (_, rss) in now.items():
                self.peaks[member] = max(self.peaks.get(member, 0), rss)

    def added_by_process_mib(self) -> dict[str, float]:
        """Each process's peak less its RSS before, where it grew by 1 MiB or more."""
        added = {}
        for member, peak in self.peaks.items():
            role, before = self.before.get(member, ("new", 0))
            if peak - before >= MIB:
                added[f"{role} {member}"] = round((peak - before) / MIB, 1)
        return added

    def __enter__(self) -> _PeakRss:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()


def _flood(world: World, count: int, size_mb: int) -> dict[str, Any]:
    pid = world.bastion.pid
    wait_quiet(pid)
    before = rss_bytes(pid)
    argv = world.client.ssh_argv(world.user, "127.0.0.1", world.bastion.ssh_port,
                                 f"head -c {size_mb * MIB} /dev/urandom")
    started = time.perf_counter()
    with _PeakRss(pid) as peak, open(os.devnull, "wb") as sink:
        floods = [subprocess.Popen(argv, stdout=sink, stderr=subprocess.PIPE) for _ in range(count)]
        codes = [flood.wait(1800) for flood in floods]
    seconds = time.perf_counter() - started
    if any(codes):
        errors = [f.stderr.read().decode()[-300:] for f in floods if f.returncode]  # type: ignore[union-attr]
        raise RuntimeError(f"{sum(1 for c in codes if c)} of {count} floods failed: {errors[0]}")
    wait_quiet(pid)
    time.sleep(35)  # one housekeeping round (30 s) hands freed memory back
    after = rss_bytes(pid)
    return {"floods": count, "size_mb": size_mb, "seconds": round(seconds, 1),
            "rss_before_mib": round(before / MIB, 1), "rss_peak_mib": round(peak.peak / MIB, 1),
            "rss_added_peak_mib": round((peak.peak - before) / MIB, 1),
            "rss_added_peak_by_process_mib": peak.added_by_process_mib(),
            "rss_after_housekeeping_mib": round(after / MIB, 1)}


def run(world: World, size_mb: int, ten_size_mb: int) -> dict[str, Any]:
    return {"one": _flood(world, 1, size_mb), "ten": _flood(world, 10, ten_size_mb)}

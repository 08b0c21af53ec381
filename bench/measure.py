"""Small measuring tools: percentiles, wall-clock timing, a process's memory and CPU from
/proc (Linux), and a py-spy profile of a running process."""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import time
from collections import Counter
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

CLOCK_TICKS = os.sysconf("SC_CLK_TCK")


def percentile(values: list[float], fraction: float) -> float:
    """Nearest-rank percentile (no interpolation: a reported p99 is a measured value)."""
    if not values:
        return float("nan")
    ordered = sorted(values)
    rank = max(0, min(len(ordered) - 1, int(round(fraction * len(ordered) + 0.5)) - 1))
    return ordered[rank]


def summary_ms(seconds: list[float]) -> dict[str, float]:
    return {"n": len(seconds), "p50_ms": round(percentile(seconds, 0.50) * 1000, 3),
            "p90_ms": round(percentile(seconds, 0.90) * 1000, 3),
            "p99_ms": round(percentile(seconds, 0.99) * 1000, 3),
            "max_ms": round(max(seconds) * 1000, 3) if seconds else float("nan")}


def timed(function: Callable[[], Any]) -> float:
    start = time.perf_counter()
    function()
    return time.perf_counter() - start


def _stat(process: Path) -> tuple[str, list[str]]:
    """``/proc/PID/stat``: the command's name, and the fields after it (state [0], parent
    [1], minor faults [7], user [11] and system [12] time, children's [13] and [14]). The
    name may hold spaces and parentheses: it ends at the last ')'."""
    head, _, tail = (process / "stat").read_text().rpartition(")")
    return head.partition("(")[2], tail.split()


def _processes() -> Iterator[tuple[int, str, list[str]]]:
    """Every process now: its pid, command name and stat fields (see :func:`_stat`); one
    that ends while being read is left out."""
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            command, fields = _stat(entry)
        except OSError:
            continue
        yield int(entry.name), command, fields


def process_tree(pid: int) -> list[int]:
    """``pid`` and its live descendants: a node is a supervisor, its proxy workers, their
    recorder processes and a console process."""
    children: dict[int, list[int]] = {}
    for member, _, fields in _processes():
        try:
            parent = int(fields[1])
        except (IndexError, ValueError):
            continue
        children.setdefault(parent, []).append(member)
    found, todo = [], [pid]
    while todo:
        current = todo.pop()
        found.append(current)
        todo.extend(children.get(current, []))
    return found


def rss_bytes(pid: int) -> int:
    """Resident memory of ``pid`` and its descendants (VmRSS summed; pages shared after a
    fork count twice, which differences between two readings cancel)."""
    total = sum(rss for _, rss in rss_by_process(pid).values())
    if total == 0:
        raise RuntimeError(f"no VmRSS for process {pid}")
    return total


def rss_by_process(pid: int) -> dict[int, tuple[str, int]]:
    """pid -> (its role, VmRSS in bytes) for ``pid`` and its descendants."""
    found = {}
    for member in process_tree(pid):
        try:
            lines = Path(f"/proc/{member}/status").read_text().splitlines()
            argv = Path(f"/proc/{member}/cmdline").read_bytes().decode(errors="replace").split("\0")
        except OSError:
            continue  # it ended meanwhile
        found[member] = (_role(argv), next((int(line.split()[1]) * 1024 for line in lines
                                            if line.startswith("VmRSS:")), 0))
    return found


def cpu_seconds(pid: int) -> float:
    """User + system CPU time ``pid`` and its descendants have used so far (all threads;
    a descendant that ended counts in its parent's reaped-children times)."""
    total = 0
    for member in process_tree(pid):
        try:
            _, fields = _stat(Path(f"/proc/{member}"))
        except OSError:
            continue
        total += int(fields[11]) + int(fields[12]) + int(fields[13]) + int(fields[14])
    return total / CLOCK_TICKS


def cpu_by_process(pid: int) -> dict[int, tuple[str, float]]:
    """pid -> (its role, CPU seconds so far) for the node's tree: where the CPU went."""
    return {member: (role, cpu) for member, (role, cpu, _, _) in spent_by_process(pid).items()}


def spent_by_process(pid: int) -> dict[int, tuple[str, float, float, int]]:
    """pid -> (its role, CPU seconds so far, of which system, minor page faults)."""
    found = {}
    for member in process_tree(pid):
        try:
            _, fields = _stat(Path(f"/proc/{member}"))
            argv = Path(f"/proc/{member}/cmdline").read_bytes().decode(errors="replace").split("\0")
        except OSError:
            continue
        user, system = int(fields[11]) / CLOCK_TICKS, int(fields[12]) / CLOCK_TICKS
        found[member] = (_role(argv), user + system, system, int(fields[7]))
    return found


def _role(argv: list[str]) -> str:
    if "bastion.recording.recorder_process" in argv:
        return "recorder"
    if "--role" in argv:
        return argv[argv.index("--role") + 1]
    return "supervisor" if "serve" in argv else Path(argv[0]).name


def machine_busy(seconds: float = 2.0) -> tuple[float, list[str]]:
    """Cores the whole machine kept busy over ``seconds``, and the busiest processes then
    (command lines, most CPU first): anything else running skews every figure."""
    def busy_and_total() -> tuple[int, int]:
        fields = [int(v) for v in Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:]]
        idle = fields[3] + fields[4]  # idle + iowait
        return sum(fields[:8]) - idle, sum(fields[:8])

    def per_process() -> dict[int, tuple[int, str]]:
        found = {}
        for member, command, fields in _processes():
            try:
                argv = Path(f"/proc/{member}/cmdline").read_bytes().replace(b"\0", b" ")
            except OSError:
                continue
            name = argv.decode(errors="replace").strip()[:100] or f"[{command}]"  # kernel threads have none
            found[member] = (int(fields[11]) + int(fields[12]), name)
        return found

    cores = os.cpu_count() or 1
    busy_before, total_before = busy_and_total()
    before = per_process()
    time.sleep(seconds)
    busy_after, total_after = busy_and_total()
    after = per_process()
    share = (busy_after - busy_before) / max(1, total_after - total_before)
    spent = sorted(((ticks - before[pid][0], argv) for pid, (ticks, argv) in after.items()
                    if pid in before and pid != os.getpid() and ticks > before[pid][0]),
                   reverse=True)
    return share * cores, [argv for _, argv in spent[:3]]


def wait_quiet(pid: int, *, below: float = 0.05, window: float = 0.5, timeout: float = 120) -> float:
    """Wait until ``pid`` uses less than ``below`` of a core over ``window`` seconds: the
    bastion seals and indexes a recording after the client has gone (re-reading it all),
    and that work must not be counted in the next measurement. Returns the time waited."""
    started = time.perf_counter()
    while time.perf_counter() - started < timeout:
        before = cpu_seconds(pid)
        time.sleep(window)
        if cpu_seconds(pid) - before < below * window:
            break
    return time.perf_counter() - started


@dataclass
class CpuWindow:
    cpu: float = 0.0
    wall: float = 0.0

    @property
    def cores(self) -> float:
        """Average number of cores busy (1.0 = one core at 100 %)."""
        return self.cpu / self.wall if self.wall else 0.0


@contextmanager
def cpu_window(pid: int) -> Iterator[CpuWindow]:
    window = CpuWindow()
    cpu, wall = cpu_seconds(pid), time.perf_counter()
    yield window
    window.cpu, window.wall = cpu_seconds(pid) - cpu, time.perf_counter() - wall


class Profile:
    """py-spy sampling ``pid`` while the block runs: collapsed stacks, summarised as the
    share of samples per function (self) and per module (anywhere in the stack)."""

    def __init__(self, pid: int, out: Path, rate: int = 200) -> None:
        self.pid, self.out, self.rate = pid, out, rate
        self.process: subprocess.Popen[bytes] | None = None

    @staticmethod
    def available() -> bool:
        return _py_spy() is not None

    def __enter__(self) -> Profile:
        spy = _py_spy()
        if spy is not None:
            self.out.parent.mkdir(parents=True, exist_ok=True)
            # --subprocesses: the node's workers and their recorder processes, each stack
            # under its process (summary()'s "processes").
            self.process = subprocess.Popen(
                [spy, "record", "--pid", str(self.pid), "--rate", str(self.rate), "--format", "raw",
                 "--output", str(self.out), "--threads", "--nonblocking", "--subprocesses"],
                stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
            time.sleep(0.5)
        return self

    def __exit__(self, *exc: object) -> None:
        if self.process is not None:
            self.process.send_signal(signal.SIGINT)  # py-spy writes its file on SIGINT
            try:
                self.process.wait(30)
            except subprocess.TimeoutExpired:
                self.process.kill()

    def stacks(self) -> Counter[str]:
        counts: Counter[str] = Counter()
        if not self.out.exists():
            return counts
        for line in self.out.read_text(errors="replace").splitlines():
            stack, _, count = line.rpartition(" ")
            if count.isdigit():
                counts[stack] += int(count)
        return counts

    def summary(self, top: int = 12) -> dict[str, Any]:
        stacks = self.stacks()
        total = sum(stacks.values())
        own: Counter[str] = Counter()
        modules: Counter[str] = Counter()
        processes: Counter[str] = Counter()
        for stack, count in stacks.items():
            frames = [frame for frame in stack.split(";") if frame]
            if not frames:
                continue
            # Nested: 'process <supervisor>;process <worker>;process <recorder>;thread ...'
            owners = [frame for frame in frames if frame.startswith("process ")]
            if owners:
                processes[_process_role(owners[-1])] += count
            own[_short(frames[-1])] += count
            for module in {_module(frame) for frame in frames}:
                modules[module] += count
        share = (lambda n: round(100 * n / total, 1)) if total else (lambda n: 0.0)
        return {"samples": total,
                "self_percent": {name: share(n) for name, n in own.most_common(top)},
                "inclusive_percent": {name: share(n) for name, n in modules.most_common(top)},
                "processes_percent": {name: share(n) for name, n in processes.most_common()}}


def _process_role(frame: str) -> str:
    """py-spy's 'process 123:"python -m bastion ... --role proxy ..."' -> 'proxy 123'."""
    number, _, command = frame.removeprefix("process ").partition(":")
    role = _role(command.strip('"').split())
    return f"{role} {number}"


def _py_spy() -> str | None:
    found = shutil.which("py-spy") or str(Path(sys.executable).parent / "py-spy")
    return found if os.access(found, os.X_OK) else None


def _short(frame: str) -> str:
    """'function (path/to/module.py:12)' -> 'function (module.py)'."""
    name, _, where = frame.partition(" (")
    return f"{name} ({Path(where.split(':')[0]).name})" if where else name


def _module(frame: str) -> str:
    where = frame.partition(" (")[2].split(":")[0]
    for marker in ("bastion/", "asyncssh/", "sqlalchemy/", "cryptography/", "asyncio/", "psycopg/"):
        if marker in where:
            rest = where.split(marker, 1)[1]
            return marker + rest.split("/")[0].removesuffix(".py")
    return Path(where).name or "?"

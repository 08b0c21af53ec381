"""``python -m bench.per_process [MODE ...] [--size-mb N] [--runs N]``: one bulk transfer at a
time through the bastion and direct, alternately, with what each node process spent on it:
CPU seconds, of which system time, and page faults (``/proc/PID/stat``).

Wall times on a shared 2-core VM swing by 2x within the hour; a process's CPU time and its
page faults do not, so a change to the per-byte path is judged here first, then in
``python -m bench``. MODE: ``cat`` (exec cat, the recorded path), ``down`` / ``up`` (scp).
"""

from __future__ import annotations

import argparse

from .measure import spent_by_process, timed, wait_quiet
from .throughput import MIB, _write_random, transfer
from .world import build

MODES = {"cat": "exec cat", "down": "scp download", "up": "scp upload"}


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.per_process")
    parser.add_argument("modes", nargs="*", choices=list(MODES), default=list(MODES))
    parser.add_argument("--size-mb", type=int, default=300)
    parser.add_argument("--runs", type=int, default=3)
    args = parser.parse_args()
    world = build(False)
    try:
        name = "per-process.bin"
        _write_random(world.target.home / name, args.size_mb * MIB)
        upload = world.workdir / "upload.bin"
        _write_random(upload, args.size_mb * MIB)
        pid = world.bastion.pid
        for mode in args.modes:
            label = MODES[mode]
            for run in range(1, args.runs + 1):
                direct = timed(lambda m=label: transfer(world, m, "direct", name, upload))
                wait_quiet(pid)
                before = spent_by_process(pid)
                through = timed(lambda m=label: transfer(world, m, "bastion", name, upload))
                after = spent_by_process(pid)
                # Keyed by role and pid: a node has two workers and two recorders.
                spent = {f"{after[p][0]} {p}": (round(after[p][1] - before[p][1], 2),
                                                round(after[p][2] - before[p][2], 2),
                                                after[p][3] - before[p][3])
                         for p in after if p in before and after[p][1] - before[p][1] > 0.05}
                shown = ", ".join(f"{who} {cpu} s CPU ({system} s system), {faults} faults"
                                  for who, (cpu, system, faults) in sorted(spent.items()))
                print(f"{mode} {args.size_mb} MB, run {run}: direct {direct:.3f} s, bastion "
                      f"{through:.3f} s (x{through / direct:.2f}); {shown}", flush=True)
                wait_quiet(pid)
    finally:
        world.close()


if __name__ == "__main__":
    main()

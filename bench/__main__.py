"""``python -m bench [--quick] [--only NAME,...]``: every benchmark, the bastion beside
direct OpenSSH on loopback, results in bench/results.json and docs/benchmarks.md.

Never part of the pass/fail tests: timings depend on the machine and on what else runs.
The full run takes about 15 minutes on 2 cores; ``--quick`` scales sizes down (a minute
or two) to check that everything still runs.
"""

from __future__ import annotations

import argparse
import json
import logging
import platform
import signal
import subprocess
import sys
import traceback
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import asyncssh

from . import (
    concurrency,
    console,
    floods,
    keystrokes,
    recording_cost,
    report,
    revocation,
    setup_time,
    throughput,
    typed_commands,
)
from .measure import machine_busy
from .world import build

ROOT = Path(__file__).resolve().parents[1]
# Above this (of a core) before the run starts, something else is running: say so.
QUIET_CORES = 0.25
ORDER = ["setup", "keystrokes", "typed", "throughput", "recording", "revocation", "console", "concurrency",
         "floods"]


def sizes(quick: bool) -> dict[str, dict[str, Any]]:
    if quick:
        return {"throughput": {"size_mb": 50, "runs": 1}, "setup": {"count": 5},
                "keystrokes": {"count": 60}, "typed": {"count": 120},
                "concurrency": {"count": 100, "seconds": 8},
                "recording": {"size_mb": 5, "keys": 40}, "revocation": {"count": 2},
                "console": {"sessions": 2000, "commands": 100_000, "repeat": 5},
                "floods": {"size_mb": 50, "ten_size_mb": 10}}
    return {"throughput": {"size_mb": 300, "runs": 4}, "setup": {"count": 20},
            "keystrokes": {"count": 1000}, "typed": {"count": 1000},
            "concurrency": {"count": 1000, "seconds": 30},
            "recording": {"size_mb": 20, "keys": 200}, "revocation": {"count": 10},
            "console": {"sessions": 10_000, "commands": 1_000_000, "repeat": 20},
            "floods": {"size_mb": 300, "ten_size_mb": 100}}


def machine() -> dict[str, Any]:
    model = next((line.split(":", 1)[1].strip() for line in Path("/proc/cpuinfo").read_text().splitlines()
                  if line.startswith("model name")), platform.processor())
    cores = len([line for line in Path("/proc/cpuinfo").read_text().splitlines()
                 if line.startswith("processor")])
    ssh = subprocess.run(["ssh", "-V"], capture_output=True, text=True).stderr.strip()
    return {"date": datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC"), "cpu": model, "cores": cores,
            "python": platform.python_version(), "openssh": ssh, "asyncssh": asyncssh.__version__,
            "summary": f"{cores} x {model}, Python {platform.python_version()}, {ssh.split(',')[0]}, "
                       f"asyncssh {asyncssh.__version__}, PostgreSQL 15 on loopback"}


def _load_average() -> float:
    return float(Path("/proc/loadavg").read_text().split()[0])


def main() -> int:
    parser = argparse.ArgumentParser(prog="python -m bench", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true", help="scaled-down sizes (a minute or two)")
    parser.add_argument("--only", help=f"comma-separated subset of {','.join(ORDER)}")
    parser.add_argument("--results", type=Path, default=ROOT / "bench" / "results.json")
    parser.add_argument("--doc", type=Path, default=ROOT / "docs" / "benchmarks.md")
    parser.add_argument("--bastion-setting", action="append", default=[], metavar="KEY=VALUE",
                        help="a BASTION_SECTION__KEY=value setting for the node under test, "
                             "to compare configurations (e.g. "
                             "BASTION_RECORDING__RECORDER_PROCESS=false)")
    arguments = parser.parse_args()
    bastion_env = dict(setting.split("=", 1) for setting in arguments.bastion_setting)
    chosen = arguments.only.split(",") if arguments.only else ORDER
    unknown = set(chosen) - set(ORDER)
    if unknown:
        parser.error(f"unknown benchmark(s): {', '.join(sorted(unknown))}")
    logging.basicConfig(level=logging.WARNING)
    # A stopped run (Ctrl-C, kill, timeout) still stops its node, sshd and PostgreSQL:
    # left running, they would weigh on every later run.
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    busy, busiest = machine_busy()
    if busy > QUIET_CORES:
        print(f"warning: the machine is already busy ({busy:.2f} core: {'; '.join(busiest)}); "
              "the figures will be skewed, stop what runs first", flush=True)
    size = sizes(arguments.quick)
    profiles = ROOT / "bench" / "profiles"
    results: dict[str, Any] = {"quick": arguments.quick, "machine": machine(), "sizes": size,
                               "bastion_settings": bastion_env, "benchmarks": {}}
    if arguments.only and arguments.results.exists():
        # A partial run updates the benchmarks it ran and keeps the others' last figures.
        previous = json.loads(arguments.results.read_text())
        if previous.get("quick") == arguments.quick:
            results["benchmarks"] = previous.get("benchmarks", {})
    print(f"building the bench world ({results['machine']['summary']})", flush=True)
    world = build(arguments.quick, bastion_env=bastion_env)
    runners = {
        "setup": lambda: setup_time.run(world, **size["setup"]),
        "keystrokes": lambda: keystrokes.run(world, **size["keystrokes"]),
        "typed": lambda: typed_commands.run(world, **size["typed"]),
        "throughput": lambda: throughput.run(world, **size["throughput"], profile_dir=profiles),
        "recording": lambda: recording_cost.run(world, **size["recording"]),
        "revocation": lambda: revocation.run(world, **size["revocation"]),
        "console": lambda: console.run(world, **size["console"]),
        "concurrency": lambda: concurrency.run(world, **size["concurrency"], profile_dir=profiles),
        "floods": lambda: floods.run(world, **size["floods"]),
    }
    failed = False
    try:
        for name in [n for n in ORDER if n in chosen]:
            print(f"running {name} ...", flush=True)
            started = datetime.now(UTC)
            load_before = _load_average()
            try:
                results["benchmarks"][name] = runners[name]()
            except Exception as exc:  # noqa: BLE001 - one failed benchmark must not lose the rest
                failed = True
                traceback.print_exc()
                results["benchmarks"][name] = {"error": f"{type(exc).__name__}: {exc}"}
            seconds = (datetime.now(UTC) - started).total_seconds()
            # What else ran on the machine meanwhile: a loaded machine skews the figures.
            results["benchmarks"][name]["load_average"] = {"before": load_before,
                                                           "after": _load_average()}
            results["benchmarks"][name]["duration_s"] = round(seconds)
            print(f"  {name}: {seconds:.0f} s", flush=True)
            report.write(results, arguments.results, arguments.doc)
    finally:
        world.close()
    print(report.table(results))
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())

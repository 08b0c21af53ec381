"""``python -m bench.side_by_side OTHER_TREE [MODE ...] [--size-mb N] [--runs N]``: two nodes
alive side by side, one running this checkout's code and one running OTHER_TREE's (a
checkout of another revision, e.g. ``git worktree add /tmp/before HEAD~3``), each against
its own target, the same bulk transfer through each in turn (the order alternating per
run), with each node's CPU per process from ``/proc``.

Judging a change to the per-byte path by wall times or even CPU seconds in runs minutes
apart is hopeless on a shared 2-core VM (the same code's CPU for one transfer moves by a
third within the hour); alternating the two codes run by run puts them under the same
disturbance. OTHER_TREE must have the same database schema as this checkout (the world is
prepared by this one). MODE: ``cat`` (exec cat), ``down`` / ``up`` (scp), as in
``bench.per_process``.
"""

from __future__ import annotations

import argparse
import statistics
from pathlib import Path

from .measure import spent_by_process, timed, wait_quiet
from .per_process import MODES
from .throughput import MIB, _write_random, transfer
from .world import World, build


def _one(world: World, label: str, name: str, upload: Path) -> tuple[float, float, dict[str, float]]:
    """(ratio to direct, node CPU seconds, CPU by role) of one transfer."""
    pid = world.bastion.pid
    direct = timed(lambda: transfer(world, label, "direct", name, upload))
    wait_quiet(pid)
    before = spent_by_process(pid)
    through = timed(lambda: transfer(world, label, "bastion", name, upload))
    after = spent_by_process(pid)
    by_role: dict[str, float] = {}
    for p in after:
        if p in before and after[p][1] - before[p][1] > 0.05:
            role = after[p][0]
            by_role[role] = round(by_role.get(role, 0.0) + after[p][1] - before[p][1], 2)
    wait_quiet(pid)
    return through / direct, sum(by_role.values()), by_role


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.side_by_side")
    parser.add_argument("other_tree", type=Path, help="a checkout of the revision to compare with")
    parser.add_argument("modes", nargs="*", choices=list(MODES), default=list(MODES))
    parser.add_argument("--size-mb", type=int, default=300)
    parser.add_argument("--runs", type=int, default=4)
    args = parser.parse_args()
    other = args.other_tree.resolve()
    if not (other / "bastion" / "__init__.py").exists():
        parser.error(f"{other} is not a checkout of this project")
    worlds = {"this": build(False), "other": build(False, bastion_env={"PYTHONPATH": str(other)})}
    name = "side-by-side.bin"
    try:
        for world in worlds.values():
            _write_random(world.target.home / name, args.size_mb * MIB)
            _write_random(world.workdir / "upload.bin", args.size_mb * MIB)
        for mode in args.modes:
            label = MODES[mode]
            seen: dict[str, list[tuple[float, float]]] = {"this": [], "other": []}
            for run in range(args.runs):
                order = ["this", "other"] if run % 2 == 0 else ["other", "this"]
                for code in order:
                    world = worlds[code]
                    ratio, cpu, by_role = _one(world, label, name, world.workdir / "upload.bin")
                    seen[code].append((ratio, cpu))
                    print(f"{mode} run {run + 1}, {code}: x{ratio:.2f}, node CPU {cpu:.2f} s {by_role}",
                          flush=True)
            for code, values in seen.items():
                ratios, cpus = [v[0] for v in values], [v[1] for v in values]
                print(f"{mode}, {code}: ratio median x{statistics.median(ratios):.2f} (best "
                      f"x{min(ratios):.2f}); node CPU median {statistics.median(cpus):.2f} s "
                      f"(least {min(cpus):.2f} s)", flush=True)
    finally:
        for world in worlds.values():
            world.close()


if __name__ == "__main__":
    main()

"""Benchmark 8: what live command tracking adds to a key's echo.

On a terminal whose grant has command rules, the bastion follows the screen (pyte) and the
keys typed, and checks the line at each Enter. Measured two ways:

- key echo, as in benchmark 3 (same typing, same asyncssh client, an interactive bash),
  straight to sshd, through the bastion with a grant without command rules, and with the
  contract's command rules: in alternating rounds so the three share the machine's
  disturbance. The target is p99 <= +2 ms over direct OpenSSH with the tracking on.
- the tracking's own CPU time on the event loop, in this process: one key then its echo
  fed to the live line reader (the proxy's path), and the check of a line at Enter.
"""

from __future__ import annotations

import asyncio
import time
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from bastion.contracts import Constraints, check_command
from bastion.models import Grant, Technician
from bastion.recording.terminal_lines import LiveLine

from .keystrokes import _session
from .measure import summary_ms, wait_quiet
from .recording_cost import log_text
from .world import TECHNICIAN, World

RULES = [{"pattern": r"\bpg_dump(all)?\b", "action": "deny", "case_sensitive": False,
          "reason": "dumping the database is forbidden"},
         {"pattern": r"\b(psql|mysql)\b", "action": "deny", "case_sensitive": False,
          "reason": "database shells are not part of this maintenance"},
         {"pattern": r"\bsudo\b", "action": "flag", "case_sensitive": False,
          "reason": "privileged commands are reviewed"}]
ROUNDS = 3


def _grants(session: Session) -> list[Grant]:
    return list(session.scalars(select(Grant).join(Technician, Technician.id == Grant.technician_id)
                                .where(Technician.ident == TECHNICIAN)))


def _set_rules(world: World, rules: list[dict[str, Any]]) -> Constraints:
    """The technician's grants get these command rules (read by the bastion at login)."""
    with world.core.db.session() as s:
        for grant in _grants(s):
            grant.scope = {**grant.scope, "command_rules": rules}
        return Constraints.from_dict(grant.scope)


def _loop_cost(constraints: Constraints, keys: int) -> dict[str, Any]:
    """The proxy's per-key work: one key through the live line reader, then its echo; a
    check at each Enter (every 40 keys), with the rules above."""
    live = LiveLine(200, 50)
    live.output(b"maint@dpi-app-01:~$ ")
    per_key, per_enter = [], []
    for n in range(keys):
        key = b"abcdefghijklmnopqrstuvwxyz "[n % 27:n % 27 + 1]
        started = time.perf_counter()
        live.keys(key)
        live.output(key)
        per_key.append(time.perf_counter() - started)
        if n % 40 == 39:
            started = time.perf_counter()
            for _, entered in live.keys(b"\r"):
                for reading in entered.readings if entered is not None else ():
                    check_command(constraints, reading)
            per_enter.append(time.perf_counter() - started)
            live.output(b"\r\nmaint@dpi-app-01:~$ ")
    # The worst single key: the first after an output flood (1 MiB of log lines), when the
    # end of the flood is emulated.
    after_flood = []
    flood = log_text(1 << 20)
    for _ in range(5):
        for start in range(0, len(flood), 65536):
            live.output(flood[start:start + 65536])
        started = time.perf_counter()
        live.keys(b"a")
        after_flood.append(time.perf_counter() - started)
    return {"per_key_us": _in_us(per_key), "per_enter_us": _in_us(per_enter),
            "first_key_after_1mib_flood_ms": summary_ms(after_flood)}


def _in_us(seconds: list[float]) -> dict[str, float]:
    # summary_ms reports its input x 1000: given milliseconds, it reports microseconds.
    return {name.replace("_ms", "_us"): value
            for name, value in summary_ms([s * 1000 for s in seconds]).items()}


def run(world: World, count: int) -> dict[str, Any]:
    key = str(world.client.key_path)
    per_round = max(40, count // ROUNDS)
    runs: dict[str, list[float]] = {"direct": [], "bastion": [], "bastion_tracking": []}
    try:
        for _ in range(ROUNDS):
            # The bastion seals and indexes a session after it ends: not during the next
            # one (as in benchmark 3; the tracked turn followed the plain one at once).
            wait_quiet(world.bastion.pid)
            runs["direct"] += asyncio.run(_session(world.target.port, world.target.account, key,
                                                   per_round))
            _set_rules(world, [])
            wait_quiet(world.bastion.pid)
            runs["bastion"] += asyncio.run(_session(world.bastion.ssh_port, world.user, key,
                                                    per_round))
            constraints = _set_rules(world, RULES)
            wait_quiet(world.bastion.pid)
            runs["bastion_tracking"] += asyncio.run(_session(world.bastion.ssh_port, world.user,
                                                             key, per_round))
    finally:
        _set_rules(world, [])
    direct, plain, tracked = (summary_ms(runs[name]) for name in runs)
    return {"keys": len(runs["direct"]), "direct": direct, "bastion": plain,
            "bastion_tracking": tracked,
            "added_p50_ms": round(tracked["p50_ms"] - direct["p50_ms"], 3),
            "added_p99_ms": round(tracked["p99_ms"] - direct["p99_ms"], 3),
            "tracking_p99_ms": round(tracked["p99_ms"] - plain["p99_ms"], 3),
            "loop": _loop_cost(constraints, count * 10)}

"""Benchmark 7: how fast a termination or a revocation asked on one node closes a session
served by another node (the design says within 2 seconds; the nodes' watchdogs poll the
shared database every second). Two ``bastion serve`` nodes on the bench's PostgreSQL; the
time is from the API call on node A to the technician's ssh process ending on node B.
"""

from __future__ import annotations

import subprocess
import time
from typing import Any

from sqlalchemy import select

from bastion.api_tokens import create_token
from bastion.audit import Actor
from bastion.models import SshSession
from bastion.staff import add_staff
from tests.production.cluster import base_environment, grant, node

from .measure import summary_ms
from .world import TARGET, TECHNICIAN, World

SETUP = Actor("bench:setup", "admin")


def _live(world: World) -> set[int]:
    with world.core.db.session() as s:
        return set(s.scalars(select(SshSession.id).where(SshSession.status == "live")))


def _open(world: World, port: int) -> tuple[subprocess.Popen[bytes], int]:
    before = _live(world)
    process = subprocess.Popen(world.client.ssh_argv(world.user, "127.0.0.1", port, "sleep 600"),
                               stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        if new := _live(world) - before:
            return process, new.pop()
        time.sleep(0.02)
    process.kill()
    raise RuntimeError("the session did not open on node B")


def run(world: World, count: int) -> dict[str, Any]:
    with world.core.db.session() as s:
        add_staff(s, world.core.audit, username="approver", full_name="Approver",
                  roles=["approver"], password=None, actor=SETUP)
    token = create_token(world.core, name="bench", staff_username="approver", actor=SETUP)[1]
    env = base_environment(world.core.settings.var_dir, world.database_url)
    a = node("bench-node-a", env, world.workdir).start()
    b = node("bench-node-b", env, world.workdir).start()
    for each in (a, b):
        world.client.trust("127.0.0.1", each.ssh_port, world.host_key_line)
    seconds: dict[str, list[float]] = {"terminate": [], "revoke": []}
    try:
        for n in range(2 * count):
            kind = "terminate" if n % 2 == 0 else "revoke"
            grant(world.core, TECHNICIAN, TARGET, minutes=60)  # one live grant at least
            process, session_id = _open(world, b.ssh_port)
            with world.core.db.session() as s:
                grant_id = s.get(SshSession, session_id).grant_id  # the one the session uses
            time.sleep(0.1 + (n % 10) / 10)  # land anywhere in the watchdog's second
            asked = time.perf_counter()
            if kind == "terminate":
                status, answer = a.api("POST", f"/sessions/{session_id}/terminate", token,
                                       {"reason": "benchmark"})
            else:
                status, answer = a.api("POST", f"/grants/{grant_id}/revoke", token,
                                       {"reason": "benchmark"})
            if status not in (200, 202):
                process.kill()
                raise RuntimeError(f"{kind} on node A: HTTP {status}: {answer}")
            process.wait(30)
            seconds[kind].append(time.perf_counter() - asked)
    finally:
        a.stop()
        b.stop()
    # Revocations may have ended the grant the other benchmarks use: give a fresh one.
    grant(world.core, TECHNICIAN, TARGET, minutes=240)
    return {"closing": {kind: summary_ms(values) for kind, values in seconds.items()}}

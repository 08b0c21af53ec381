"""Everything the benchmarks run against, started once: a throwaway PostgreSQL, a real
OpenSSH sshd target (which also lets the technician's key in directly: the baseline), a
light asyncssh echo target for the concurrency run, and the bastion under test as a real
``bastion serve`` process (its memory and CPU are read from /proc)."""

from __future__ import annotations

import shutil
import subprocess
import sys
import tempfile
import uuid
from contextlib import ExitStack
from dataclasses import dataclass, field
from pathlib import Path

import asyncssh

from bastion.context import Bastion
from tests.harness.clients import OpenSshClient
from tests.harness.ports import free_port, wait_for_port
from tests.harness.postgres import PostgresServer
from tests.harness.sshd import SshdTarget
from tests.production.cluster import (
    Node,
    add_world,
    base_environment,
    contract_yaml,
    grant,
    node,
    prepare_core,
)

TECHNICIAN = "jdupont"
TARGET = "dpi-app-01"
ECHO_TARGET = "echo-01"
# Load technicians for the concurrency run: a contract allows at most 50 live sessions per
# technician, so 1,000 sessions are spread over 25 of them (40 each).
LOAD_TECHNICIANS = 25
SESSIONS_PER_TECHNICIAN = 50


@dataclass
class World:
    workdir: Path
    postgres: PostgresServer
    database_url: str
    core: Bastion
    target: SshdTarget
    client: OpenSshClient
    bastion: Node
    echo: subprocess.Popen[bytes]
    echo_port: int
    load_keys: dict[str, asyncssh.SSHKey]
    host_key_line: str
    extra: dict[str, object] = field(default_factory=dict)

    @property
    def user(self) -> str:
        return f"{TECHNICIAN}+{TARGET}"

    def close(self) -> None:
        self.bastion.stop()
        _stop_echo_target(self.echo)
        self.target.stop()
        self.core.close()
        self.postgres.stop()
        shutil.rmtree(self.workdir, ignore_errors=True)


def _stop_echo_target(echo: subprocess.Popen[bytes]) -> None:
    if echo.poll() is None:
        echo.terminate()
        echo.wait(10)


def start_echo_target(workdir: Path, target_ca_pub: Path,
                      client_keys: list[str]) -> tuple[subprocess.Popen[bytes], int, str]:
    """The light echo target in a process of its own (its CPU is not the bastion's)."""
    host_key = asyncssh.generate_private_key("ssh-ed25519")
    host_key_path = workdir / "echo_host_key"
    host_key.write_private_key(str(host_key_path))
    authorized = workdir / "echo_authorized_keys"
    authorized.write_text(f"cert-authority {target_ca_pub.read_text().strip()}\n"
                          + "".join(f"{line}\n" for line in client_keys))
    port = free_port()
    process = subprocess.Popen([sys.executable, "-m", "bench.echo_target", "--port", str(port),
                                "--host-key", str(host_key_path), "--authorized-keys", str(authorized)])
    wait_for_port(port)
    return process, port, host_key.export_public_key().decode().strip()


def build(quick: bool, *, bastion_env: dict[str, str] | None = None) -> World:
    workdir = Path(tempfile.mkdtemp(prefix="bastion-bench-"))
    # What is started is stopped again if the build fails or is stopped halfway (a
    # SIGTERM, see __main__): a PostgreSQL or an sshd left behind weighs on every later run.
    with ExitStack() as started:
        started.callback(shutil.rmtree, workdir, ignore_errors=True)
        postgres = PostgresServer().start()
        started.callback(postgres.stop)
        url = postgres.create_database(f"bench_{uuid.uuid4().hex[:8]}")
        core = prepare_core(workdir / "var", url, node="bench-setup")
        started.callback(core.close)
        target = SshdTarget(workdir / "sshd", trusted_ca_pub=core.keys.directory / "target_ca.pub")
        started.callback(target.stop)
        target.start()
        client = OpenSshClient(workdir / "client")
        target.authorize(client.public_key)  # the direct-OpenSSH baseline logs in with this key
        load_keys = {f"load{n:02d}": asyncssh.generate_private_key("ssh-ed25519")
                     for n in range(LOAD_TECHNICIANS)}
        load_lines = {ident: key.export_public_key().decode().strip() for ident, key in load_keys.items()}
        echo, echo_port, echo_host_key = start_echo_target(
            workdir, core.keys.directory / "target_ca.pub", list(load_lines.values()))
        started.callback(_stop_echo_target, echo)
        technicians = {TECHNICIAN: client.public_key, **load_lines}
        contract = contract_yaml(technicians, [target.account],
                                 max_concurrent_sessions=SESSIONS_PER_TECHNICIAN)
        add_world(core, target_name=TARGET, host="127.0.0.1", port=target.port,
                  host_key=target.host_key_line, account=target.account, contract=contract,
                  contract_path=workdir / "contract.yaml")
        add_world(core, target_name=ECHO_TARGET, host="127.0.0.1", port=echo_port,
                  host_key=echo_host_key, account=target.account, contract=contract,
                  contract_path=workdir / "contract.yaml")
        grant(core, TECHNICIAN, TARGET, minutes=240)
        for ident in load_keys:
            grant(core, ident, ECHO_TARGET, minutes=240)
        env = base_environment(workdir / "var", url)
        bastion = node("bench-node", env, workdir, **(bastion_env or {}))
        started.callback(bastion.stop)
        bastion.start()
        host_key_line = core.keys.public_line("ssh_host_ed25519_key")
        client.trust("127.0.0.1", bastion.ssh_port, host_key_line)
        client.trust("127.0.0.1", target.port, target.host_key_line)
        world = World(workdir, postgres, url, core, target, client, bastion, echo, echo_port,
                      load_keys, host_key_line)
        started.pop_all()  # the world's own close() stops them from now on
    return world

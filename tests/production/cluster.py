"""Real ``bastion serve`` processes sharing one database and one key folder, as several
production nodes do; also used by the benchmarks (bench/) to run the bastion under test.

Nodes of one deployment share the keys folder (host key, CAs, master key: a technician
sees one host key whichever node answers, targets trust one CA) and the database; each
has its own node name and, here, its own ports.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
import urllib.error
import urllib.request
from dataclasses import dataclass, field
from datetime import timedelta
from pathlib import Path
from typing import Any

import yaml
from sqlalchemy import select

from bastion.api_tokens import create_token
from bastion.audit import Actor
from bastion.config import SshSettings, load_settings
from bastion.context import Bastion
from bastion.contracts import decide_access, load_contracts
from bastion.inventory import add_target
from bastion.models import AccessRequest, Grant, Target, Technician, utcnow
from bastion.staff import add_staff
from tests.conftest import SECOND_FACTOR_OFF
from tests.harness.clients import OpenSshClient
from tests.harness.ports import free_port
from tests.harness.sshd import SshdTarget

ADMIN = Actor("test:setup", "admin")
LABELS = {"env": "production-test"}


def base_environment(var_dir: Path, database_url: str) -> dict[str, str]:
    env = {"BASTION_PATHS__VAR_DIR": str(var_dir), "BASTION_DATABASE__URL": database_url}
    # These sessions are about the proxy, not the technicians' second factor.
    if "second_factor" in SshSettings.model_fields:
        env.update(SECOND_FACTOR_OFF)
    return env


def prepare_core(var_dir: Path, database_url: str, node: str = "setup",
                 extra_env: dict[str, str] | None = None) -> Bastion:
    """Keys and schema, as ``bastion init`` leaves them, and a core to fill the inventory."""
    settings = load_settings(None, env={**base_environment(var_dir, database_url),
                                        **(extra_env or {})})
    core = Bastion.from_settings(settings, node=node)
    core.keys.ensure()
    core.db.upgrade()
    return core


def contract_yaml(technicians: dict[str, str], accounts: list[str], *,
                  max_concurrent_sessions: int = 20) -> str:
    """One vendor's contract naming ``technicians`` (ident -> public key line): shell, exec
    and SFTP on the targets labelled ``LABELS``, at all hours."""
    document = {
        "time_zone": "Europe/Paris",
        # The suite reads the technician's English lines; French ones: tests/i18n.
        "language": "en",
        "vendor": {"id": "editeur", "name": "Éditeur DPI SAS"},
        "contract": {"reference": "PROD-1", "dpa_reference": "DPA-PROD-1",
                     "valid_from": "2025-01-01", "valid_until": "2099-12-31"},
        "technicians": [{"id": ident, "full_name": f"Technicien {ident}",
                         "email": f"{ident}@example.org", "employer": "Éditeur DPI SAS",
                         "keys": [key]} for ident, key in technicians.items()],
        "scope": {
            "targets": [{"labels": LABELS, "accounts": accounts}],
            "data_categories": ["administrative", "technical"],
            "windows": [{"days": ["mon", "tue", "wed", "thu", "fri", "sat", "sun"],
                         "start": "00:00", "end": "24:00"}],
            "max_session_minutes": 240,
            "max_concurrent_sessions": max_concurrent_sessions,
        },
        "channels": {"shell": True, "exec": True,
                     "sftp": {"access": "read-write", "allow": ["/**"]}},
        "approval": {"approvers": 1},
    }
    return yaml.safe_dump(document, allow_unicode=True)


def add_world(core: Bastion, *, target_name: str, host: str, port: int, host_key: str,
              account: str, contract: str, contract_path: Path) -> None:
    """A target and the contract covering it."""
    with core.db.session() as s:
        add_target(s, core.audit, name=target_name, host=host, port=port, host_key=host_key,
                   accounts=[account], labels=LABELS, data_categories=["administrative"],
                   actor=ADMIN)
    contract_path.write_text(contract)
    report = load_contracts(core, [contract_path], ADMIN)
    assert report.ok, report.problems


def technician_world(workdir: Path, database_url: str, *, max_concurrent_sessions: int = 20
                     ) -> tuple[Bastion, SshdTarget, OpenSshClient]:
    """Keys and schema, a started real sshd target "dpi-app-01" trusting the target CA, the
    technician jdupont's client, and the contract covering him there."""
    core = prepare_core(workdir / "var", database_url)
    target = SshdTarget(workdir / "sshd", trusted_ca_pub=core.keys.directory / "target_ca.pub")
    target.start()
    client = OpenSshClient(workdir / "client")
    add_world(core, target_name="dpi-app-01", host="127.0.0.1", port=target.port,
              host_key=target.host_key_line, account=target.account,
              contract=contract_yaml({"jdupont": client.public_key}, [target.account],
                                     max_concurrent_sessions=max_concurrent_sessions),
              contract_path=workdir / "editeur.yaml")
    return core, target, client


def approver_token(core: Bastion, name: str) -> str:
    """An API token of the approver irène (the console's part without the browser)."""
    with core.db.session() as s:
        add_staff(s, core.audit, username="irene", full_name="Irène Approbatrice",
                  roles=["approver"], password=None, actor=ADMIN)
    return create_token(core, name=name, staff_username="irene", actor=ADMIN)[1]


def grant(core: Bastion, technician: str, target: str, minutes: int = 60) -> int:
    """An approved grant with the contract's full scope (what the approvals create after
    the WebAuthn ceremony, which is not what these tests are about)."""
    now = utcnow()
    with core.db.session() as s:
        decision, version = decide_access(s, technician=technician, target=target, account=None,
                                          channel="request", at=now)
        assert decision.allowed, decision.reasons
        scope = decision.constraints.to_dict()
        tech = s.scalars(select(Technician).where(Technician.ident == technician)).one()
        row = s.scalars(select(Target).where(Target.name == target)).one()
        request = AccessRequest(technician_id=tech.id, target_id=row.id,
                                account_name=scope["account"], window_start=now,
                                window_end=now + timedelta(minutes=minutes), reason="production test",
                                source="api", status="approved", contract_version_id=version.id)
        s.add(request)
        s.flush()
        new = Grant(request_id=request.id, technician_id=tech.id, target_id=row.id,
                    account_name=scope["account"], contract_version_id=version.id,
                    not_before=now - timedelta(seconds=5), not_after=now + timedelta(minutes=minutes),
                    scope=scope)
        s.add(new)
        s.flush()
        return new.id


@dataclass
class Node:
    name: str
    ssh_port: int
    web_port: int
    env: dict[str, str]
    log_path: Path
    # How the node is started; benchmarks' experiments may wrap it (e.g. to tune Python).
    command: list[str] = field(default_factory=lambda: [sys.executable, "-m", "bastion", "serve"])
    process: subprocess.Popen[bytes] | None = field(default=None, repr=False)

    def start(self, timeout: float = 90) -> Node:
        with self.log_path.open("ab") as log:
            # A file, not a pipe: a pipe nobody reads would block the node once it fills.
            self.process = subprocess.Popen(self.command, env=self.env, stderr=log, stdout=log)
        # The ports are bound before the processes behind them can answer (a supervisor
        # binds them for its workers): the node says when it is ready.
        deadline = time.monotonic() + timeout
        while f"node {self.name} ready" not in self.log():
            if time.monotonic() > deadline or self.process.poll() is not None:
                self.stop()
                raise RuntimeError(f"node {self.name} did not start: {self.log()[-2000:]}")
            time.sleep(0.05)
        return self

    @property
    def pid(self) -> int:
        assert self.process is not None
        return self.process.pid

    def log(self) -> str:
        return self.log_path.read_text(errors="replace") if self.log_path.exists() else ""

    def api(self, method: str, path: str, token: str, body: Any = None) -> tuple[int, Any]:
        """A call to this node's JSON API with a staff member's bearer token."""
        request = urllib.request.Request(
            f"http://127.0.0.1:{self.web_port}/api/v1{path}", method=method,
            data=None if body is None else json.dumps(body).encode(),
            headers={"Authorization": f"Bearer {token}", "Content-Type": "application/json"})
        try:
            with urllib.request.urlopen(request, timeout=10) as answer:  # noqa: S310 - loopback
                return answer.status, json.loads(answer.read() or b"null")
        except urllib.error.HTTPError as error:
            return error.code, json.loads(error.read() or b"null")

    def stop(self) -> None:
        if self.process is None or self.process.poll() is not None:
            return
        self.process.send_signal(signal.SIGTERM)
        try:
            self.process.wait(20)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()


def node(name: str, base_env: dict[str, str], workdir: Path, **settings: str) -> Node:
    """A node (not started): its name, free ports, and ``BASTION_SECTION__KEY`` settings."""
    ssh_port, web_port = free_port(), free_port()
    env = {**os.environ, **base_env, "BASTION_NODE__NAME": name,
           "BASTION_SSH__LISTEN_PORT": str(ssh_port), "BASTION_WEB__LISTEN_PORT": str(web_port),
           **settings}
    return Node(name, ssh_port, web_port, env, workdir / f"{name}.log")

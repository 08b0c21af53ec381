"""A running proxy in a background thread, a real sshd target behind it, a technician."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path

import pytest

from bastion.audit import Actor
from bastion.context import Bastion
from bastion.inventory import add_target
from bastion.models import (
    AccessRequest,
    Grant,
    Technician,
    TechnicianKey,
    Vendor,
    utcnow,
)
from bastion.proxy.service import ProxyService
from tests.harness.clients import OpenSshClient
from tests.harness.sshd import SshdTarget


class RunningProxy:
    """The proxy on its own event loop thread, as `bastion serve` runs it."""

    def __init__(self, core: Bastion) -> None:
        self.core = core
        self.loop = asyncio.new_event_loop()
        self.thread = threading.Thread(target=self.loop.run_forever, daemon=True)
        self.thread.start()
        self.service = ProxyService(core)
        self.port = self.run(self.service.start("127.0.0.1", 0))
        self.host_key_line = core.keys.public_line("ssh_host_ed25519_key")

    def run(self, coroutine, timeout: float = 30):  # type: ignore[no-untyped-def]
        return asyncio.run_coroutine_threadsafe(coroutine, self.loop).result(timeout)

    def stop(self) -> None:
        if not self.thread.is_alive():
            return
        self.run(self.service.stop())
        self.loop.call_soon_threadsafe(self.loop.stop)
        self.thread.join(5)


@dataclass
class Scenario:
    core: Bastion
    proxy: RunningProxy
    target: SshdTarget
    client: OpenSshClient
    technician: str = "jdupont"
    target_name: str = "dpi-app-01"

    @property
    def user(self) -> str:
        return f"{self.technician}+{self.target_name}"

    def ssh(self, *command: str, extra: list[str] | None = None, user: str | None = None,
            input: bytes | None = None, timeout: float = 60):  # type: ignore[no-untyped-def]
        return self.client.ssh(user or self.user, "127.0.0.1", self.proxy.port, *command,
                               extra=extra, input=input, timeout=timeout)

    def grant(self, minutes: int = 60, channels: list[str] | None = None,
              account: str | None = None, **scope: object) -> int:
        now = utcnow()
        with self.core.db.session() as s:
            tech = s.query(Technician).filter_by(ident=self.technician).one()
            from bastion.models import Target

            target = s.query(Target).filter_by(name=self.target_name).one()
            request = AccessRequest(technician_id=tech.id, target_id=target.id,
                                    account_name=account or self.target.account,
                                    window_start=now, window_end=now + timedelta(minutes=minutes),
                                    reason="test", source="api", status="approved")
            s.add(request)
            s.flush()
            grant = Grant(request_id=request.id, technician_id=tech.id, target_id=target.id,
                          account_name=account or self.target.account,
                          not_before=now - timedelta(seconds=5),
                          not_after=now + timedelta(minutes=minutes),
                          scope={"channels": channels or ["shell", "exec", "sftp"], **scope})
            s.add(grant)
            s.flush()
            return grant.id


def register_technician(core: Bastion, ident: str, public_key: str, fingerprint: str) -> None:
    with core.db.session() as s:
        vendor = s.query(Vendor).filter_by(slug="editeur").one_or_none()
        if vendor is None:
            vendor = Vendor(slug="editeur", name="Éditeur DPI")
            s.add(vendor)
        tech = Technician(ident=ident, vendor=vendor, employer="Éditeur DPI",
                          full_name=ident, email=f"{ident}@example.org")
        tech.keys.append(TechnicianKey(algorithm=public_key.split()[0], public_key=public_key,
                                       fingerprint=fingerprint))
        s.add(tech)


@pytest.fixture
def scenario(core: Bastion, sshd_target: SshdTarget, openssh_client: OpenSshClient,
             tmp_path: Path) -> Iterator[Scenario]:
    with core.db.session() as s:
        add_target(s, core.audit, name="dpi-app-01", host="127.0.0.1", port=sshd_target.port,
                   host_key=sshd_target.host_key_line, accounts=[sshd_target.account],
                   data_categories=["administrative"], actor=Actor("test", "admin"))
    register_technician(core, "jdupont", openssh_client.public_key, openssh_client.fingerprint)
    proxy = RunningProxy(core)
    openssh_client.trust("127.0.0.1", proxy.port, proxy.host_key_line)
    yield Scenario(core, proxy, sshd_target, openssh_client)
    proxy.stop()

"""Break-glass on a health-data server under ``on_sensitive: acknowledged`` (issue 18, point
2), with real parts: the technician declares over the real OpenSSH client (in tmux) and
waits, told who was asked; the on-call approver's urgent e-mail reaches a real SMTP server
(aiosmtpd) with a one-time link; on the console page behind it their security key signs
the emergency's content, and the technician's shell opens (not read-only). An emergency
nobody acknowledges in time is refused with one line; a link is personal and used once."""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path

import pytest
import yaml
from pydantic import ValidationError
from sqlalchemy import select, update
from webauthn import options_to_json

from bastion import approvals, breakglass
from bastion.audit import Actor, AuditLog
from bastion.context import Bastion
from bastion.contracts import Contract, load_contracts
from bastion.inventory import add_target
from bastion.models import (
    AccessRequest,
    AuditEvent,
    BreakGlassAcknowledgement,
    Grant,
    StaffRole,
    utcnow,
)
from bastion.staff import add_staff
from tests.approvals.authenticator import SoftAuthenticator
from tests.approvals.conftest import public_line
from tests.approvals.test_notifications import Mailbox, smtp_server
from tests.harness.clients import OpenSshClient
from tests.harness.sshd import SshdTarget
from tests.proxy.conftest import TEST_LABELS, RunningProxy
from tests.proxy.test_typed_commands import _sign_in
from tests.web.conftest import csrf_from
from web.app import create_app

from .test_end_to_end import emergency_contract

__all__ = ["smtp_server"]

ADMIN = Actor("test", "admin")
KBDINT = ["-o", "LogLevel=INFO", "-o", "BatchMode=no", "-o", "KbdInteractiveAuthentication=yes"]
ORIGIN = "https://bastion.chu.example"
LINK = re.compile(r"https://bastion\.chu\.example(/break-glass/acknowledge/[\w-]+)")


@dataclass
class OnCall:
    core: Bastion
    proxy: RunningProxy
    client: OpenSshClient
    mailbox: Mailbox
    staff: dict[str, int]
    keys: dict[str, SoftAuthenticator]


@pytest.fixture
def on_call(core: Bastion, sshd_target: SshdTarget, openssh_client: OpenSshClient,
            tmp_path: Path, smtp_server: tuple[int, Mailbox]) -> Iterator[OnCall]:
    port, mailbox = smtp_server
    settings = (core.settings.with_changes("smtp", host="127.0.0.1", port=port,
                                           sender="bastion@chu.example")
                .with_changes("web", public_url=ORIGIN))
    core = Bastion(settings=settings, db=core.db, keys=core.keys, audit=core.audit, node=core.node)
    staff = {}
    with core.db.session() as s:
        add_target(s, core.audit, name="dpi-app-01", host="127.0.0.1", port=sshd_target.port,
                   host_key=sshd_target.host_key_line, accounts=[sshd_target.account],
                   labels=TEST_LABELS, data_categories=["administrative", "health"], actor=ADMIN)
        for username, roles in (("alice", ["approver"]), ("bob", ["approver"]),
                                ("diane", ["dpo"])):
            user = add_staff(s, AuditLog("test"), username=username, full_name=username.title(),
                             roles=roles, password=None, email=f"{username}@chu.example",
                             actor=ADMIN)
            staff[username] = user.id
    keys = {}
    for username in ("alice", "bob"):
        keys[username] = SoftAuthenticator(ORIGIN)
        options = approvals.registration_options(core, staff[username])
        approvals.register_credential(core, staff[username],
                                      keys[username].create(options_to_json(options)),
                                      name=f"{username}'s key")
    document = emergency_contract(openssh_client.public_key, sshd_target.account)
    document["approval"]["break_glass"] = {"allowed": True, "max_minutes": 20,
                                           "on_sensitive": "acknowledged", "on_call": ["alice"],
                                           "acknowledgement_minutes": 10}
    contract = tmp_path / "editeur.yaml"
    contract.write_text(yaml.safe_dump(document, allow_unicode=True))
    assert load_contracts(core, [contract], ADMIN).ok
    proxy = RunningProxy(core)
    openssh_client.trust("127.0.0.1", proxy.port, proxy.host_key_line)
    yield OnCall(core, proxy, openssh_client, mailbox, staff, keys)
    proxy.stop()


def _declare(on_call: OnCall, tmux) -> None:  # type: ignore[no-untyped-def]
    tmux.start(on_call.client.ssh_argv("jdupont+dpi-app-01", "127.0.0.1", on_call.proxy.port,
                                       extra=[*KBDINT, "-t"]))
    tmux.wait_for(r"Reason for this access: $")
    tmux.type("le service des admissions est bloqué, redémarrage nécessaire\n")
    tmux.wait_for(r"Ticket reference \(optional\): $")
    tmux.type("INC-7001\n")
    tmux.wait_for(r"Emergency\? type URGENCE or press Enter: $")
    tmux.type("URGENCE\n")


def _events(core: Bastion, action: str) -> list[AuditEvent]:
    with core.db.session() as s:
        rows = list(s.scalars(select(AuditEvent).where(AuditEvent.action == action)))
        s.expunge_all()
        return rows


def test_the_on_call_approver_acknowledges_and_the_shell_opens(on_call: OnCall, tmux) -> None:  # type: ignore[no-untyped-def]
    core = on_call.core
    _declare(on_call, tmux)
    tmux.wait_for(r"opens once an on-call approver acknowledges it \(told: e-mail to "
                  r"alice@chu\.example\.\) Waiting up to \d+ min; Ctrl-C cancels\.")
    (mail,) = [m for m in on_call.mailbox.messages
               if m["To"] == "alice@chu.example" and LINK.search(m.get_content())]
    assert mail["Subject"].startswith("[URGENT]") and mail["Importance"] == "high"
    path = LINK.search(mail.get_content()).group(1)  # type: ignore[union-attr]
    with core.db.session() as s:
        assert s.scalars(select(Grant)).all() == []  # nothing opens before the acknowledgement

    app = create_app(core, {"TESTING": True})
    with app.test_client() as client:
        _sign_in(app, client, on_call.staff["bob"])  # an approver, but not on call
        assert client.get(path).status_code == 403  # someone else's link: unknown to bob
        _sign_in(app, client, on_call.staff["alice"])
        page = client.get(path).get_data(as_text=True)
        assert "redémarrage nécessaire" in page and "INC-7001" in page and "dpi-app-01" in page
        headers = {"X-CSRFToken": csrf_from(page)}
        options = client.post(f"{path}/options", headers=headers).get_json()["options"]
        answer = on_call.keys["alice"].get(options)
        done = client.post(f"{path}/confirm", json={"credential": answer}, headers=headers)
        assert done.status_code == 200, done.get_json()
        again = client.post(f"{path}/options", headers=headers)  # used: opens nothing twice
        assert again.status_code == 409

    tmux.wait_for(r"acknowledged: EMERGENCY ACCESS opened; a review is opened for the DPO; "
                  r"told: .*diane@chu\.example")
    tmux.type("echo acquitte-$((6*7))\n")  # a shell: not read-only
    tmux.wait_for(r"^acquitte-42\r?$")
    tmux.type("exit\n")
    with core.db.session() as s:
        grant = s.scalars(select(Grant)).one()
        assert grant.break_glass and "shell" in grant.scope["channels"]
        request = s.get(AccessRequest, grant.request_id)
        assert request.status == "approved"
    (acknowledged,) = _events(core, "break_glass.acknowledged")
    assert acknowledged.actor == "staff:alice" and acknowledged.outcome == "allowed"
    assert acknowledged.details["approver"] == "alice"
    assert acknowledged.details["credential"] == "alice's key"
    refused = _events(core, "break_glass.acknowledgement_refused")
    assert [e.actor for e in refused] == ["staff:alice"]  # the used link, audited
    assert breakglass.list_reviews(core, state="open")  # the DPO reviews it as any emergency


def test_an_emergency_nobody_acknowledges_is_refused(on_call: OnCall, tmux) -> None:  # type: ignore[no-untyped-def]
    core = on_call.core
    _declare(on_call, tmux)
    tmux.wait_for(r"Waiting up to \d+ min; Ctrl-C cancels\.")
    # Time passes (the database's clock decides): the wait is over.
    with core.db.session() as s:
        s.execute(update(AccessRequest).values(expires_at=utcnow() - timedelta(seconds=1)))
        s.execute(update(BreakGlassAcknowledgement)
                  .values(expires_at=utcnow() - timedelta(seconds=1)))
    tmux.wait_for(r"emergency \d+ refused: no on-call approver acknowledged it in time; call "
                  r"the hospital's IT on-call line\.")
    (expired,) = _events(core, "break_glass.acknowledgement_expired")
    assert expired.outcome == "denied" and expired.technician == "jdupont"
    with core.db.session() as s:
        assert s.scalars(select(Grant)).all() == []
        assert s.scalars(select(AccessRequest.status)).all() == ["expired"]
    (path,) = [found.group(1) for m in on_call.mailbox.messages
               if (found := LINK.search(m.get_content()))]
    with pytest.raises(approvals.ApprovalError) as late:
        breakglass.acknowledgement_page(core, path.rsplit("/", 1)[1], on_call.staff["alice"])
    assert late.value.code == "acknowledgement_closed"


def test_without_anyone_on_call_to_ask_the_emergency_is_refused(on_call: OnCall) -> None:
    core = on_call.core
    with core.db.session() as s:  # alice is no approver any more
        s.execute(update(StaffRole).where(StaffRole.staff_id == on_call.staff["alice"])
                  .values(role="dpo"))
    with pytest.raises(breakglass.BreakGlassRefused) as refused:
        breakglass.declare_break_glass(core, technician="jdupont", target="dpi-app-01",
                                       justification="le service des admissions est bloqué",
                                       source="ssh")
    assert "no on-call approver can be asked" in refused.value.message
    with core.db.session() as s:
        assert s.scalars(select(AccessRequest.status)).all() == ["denied"]


def test_the_contract_names_who_is_on_call() -> None:
    """Validated by the contracts engine (pure): 'acknowledged' without anyone on call is
    refused with the reason."""
    document = emergency_contract(public_line("jdupont"), "maint")
    document["approval"]["break_glass"] = {"allowed": True, "on_sensitive": "acknowledged"}
    with pytest.raises(ValidationError, match="on_sensitive: acknowledged needs 'on_call'"):
        Contract.model_validate(document)
    document["approval"]["break_glass"]["on_call"] = ["alice", "alice"]
    with pytest.raises(ValidationError, match="names someone twice"):
        Contract.model_validate(document)
    document["approval"]["break_glass"]["on_call"] = ["alice"]
    assert Contract.model_validate(document).approval.break_glass.on_call == ["alice"]

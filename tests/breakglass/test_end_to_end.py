"""A break-glass session end to end, with real parts: the technician's emergency opens a
grant without any approval; the real OpenSSH client goes through the running proxy to a
real sshd under it, and the session is recorded; urgent e-mails reach a real SMTP server
(aiosmtpd) and the webhook a real HTTP receiver; the review opened is closed by the DPO;
an emergency left unreviewed past its deadline is flagged, on the DPO's pages and in the
daily summary e-mail."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path

import pytest
import yaml
from sqlalchemy import func, select

from bastion import approvals, breakglass, controls
from bastion.audit import Actor, AuditLog
from bastion.context import Bastion
from bastion.contracts import load_contracts
from bastion.inventory import add_target
from bastion.models import Recording, Review, SshSession, utcnow
from bastion.staff import add_staff
from tests.approvals.test_notifications import Mailbox, Receiver, smtp_server, webhook_receiver
from tests.harness.clients import OpenSshClient
from tests.harness.sshd import SshdTarget
from tests.proxy.conftest import TEST_LABELS, RunningProxy

from .conftest import JUSTIFICATION

__all__ = ["smtp_server", "webhook_receiver"]  # fixtures used below

ADMIN = Actor("test", "admin")


@dataclass
class Emergency:
    core: Bastion
    proxy: RunningProxy
    client: OpenSshClient
    mailbox: Mailbox
    receiver: Receiver
    staff: dict[str, int]


def emergency_contract(public_key: str, account: str) -> dict[str, object]:
    """Open all day (the proxy's own check), health data in scope, break-glass allowed."""
    return {
        "time_zone": "Europe/Paris",
        # The suite reads the technician's English lines; French ones: tests/i18n.
        "language": "en",
        "vendor": {"id": "editeur", "name": "Éditeur DPI SAS"},
        "contract": {"reference": "TEST-BG", "dpa_reference": "DPA-TEST-BG",
                     "valid_from": "2025-01-01", "valid_until": "2099-12-31",
                     "hds_certificate": {"number": "HDS-TEST-BG", "valid_until": "2099-12-31"}},
        "technicians": [{"id": "jdupont", "full_name": "Jean Dupont", "email": "jd@example.org",
                         "employer": "Éditeur DPI SAS", "keys": [public_key]}],
        "scope": {"targets": [{"labels": TEST_LABELS, "accounts": [account]}],
                  "data_categories": ["administrative", "technical", "health"],
                  "windows": [{"days": ["mon", "tue", "wed", "thu", "fri", "sat", "sun"],
                               "start": "00:00", "end": "24:00"}],
                  "max_session_minutes": 240, "max_concurrent_sessions": 5},
        "channels": {"shell": True, "exec": True},
        "approval": {"approvers": 1, "break_glass": {"allowed": True, "max_minutes": 20}},
    }


@pytest.fixture
def emergency(core: Bastion, sshd_target: SshdTarget, openssh_client: OpenSshClient,
              tmp_path: Path, smtp_server: tuple[int, Mailbox],
              webhook_receiver: Receiver) -> Iterator[Emergency]:
    port, mailbox = smtp_server
    settings = (core.settings.with_changes("smtp", host="127.0.0.1", port=port,
                                           sender="bastion@chu.example")
                .with_changes("webhook", url=webhook_receiver.url, timeout_seconds=2)
                .with_changes("web", public_url="https://bastion.chu.example"))
    core = Bastion(settings=settings, db=core.db, keys=core.keys, audit=core.audit, node=core.node)
    staff = {}
    with core.db.session() as s:
        add_target(s, core.audit, name="dpi-app-01", host="127.0.0.1", port=sshd_target.port,
                   host_key=sshd_target.host_key_line, accounts=[sshd_target.account],
                   labels=TEST_LABELS, data_categories=["administrative", "technical"],
                   actor=ADMIN)  # no health data: an emergency there may use the shell
        for username, roles, language in (("alice", ["approver"], "fr"), ("diane", ["dpo"], "en")):
            user = add_staff(s, AuditLog("test"), username=username, full_name=username.title(),
                             roles=roles, password=None, email=f"{username}@chu.example",
                             actor=ADMIN)
            user.language = language
            staff[username] = user.id
    document = emergency_contract(openssh_client.public_key, sshd_target.account)
    contract = tmp_path / "editeur.yaml"
    contract.write_text(yaml.safe_dump(document, allow_unicode=True))
    assert load_contracts(core, [contract], ADMIN).ok
    proxy = RunningProxy(core)
    openssh_client.trust("127.0.0.1", proxy.port, proxy.host_key_line)
    yield Emergency(core, proxy, openssh_client, mailbox, webhook_receiver, staff)
    proxy.stop()


def wait_until(check, seconds: float = 10.0):  # type: ignore[no-untyped-def]
    deadline = time.monotonic() + seconds
    while True:
        value = check()
        if value or time.monotonic() > deadline:
            return value
        time.sleep(0.1)


def test_a_break_glass_session_end_to_end(emergency: Emergency) -> None:
    core = emergency.core
    # Nothing lets jdupont in yet: no grant, so the proxy refuses.
    refused = emergency.client.ssh("jdupont+dpi-app-01", "127.0.0.1", emergency.proxy.port,
                                   "echo", "too early")
    assert refused.returncode != 0

    access = breakglass.declare_break_glass(core, technician="jdupont", target="dpi-app-01",
                                            justification=JUSTIFICATION, ticket="INC-99",
                                            source="ssh")
    assert access.grant.break_glass and access.notifications == 3  # alice, diane, webhook
    with core.db.session() as s:
        assert s.scalar(select(func.count()).select_from(Review)) == 0  # nobody approved

    done = emergency.client.ssh("jdupont+dpi-app-01", "127.0.0.1", emergency.proxy.port,
                                "echo", "break-glass-ok")
    assert done.returncode == 0, done.stderr
    assert b"break-glass-ok" in done.stdout
    with core.db.session() as s:
        [session_id] = s.scalars(select(SshSession.id)
                                 .where(SshSession.grant_id == access.grant.id)).all()
    recorded = wait_until(lambda: _sealed(core, session_id))
    assert recorded, "the emergency session's recording was not sealed"

    # The urgent notifications, delivered for real.
    report = approvals.deliver_pending(core)
    assert len(report.sent) == 3 and not report.failed
    by_recipient = {m["To"]: m for m in emergency.mailbox.messages}
    assert sorted(by_recipient) == ["alice@chu.example", "diane@chu.example"]
    for message in by_recipient.values():
        assert message["Importance"] == "high" and message["X-Priority"].startswith("1")
        assert message["Subject"].startswith("[URGENT]")
    english = by_recipient["diane@chu.example"]
    assert english["Subject"].startswith(f"[URGENT] [DPI bastion] Break-glass {access.request_id}: "
                                         "jdupont on dpi-app-01 until ")
    body = english.get_content()
    assert JUSTIFICATION in body and "INC-99" in body and "Data held: administrative, technical" in body
    assert f"https://bastion.chu.example/dpo/break-glass/{access.review_id}" in body
    assert "Déclaré par : le technicien lui-même" in by_recipient["alice@chu.example"].get_content()
    [(headers, raw)] = emergency.receiver.posts
    payload = json.loads(raw)
    assert payload["event"] == "break_glass.declared" and payload["urgent"] is True
    assert payload["break_glass"]["review_id"] == access.review_id
    assert payload["break_glass"]["grant_id"] == access.grant.id
    assert "token" not in json.dumps(_sent_events(core))  # the audit names the host only

    # The review shows the session; the flags link to its recording.
    review = breakglass.get_review(core, access.review_id)
    assert review.session_ids == (session_id,) and review.is_open
    flags = controls.compute_flags(core, since=utcnow() - timedelta(hours=1),
                                   until=utcnow() + timedelta(minutes=1),
                                   kinds=[controls.BREAK_GLASS, controls.SENSITIVE_DATA])
    assert {f.kind for f in flags} == {"break_glass"}  # the target holds no health data
    for flag in flags:
        assert flag.moment.session_id == session_id and flag.moment.recording_id is not None

    closed = breakglass.close_review(core, access.review_id, staff=emergency.staff["diane"],
                                     verdict="justified",
                                     comment="Outage confirmed by the admissions ward.")
    assert closed.verdict == "justified" and closed.closed_by == "diane"

    # An emergency nobody reviewed within the deadline is flagged, and e-mailed.
    late = breakglass.declare_break_glass(core, technician="jdupont", target="dpi-app-01",
                                          justification=JUSTIFICATION,
                                          now=utcnow() - timedelta(hours=80))
    assert [r.id for r in breakglass.overdue_reviews(core)] == [late.review_id]
    sent = controls.send_daily_summary(core)
    assert sent.queued == ("diane@chu.example",)
    emergency.mailbox.messages.clear()
    # The summary, and the late emergency's own notifications (two e-mails, the webhook).
    assert len(approvals.deliver_pending(core).sent) == 4
    summary = next(m for m in emergency.mailbox.messages
                   if m["Subject"].startswith("[DPI bastion] Summary"))
    assert "1 overdue break-glass review(s)" in summary["Subject"]
    assert f"/dpo/break-glass/{late.review_id}" in summary.get_content()


def _sealed(core: Bastion, session_id: int) -> bool:
    with core.db.session() as s:
        rows = s.scalars(select(Recording).where(Recording.session_id == session_id)).all()
        return bool(rows) and all(r.status == "sealed" for r in rows)


def _sent_events(core: Bastion) -> list[dict[str, object]]:
    from bastion.models import AuditEvent

    with core.db.session() as s:
        return [dict(e.details) for e in s.scalars(
            select(AuditEvent).where(AuditEvent.action == "notification.sent"))]

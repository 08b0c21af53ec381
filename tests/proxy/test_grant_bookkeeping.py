"""Issue 13.10: a session carries the grant that admitted it. With two live grants for the
same target, a login with grant B's certificate was recorded under grant A (the live grant
that lasted longest). Real OpenSSH client, real sshd target, through the proxy."""

from __future__ import annotations

from pathlib import Path

from sqlalchemy import select

from bastion import approvals
from bastion.audit import Actor
from bastion.models import AuditEvent, Grant, SshSession
from tests.proxy.conftest import Scenario


def sessions_and_events(scenario: Scenario) -> tuple[list[int | None], list[int | None]]:
    with scenario.core.db.session() as db:
        sessions = list(db.scalars(select(SshSession.grant_id).order_by(SshSession.id)))
        opened = list(db.scalars(select(AuditEvent.grant_id).where(AuditEvent.action == "session.opened")
                                 .order_by(AuditEvent.id)))
    return sessions, opened


def certificate_for(scenario: Scenario, grant_id: int, tmp_path: Path) -> list[str]:
    path = tmp_path / f"grant-{grant_id}-cert.pub"
    path.write_text(approvals.issue_certificate(scenario.core, grant_id))
    return ["-o", f"CertificateFile={path}"]


def test_a_certificate_login_is_recorded_under_the_certificates_grant(scenario: Scenario,
                                                                      tmp_path: Path) -> None:
    longest = scenario.grant(minutes=180)
    shorter = scenario.grant(minutes=60)
    done = scenario.ssh("echo with-b", extra=certificate_for(scenario, shorter, tmp_path))
    assert done.returncode == 0, done.stderr
    assert done.stdout == b"with-b\n"
    sessions, opened = sessions_and_events(scenario)
    assert sessions == [shorter] and opened == [shorter]
    with scenario.core.db.session() as db:
        assert db.get(Grant, shorter).status == "active"
        assert db.get(Grant, longest).status == "approved"  # never used


def test_a_plain_key_picks_the_longest_grant_deterministically(scenario: Scenario) -> None:
    first = scenario.grant(minutes=60)
    longest = scenario.grant(minutes=180)
    tied = scenario.grant(minutes=180)
    with scenario.core.db.session() as db:  # the same end to the second: the oldest wins
        db.get(Grant, tied).not_after = db.get(Grant, longest).not_after
    for _ in range(2):
        done = scenario.ssh("true")
        assert done.returncode == 0, done.stderr
    sessions, opened = sessions_and_events(scenario)
    assert sessions == [longest, longest] and opened == [longest, longest]
    assert first not in sessions


def test_a_revoked_certificates_grant_is_not_replaced_by_another(scenario: Scenario,
                                                                 tmp_path: Path) -> None:
    other = scenario.grant(minutes=180)
    revoked = scenario.grant(minutes=60)
    with_cert = certificate_for(scenario, revoked, tmp_path)
    approvals.revoke_grant(scenario.core, revoked, actor=Actor("staff:alice", "approver"),
                           reason="travaux terminés")
    refused = scenario.ssh("true", extra=[*with_cert, "-o",
                                          "PubkeyAcceptedAlgorithms=ssh-ed25519-cert-v01@openssh.com"])
    assert refused.returncode == 255
    sessions, _ = sessions_and_events(scenario)
    assert other not in sessions and sessions == []

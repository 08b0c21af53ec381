"""Grants: never wider than the request and the contract; revoked at once; ended on time."""

from __future__ import annotations

from datetime import timedelta

import pytest

from bastion import approvals
from bastion.approvals import ApprovalError
from bastion.audit import Actor
from bastion.models import Grant, SshSession, utcnow
from tests.approvals.conftest import World, audit_events

CAROL = Actor("staff:carol", "approver")


def _approved(world: World, **fields: object) -> approvals.GrantInfo:
    request = world.file(**fields)
    grant = world.approve(request.id, "alice").grant
    assert grant is not None
    return grant


def test_the_grant_window_is_the_request_window(any_world: World) -> None:
    world = any_world
    # A window that starts later, so the approval's own second cannot move its start.
    request = world.file(minutes=90, start=utcnow() + timedelta(minutes=10))
    grant = world.approve(request.id, "alice").grant
    assert grant.not_before == request.window_start
    assert grant.not_after == request.window_end
    assert grant.contract_version_id == request.contract_version_id
    assert grant.scope["contract_reference"] == "ACME-1"


def test_a_window_wider_than_the_contract_is_refused_not_shortened(world: World) -> None:
    # 6 hours asked, the contract's max_session_minutes is 240: refused, saying the limit.
    with pytest.raises(approvals.OutOfContract) as refused:
        world.file(minutes=360)
    assert "ask for an end no later than" in refused.value.reasons[0]
    assert "maximum session length, 240 min" in refused.value.reasons[0]


def test_an_ssh_request_asks_for_the_contracts_ceiling_and_gets_exactly_it(world: World) -> None:
    # A login asks for "now" without an end: the request records the contract's ceiling,
    # and the approver signs, and the grant is, that very window.
    request = world.file(minutes=360, fit_to_contract=True)
    assert request.window_end - request.window_start == timedelta(minutes=240)
    grant = world.approve(request.id, "alice").grant
    assert grant.not_after == request.window_end
    assert grant.not_after.isoformat() == grant.scope["latest_end"]
    event = audit_events(world.core, "grant.created")[-1]
    assert event.details["requested_end"] == event.details["contract_latest_end"] == grant.not_after.isoformat()


def test_the_scope_holds_only_the_channels_asked_for(world: World) -> None:
    narrow = _approved(world, channels=["exec"])
    assert narrow.scope["channels"] == ["exec"]
    assert narrow.scope["forwards"] == [] and narrow.scope["sftp"]["access"] == "none"
    wide = _approved(world, channels=["shell", "sftp", "forward"])
    assert wide.scope["channels"] == ["forward", "sftp", "shell"]
    assert wide.scope["forwards"] == ["127.0.0.1:5432"]
    assert wide.scope["sftp"] == {"access": "read", "allow": ["/var/log/**"], "deny": [],
                                  "case_insensitive": False}


def test_an_approval_late_in_the_window_starts_the_grant_at_the_approval(world: World) -> None:
    request = world.file(minutes=120)
    later = request.window_start + timedelta(minutes=30)
    response = world.keys["alice"].get(world.options(request.id, "alice", now=later))
    result = approvals.approve(world.core, request.id, world.staff["alice"], response, now=later)
    assert result.grant.not_before == later.replace(microsecond=0)
    assert result.grant.not_after == request.window_end


def test_revoking_terminates_live_sessions(any_world: World) -> None:
    world = any_world
    grant = _approved(world)
    with world.core.db.session() as session:
        row = session.get(Grant, grant.id)
        row.status = "active"
        for status in ("live", "live", "ended"):
            session.add(SshSession(grant_id=grant.id, technician_id=row.technician_id,
                                   target_id=row.target_id, account_name="maint",
                                   node="n1", status=status))
    revocation = approvals.revoke_grant(world.core, grant.id, actor=CAROL,
                                        reason="the vendor's laptop was stolen")
    assert revocation.grant.status == "revoked" and len(revocation.sessions) == 2
    assert revocation.grant.revoke_reason == "the vendor's laptop was stolen"
    with world.core.db.session() as session:
        rows = session.query(SshSession).order_by(SshSession.id).all()
        asked = [(s.terminate_requested_by, s.terminate_reason) for s in rows]
    assert asked == [("staff:carol", "the vendor's laptop was stolen")] * 2 + [(None, None)]
    event = audit_events(world.core, "grant.revoked")[-1]
    assert event.actor == "staff:carol" and event.grant_id == grant.id
    assert event.details["sessions_terminated"] == list(revocation.sessions)
    with pytest.raises(ApprovalError) as caught:
        approvals.revoke_grant(world.core, grant.id, actor=CAROL, reason="again")
    assert caught.value.code == "grant_not_revocable"


def test_revoking_needs_a_reason_and_a_grant(world: World) -> None:
    grant = _approved(world)
    with pytest.raises(ApprovalError) as caught:
        approvals.revoke_grant(world.core, grant.id, actor=CAROL, reason=" ")
    assert caught.value.code == "reason_required"
    with pytest.raises(ApprovalError) as caught:
        approvals.revoke_grant(world.core, 999, actor=CAROL, reason="x")
    assert caught.value.code == "grant_not_found"


def test_grants_end_on_time(any_world: World) -> None:
    world = any_world
    short = _approved(world, minutes=30)
    long = _approved(world, minutes=120)
    assert approvals.end_expired_grants(world.core, utcnow()) == []
    assert approvals.end_expired_grants(world.core, utcnow() + timedelta(minutes=31)) == [short.id]
    assert approvals.get_grant(world.core, short.id).status == "ended"
    assert approvals.get_grant(world.core, long.id).status == "approved"
    assert audit_events(world.core, "grant.ended")[-1].grant_id == short.id
    live = approvals.list_grants(world.core, statuses=approvals.LIVE_STATES)
    assert [g.id for g in live] == [long.id]


def test_housekeeping_runs_every_chore(world: World) -> None:
    pending = world.file(minutes=30)
    grant = _approved(world, minutes=30)
    report = approvals.run_housekeeping(world.core, utcnow() + timedelta(days=2))
    assert report.expired_requests == [pending.id] and report.ended_grants == [grant.id]
    # Two registration challenges and one approval challenge were issued; only the
    # approval's, the approver's proof, is kept.
    assert report.purged_challenges == 2
    assert approvals.grant_for_request(world.core, grant.request_id).id == grant.id

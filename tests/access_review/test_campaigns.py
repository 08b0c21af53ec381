"""Campaigns end to end on the core (SQLite and PostgreSQL): open from the contract, confirm
or revoke line by line, suspend what is not confirmed by the deadline; the contracts engine
then refuses with the review's reason, live grants end, everything is audited."""

from __future__ import annotations

from datetime import date, timedelta

import pytest
from sqlalchemy import select

from bastion import approvals
from bastion.access_review import (
    ReviewError,
    close_overdue_campaigns,
    confirm_line,
    get_campaign,
    list_campaigns,
    needing_attention,
    open_campaign,
    revoke_line,
)
from bastion.contracts import decide_access
from bastion.models import Grant, Vendor, utcnow
from tests.access_review.conftest import DPO, after, tomorrow
from tests.approvals.conftest import World, assert_chain_intact, audit_events


def decide(world: World, technician: str, target: str):  # type: ignore[no-untyped-def]
    with world.core.db.session() as session:
        decision, _ = decide_access(session, technician=technician, target=target, account=None,
                                    channel="request", at=utcnow())
        return decision


def line_id(world: World, campaign_id: int, technician: str, target: str) -> int:
    lines = get_campaign(world.core, campaign_id).lines
    return next(x.id for x in lines if (x.technician, x.target) == (technician, target))


def grant(world: World, technician: str, target: str) -> int:
    info = world.file(technician, target)
    result = world.approve(info.id, "alice")
    assert result.grant is not None
    return result.grant.id


def grant_row(world: World, grant_id: int) -> Grant:
    with world.core.db.session() as session:
        return session.get(Grant, grant_id)


def test_open_lists_the_contracts_accesses(any_world: World) -> None:
    core = any_world.core
    info = open_campaign(core, vendor="acme", deadline=tomorrow(), actor=DPO, note="revue 2026")
    assert (info.vendor, info.total, info.pending, info.state()) == ("acme", 4, 4, "open")
    assert info.contract_reference == "ACME-1"
    assert [(x.technician, x.target, x.account, x.decision) for x in get_campaign(core, info.id).lines] == [
        ("jdupont", "dpi-app-01", "maint", "pending"), ("jdupont", "dpi-db-01", "dbmaint", "pending"),
        ("kbenali", "dpi-app-01", "maint", "pending"), ("kbenali", "dpi-db-01", "dbmaint", "pending")]
    [event] = audit_events(core, "access_review.opened")
    assert (event.actor, event.vendor, event.details["lines"]) == ("staff:erin", "acme", 4)
    assert needing_attention(core).due[0].id == info.id
    # Pending lines change nothing before the deadline.
    assert decide(any_world, "kbenali", "dpi-app-01").allowed


@pytest.mark.parametrize("vendor, deadline, code", [
    ("nobody", None, "vendor_unknown"),
    ("acme", date(2020, 1, 1), "deadline_past"),
    ("bare", None, "no_contract"),
])
def test_open_refuses_with_a_reason(world: World, vendor: str, deadline: date | None,
                                    code: str) -> None:
    with world.core.db.session() as session:
        session.add(Vendor(slug="bare", name="Sans contrat SARL"))
    with pytest.raises(ReviewError) as caught:
        open_campaign(world.core, vendor=vendor, deadline=deadline or tomorrow(), actor=DPO)
    assert caught.value.code == code


def test_one_open_campaign_per_vendor(world: World) -> None:
    first = open_campaign(world.core, vendor="acme", deadline=tomorrow(), actor=DPO)
    with pytest.raises(ReviewError, match=f"access review {first.id} of vendor acme is still open"):
        open_campaign(world.core, vendor="acme", deadline=tomorrow(), actor=DPO)


def test_unconfirmed_access_is_suspended_at_the_deadline(any_world: World) -> None:
    core, deadline = any_world.core, tomorrow()
    info = open_campaign(core, vendor="acme", deadline=deadline, actor=DPO)
    confirm_line(core, line_id(any_world, info.id, "jdupont", "dpi-app-01"), actor=DPO,
                 comment="maintenance applicative")
    live = grant(any_world, "kbenali", "dpi-app-01")  # a live grant of an access left unconfirmed

    assert close_overdue_campaigns(core, now=utcnow()).campaigns == ()  # not yet due
    report = close_overdue_campaigns(core, now=after(deadline))
    assert report.campaigns == (info.id,)
    assert sorted((x.technician, x.target) for x in report.suspended) == [
        ("jdupont", "dpi-db-01"), ("kbenali", "dpi-app-01"), ("kbenali", "dpi-db-01")]
    assert report.grants_revoked == (live,)
    row = grant_row(any_world, live)
    assert row.status == "revoked" and "suspended by access review" in row.revoke_reason

    refused = decide(any_world, "kbenali", "dpi-app-01")
    assert not refused.allowed and refused.codes == ("access_suspended",)
    assert refused.summary() == (f"refused: access to dpi-app-01 suspended by access review "
                                 f"{info.id}: not confirmed by {deadline.isoformat()}")
    assert "kbenali to maint@dpi-app-01" in refused.reasons[0]
    assert decide(any_world, "jdupont", "dpi-app-01").allowed  # confirmed: kept

    # No new grant: a new request is refused (and stored as denied with the reason).
    with pytest.raises(approvals.OutOfContract, match="suspended by access review"):
        any_world.file("kbenali", "dpi-app-01")

    [c] = list_campaigns(core)
    assert (c.status, c.counts) == ("closed", {"confirmed": 1, "suspended": 3})
    assert [e.action for e in audit_events(core) if e.action.startswith("access_review.")] == [
        "access_review.opened", "access_review.confirmed", "access_review.suspended",
        "access_review.suspended", "access_review.suspended", "access_review.closed"]
    assert close_overdue_campaigns(core, now=after(deadline)) == type(report)((), (), ())
    assert_chain_intact(core)


def test_a_late_confirmation_lifts_the_suspension(world: World) -> None:
    core, deadline = world.core, tomorrow()
    info = open_campaign(core, vendor="acme", deadline=deadline, actor=DPO)
    close_overdue_campaigns(core, now=after(deadline))
    assert not decide(world, "jdupont", "dpi-app-01").allowed
    confirm_line(core, line_id(world, info.id, "jdupont", "dpi-app-01"), actor=DPO)
    assert decide(world, "jdupont", "dpi-app-01").allowed
    event = audit_events(core, "access_review.confirmed")[-1]
    assert event.details["before"] == "suspended" and "lifting its suspension" in event.reasons[0]


def test_a_pending_request_cannot_be_approved_once_suspended(world: World) -> None:
    core, deadline = world.core, tomorrow()
    open_campaign(core, vendor="acme", deadline=deadline, actor=DPO)
    pending = world.file("jdupont", "dpi-app-01")
    close_overdue_campaigns(core, now=after(deadline))
    with pytest.raises(approvals.ApprovalError, match="suspended by access review") as caught:
        world.approve(pending.id, "alice")
    assert caught.value.code == "out_of_contract"


def test_revoking_refuses_at_once_until_a_later_confirmation(world: World) -> None:
    core = world.core
    first = open_campaign(core, vendor="acme", deadline=tomorrow(), actor=DPO)
    live = grant(world, "jdupont", "dpi-app-01")
    target_line = line_id(world, first.id, "jdupont", "dpi-app-01")
    with pytest.raises(ReviewError) as caught:
        revoke_line(core, target_line, actor=DPO, reason=" ")
    assert caught.value.code == "reason_required"
    revoke_line(core, target_line, actor=DPO, reason="n'intervient plus sur ce serveur")
    assert grant_row(world, live).status == "revoked"
    refused = decide(world, "jdupont", "dpi-app-01")
    assert refused.codes == ("access_revoked",)
    assert refused.headline == f"access to dpi-app-01 revoked by access review {first.id}"
    with pytest.raises(ReviewError) as caught:
        confirm_line(core, target_line, actor=DPO)
    assert caught.value.code == "line_already_decided"

    # Deciding every other line closes the campaign; the next one lists the access again,
    # pending (still refused: the latest decision stands) until it is confirmed.
    for line in get_campaign(core, first.id).lines:
        if line.decision == "pending":
            confirm_line(core, line.id, actor=DPO)
    assert get_campaign(core, first.id).campaign.status == "closed"
    second = open_campaign(core, vendor="acme", deadline=tomorrow() + timedelta(days=30), actor=DPO)
    assert not decide(world, "jdupont", "dpi-app-01").allowed
    confirm_line(core, line_id(world, second.id, "jdupont", "dpi-app-01"), actor=DPO)
    assert decide(world, "jdupont", "dpi-app-01").allowed


def test_suspension_is_per_account(world: World) -> None:
    from tests.approvals.conftest import contract_document, load_contract

    scope = contract_document()["scope"] | {
        "targets": [{"name": "dpi-app-01", "accounts": ["maint", "appadmin"]}]}
    load_contract(world.core, contract_document(scope=scope))
    core = world.core
    info = open_campaign(core, vendor="acme", deadline=tomorrow(), actor=DPO)
    for line in get_campaign(core, info.id).lines:
        if line.account == "appadmin" and line.technician == "jdupont":
            revoke_line(core, line.id, actor=DPO, reason="plus besoin du compte d'administration")
    with core.db.session() as session:
        kept, _ = decide_access(session, technician="jdupont", target="dpi-app-01", account="maint",
                                channel="request", at=utcnow())
        gone, _ = decide_access(session, technician="jdupont", target="dpi-app-01",
                                account="appadmin", channel="request", at=utcnow())
        grants = session.scalars(select(Grant)).all()
    assert kept.allowed and not gone.allowed and grants == []

"""The request state machine: filed with the engine's verdict, cancelled, expired, amended;
every transition audited with its actor and reason. Runs on SQLite and PostgreSQL."""

from __future__ import annotations

from datetime import timedelta

import pytest

from bastion import approvals
from bastion.approvals import ApprovalError
from bastion.audit import Actor
from bastion.models import utcnow
from tests.approvals.conftest import (
    World,
    assert_chain_intact,
    audit_events,
    contract_document,
    load_contract,
)

JDUPONT = Actor("technician:jdupont", "technician")


def test_a_filed_request_carries_the_verdict_and_contract_version(any_world: World) -> None:
    world = any_world
    request = world.file(channels=["shell", "sftp"], ticket=" CHG-77 ")
    assert request.status == "pending" and request.in_contract
    assert request.account == "maint"  # settled by the engine: the contract's only account
    assert request.ticket == "CHG-77"
    assert request.channels == ("sftp", "shell")
    assert request.contract_version_id is not None
    assert request.verdict["contract_reference"] == "ACME-1"
    assert request.verdict["summary"].startswith("allowed:")
    assert request.verdict["constraints"]["approvers_required"] == 1
    assert request.expires_at == request.window_end  # a 60-minute request waits at most 60
    event = audit_events(world.core, "request.filed")[-1]
    assert (event.actor, event.outcome, event.request_id) == ("technician:jdupont", "ok", request.id)
    assert event.technician == "jdupont" and event.target == "dpi-app-01"
    assert approvals.pending_requests(world.core) == [approvals.get_request(world.core, request.id)]


def test_planned_requests_wait_until_their_window_starts(any_world: World) -> None:
    world = any_world
    start = utcnow() + timedelta(days=2)
    request = world.file(start=start, minutes=120)
    assert request.window_start == start.replace(microsecond=0)
    expiry = world.core.settings.approvals.pending_expiry_minutes
    assert request.expires_at == request.window_start + timedelta(minutes=expiry)


def test_a_channel_the_contract_does_not_allow_is_out_of_contract(any_world: World) -> None:
    world = any_world
    assert world.file(channels=["shell", "forward"]).in_contract
    load_contract(world.core, contract_document(channels={"shell": True}))  # no SFTP now
    with pytest.raises(approvals.OutOfContract) as caught:
        world.file(channels=["shell", "sftp"])
    assert caught.value.reasons == ("channel sftp is not allowed by contract ACME-1",)
    stored = approvals.get_request(world.core, caught.value.request_id)
    assert stored.status == "denied" and stored.verdict["codes"] == ["channel_not_allowed"]
    assert audit_events(world.core, "request.refused")[-1].outcome == "denied"


def test_cancel_by_the_technician_is_audited(any_world: World) -> None:
    world = any_world
    request = world.file()
    cancelled = approvals.cancel_request(world.core, request.id, actor=JDUPONT,
                                         reason="Ctrl-C at the SSH prompt")
    assert cancelled.status == "cancelled" and cancelled.decided_at is not None
    event = audit_events(world.core, "request.cancelled")[-1]
    assert event.reasons == ["Ctrl-C at the SSH prompt"] and event.actor == "technician:jdupont"
    with pytest.raises(ApprovalError) as caught:
        approvals.cancel_request(world.core, request.id, actor=JDUPONT, reason="again")
    assert caught.value.code == "request_not_pending"
    assert approvals.pending_requests(world.core) == []


def test_a_technician_cannot_cancel_someone_elses_request(any_world: World) -> None:
    world = any_world
    request = world.file()
    with pytest.raises(ApprovalError) as caught:
        approvals.cancel_request(world.core, request.id,
                                 actor=Actor("technician:kbenali", "technician"), reason="oops")
    assert caught.value.code == "not_your_request"
    staff = approvals.cancel_request(world.core, request.id,
                                     actor=Actor("staff:carol", "admin"), reason="duplicate")
    assert staff.status == "cancelled"


def test_pending_requests_expire(any_world: World) -> None:
    world = any_world
    short, long = world.file(minutes=30), world.file(minutes=180)
    assert approvals.expire_pending_requests(world.core, utcnow()) == []
    later = utcnow() + timedelta(minutes=45)
    assert [r.id for r in approvals.pending_requests(world.core, now=later)] == [long.id]
    assert approvals.expire_pending_requests(world.core, later) == [short.id]
    assert approvals.get_request(world.core, short.id).status == "expired"
    event = audit_events(world.core, "request.expired")[-1]
    assert event.actor == "system" and event.request_id == short.id
    assert event.reasons[0].startswith("no decision before")
    assert_chain_intact(world.core)


def test_amending_a_pending_request_asks_the_engine_again(any_world: World) -> None:
    world = any_world
    request = world.file()
    amended = approvals.amend_request(world.core, request.id, actor=JDUPONT,
                                      window_end=request.window_end + timedelta(minutes=30),
                                      ticket="CHG-2")
    assert amended.window_end == request.window_end + timedelta(minutes=30)
    assert amended.ticket == "CHG-2" and amended.status == "pending"
    event = audit_events(world.core, "request.amended")[-1]
    assert event.details["before"]["ticket"] == "CHG-1234"
    assert event.details["after"]["ticket"] == "CHG-2"
    with pytest.raises(ApprovalError) as caught:
        approvals.amend_request(world.core, request.id,
                                actor=Actor("technician:kbenali", "technician"), reason="x")
    assert caught.value.code == "not_your_request"


def test_a_request_with_an_approval_can_no_longer_be_amended(world: World) -> None:
    request = world.file(target="dpi-db-01")
    world.approve(request.id, "alice")
    with pytest.raises(ApprovalError) as caught:
        approvals.amend_request(world.core, request.id, actor=JDUPONT, reason="other")
    assert caught.value.code == "request_not_pending"


@pytest.mark.parametrize(("fields", "code"), [
    ({"reason": "   "}, "reason_required"),
    ({"channels": []}, "invalid_input"),
    ({"channels": ["shell", "telnet"]}, "invalid_input"),
    ({"source": "carrier-pigeon"}, "invalid_input"),
    ({"ticket": "x" * 101}, "invalid_input"),
    ({"minutes": -5}, "invalid_input"),
])
def test_unusable_input_is_refused_with_a_clear_code(world: World, fields: dict, code: str) -> None:
    with pytest.raises(ApprovalError) as caught:
        world.file(**fields)
    assert caught.value.code == code


def test_naive_times_and_unknown_names_are_refused(world: World) -> None:
    with pytest.raises(ApprovalError) as caught:
        world.file(window_end=utcnow().replace(tzinfo=None) + timedelta(hours=1))
    assert caught.value.code == "invalid_input"
    with pytest.raises(ApprovalError) as caught:
        world.file(technician="nobody", actor=JDUPONT)
    assert caught.value.code == "unknown_technician"
    with pytest.raises(ApprovalError) as caught:
        world.file(target="nowhere")
    assert caught.value.code == "unknown_target"


def test_listing_requests(world: World) -> None:
    first = world.file()
    second = world.file(target="dpi-db-01")
    approvals.cancel_request(world.core, first.id, actor=JDUPONT, reason="not needed")
    assert [r.id for r in approvals.list_requests(world.core)] == [second.id, first.id]
    assert [r.id for r in approvals.list_requests(world.core, status="cancelled")] == [first.id]
    assert [r.id for r in approvals.list_requests(world.core, target="dpi-db-01")] == [second.id]
    assert approvals.list_requests(world.core, technician="kbenali") == []
    assert approvals.get_request(world.core, second.id).to_dict()["data_categories"] == [
        "administrative", "health", "ins"]
    with pytest.raises(ApprovalError) as caught:
        approvals.get_request(world.core, 424242)
    assert caught.value.code == "request_not_found" and caught.value.status == 404

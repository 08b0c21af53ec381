"""Approving with a WebAuthn assertion over the request's content, and every refusal."""

from __future__ import annotations

import json
import threading
from collections.abc import Callable
from datetime import timedelta
from typing import Any

import pytest
from sqlalchemy import select
from webauthn import options_to_json, verify_authentication_response

from bastion import approvals
from bastion.approvals import ApprovalError
from bastion.approvals.challenge import approval_challenge
from bastion.approvals.content import request_digest
from bastion.audit import Actor
from bastion.models import (
    AccessRequest,
    Grant,
    Review,
    StaffRole,
    WebAuthnChallenge,
    WebAuthnCredential,
    utcnow,
)
from tests.approvals.authenticator import SoftAuthenticator, b64url, unb64url
from tests.approvals.conftest import (
    World,
    assert_chain_intact,
    audit_events,
    contract_document,
    load_contract,
)


def refused(world: World, code: str, call: Callable[[], Any]) -> ApprovalError:
    """``call`` is refused with ``code``, and the refusal is an audit event."""
    before = len(audit_events(world.core))
    with pytest.raises(ApprovalError) as caught:
        call()
    assert caught.value.code == code, caught.value
    assert caught.value.message and caught.value.status in (400, 401, 403, 404, 409)
    events = audit_events(world.core)[before:]
    assert any(e.outcome == "denied" and e.details.get("code") == code for e in events), \
        [(e.action, e.details) for e in events]
    return caught.value


def answer(world: World, request_id: int, username: str, **kwargs: Any) -> dict[str, Any]:
    return world.keys[username].get(world.options(request_id, username), **kwargs)


def submit(world: World, request_id: int, username: str, response: Any) -> Callable[[], Any]:
    return lambda: approvals.approve(world.core, request_id, world.staff[username], response)


# --- the happy paths ---------------------------------------------------------------------

def test_file_approve_and_get_a_grant(any_world: World) -> None:
    world = any_world
    request = world.file()
    assert request.status == "pending" and request.approvals_required == 1
    options = json.loads(world.options(request.id, "alice"))
    assert options["rpId"] == "localhost"
    assert options["userVerification"] == "required"
    assert [c["id"] for c in options["allowCredentials"]] == [
        b64url(c.credential_id) for c in world.keys["alice"].credentials]

    response = world.keys["alice"].get(options)
    result = approvals.approve(world.core, request.id, world.staff["alice"], response)

    assert result.request.status == "approved" and result.approvals == 1
    assert result.grant is not None and result.grant.status == "approved"
    assert result.request.grant_id == result.grant.id
    assert [r.staff_username for r in result.request.reviews] == ["alice"]
    actions = [e.action for e in audit_events(world.core)]
    for action in ("request.filed", "request.approval", "request.approved", "grant.created",
                   "grant.certificate_issued"):
        assert action in actions
    assert_chain_intact(world.core)


def test_the_stored_proof_lets_an_auditor_check_what_was_signed(world: World) -> None:
    request = world.file()
    world.approve(request.id, "alice")
    with world.core.db.session() as session:
        review = session.scalar(select(Review).where(Review.request_id == request.id))
        challenge = session.scalar(select(WebAuthnChallenge).where(
            WebAuthnChallenge.challenge == review.challenge_digest))
        key = session.get(WebAuthnCredential, review.credential_id)
        row = session.get(AccessRequest, request.id)
        digest = request_digest(session, row)
    # The signed challenge is the request's content digest with the nonce...
    assert challenge.content_digest == digest
    assert approval_challenge(digest, challenge.nonce).hex() == challenge.challenge
    # ...and the kept assertion verifies against the approver's key, now and later.
    verify_authentication_response(
        credential=challenge.assertion, expected_challenge=bytes.fromhex(challenge.challenge),
        expected_rp_id="localhost", expected_origin=world.origin,
        credential_public_key=key.public_key, credential_current_sign_count=0,
        require_user_verification=True)
    assert challenge.consumed_at is not None and challenge.outcome == "ok"


def test_health_data_needs_two_different_approvers(any_world: World) -> None:
    world = any_world
    request = world.file(target="dpi-db-01")
    assert request.approvals_required == 2 and request.account == "dbmaint"

    first = world.approve(request.id, "alice")
    assert first.request.status == "pending" and first.grant is None
    assert (first.approvals, first.request.approvals_missing) == (1, 1)
    refused(world, "already_reviewed", lambda: world.options(request.id, "alice"))

    second = world.approve(request.id, "bob")
    assert second.request.status == "approved" and second.approvals == 2
    assert second.grant is not None
    assert {r.staff_username for r in second.request.reviews} == {"alice", "bob"}
    with world.core.db.session() as session:
        assert session.scalar(select(Grant).where(Grant.request_id == request.id)) is not None


def test_counters_that_stay_at_zero_are_accepted(world: World) -> None:
    # Many passkeys never count (always 0): that is no sign of cloning.
    world.keys["carol"] = SoftAuthenticator(world.origin, counter_step=0)
    world.enrol("carol")
    for _ in range(2):
        request = world.file()
        assert world.approve(request.id, "carol").request.status == "approved"


# --- the refusals of issue 5 -------------------------------------------------------------

def test_a_replayed_assertion_is_refused(world: World) -> None:
    request = world.file(target="dpi-db-01")
    response = answer(world, request.id, "alice")
    approvals.approve(world.core, request.id, world.staff["alice"], response)
    refused(world, "challenge_replayed", submit(world, request.id, "alice", response))
    other = world.file()
    refused(world, "challenge_replayed", submit(world, other.id, "alice", response))


def test_an_assertion_for_another_request_is_useless(world: World) -> None:
    first, second = world.file(), world.file(reason="another job")
    response = answer(world, first.id, "alice")
    refused(world, "challenge_for_other_request", submit(world, second.id, "alice", response))
    # Misdirected, it did not burn: it still approves the request it was made for.
    assert submit(world, first.id, "alice", response)().request.status == "approved"


def test_a_request_changed_after_the_challenge_cannot_be_approved(world: World) -> None:
    request = world.file()
    response = answer(world, request.id, "alice")
    approvals.amend_request(world.core, request.id, actor=Actor("technician:jdupont", "technician"),
                            reason="update the DPI application to 4.3 instead")
    refused(world, "request_changed", submit(world, request.id, "alice", response))
    # A fresh challenge over the new content works.
    assert world.approve(request.id, "alice").request.status == "approved"


def test_a_request_tampered_with_in_the_database_cannot_be_approved(world: World) -> None:
    request = world.file()
    response = answer(world, request.id, "alice")
    with world.core.db.session() as session:
        session.get(AccessRequest, request.id).window_end += timedelta(hours=2)
    refused(world, "request_changed", submit(world, request.id, "alice", response))


def test_wrong_origin_is_refused_and_burns_the_challenge(world: World) -> None:
    request = world.file()
    options = world.options(request.id, "alice")
    phished = world.keys["alice"].get(options, origin="https://bastion.evil.example")
    refused(world, "wrong_origin", submit(world, request.id, "alice", phished))
    genuine = world.keys["alice"].get(options)
    refused(world, "challenge_replayed", submit(world, request.id, "alice", genuine))


def test_wrong_rp_id_is_refused(world: World) -> None:
    request = world.file()
    response = answer(world, request.id, "alice", rp_id="evil.example")
    refused(world, "wrong_rp_id", submit(world, request.id, "alice", response))


def test_a_counter_going_backwards_suspends_the_key(world: World) -> None:
    world.approve(world.file().id, "alice")  # the key's counter is now 1
    request = world.file()
    response = answer(world, request.id, "alice", sign_count=1)
    error = refused(world, "counter_regressed", submit(world, request.id, "alice", response))
    assert "cloned" in error.message
    with world.core.db.session() as session:
        key = session.scalar(select(WebAuthnCredential).where(
            WebAuthnCredential.staff_id == world.staff["alice"]))
        assert key.sign_count == 1  # a refused assertion never moves the counter
        assert key.suspended_at is not None and "from 1 to 1" in key.suspended_reason
    [event] = audit_events(world.core, "staff.security_key_suspended")
    assert event.details["username"] == "alice" and event.outcome == "denied"
    # Suspended: the key is offered to nobody any more, genuine or copied.
    refused(world, "no_credential", lambda: world.options(request.id, "alice"))


def test_the_approver_is_never_the_requester(world: World) -> None:
    request = world.file(source="console", declared_by=world.staff["alice"])
    assert request.declared_by == "alice"
    refused(world, "approver_is_requester", lambda: world.options(request.id, "alice"))
    refused(world, "approver_is_requester",
            lambda: approvals.deny(world.core, request.id, world.staff["alice"], "no"))
    assert world.approve(request.id, "bob").request.status == "approved"


def test_the_requester_check_holds_at_approval_time_too(world: World) -> None:
    request = world.file()
    response = answer(world, request.id, "alice")
    with world.core.db.session() as session:  # alice files it on the technician's behalf
        session.get(AccessRequest, request.id).declared_by_staff_id = world.staff["alice"]
    refused(world, "approver_is_requester", submit(world, request.id, "alice", response))


def test_a_staff_account_of_the_technician_cannot_approve(world: World) -> None:
    with world.core.db.session() as session:
        from bastion.staff import add_staff

        user = add_staff(session, world.core.audit, username="jean", full_name="Jean Dupont",
                         roles=["approver"], password=None, email="Jean.Dupont@acme.example",
                         actor=Actor("cli:test", "admin"))
        world.staff["jean"] = user.id
    world.enrol("jean")
    request = world.file()
    refused(world, "approver_is_requester", lambda: world.options(request.id, "jean"))


def test_staff_without_the_approver_role_cannot_approve(world: World) -> None:
    world.enrol("dave")
    request = world.file()
    refused(world, "not_an_approver", lambda: world.options(request.id, "dave"))
    refused(world, "not_an_approver",
            lambda: approvals.deny(world.core, request.id, world.staff["dave"], "no"))
    # A role withdrawn between the challenge and the answer counts too.
    world.enrol("carol")
    response = answer(world, request.id, "carol")
    with world.core.db.session() as session:
        session.execute(StaffRole.__table__.delete().where(
            StaffRole.staff_id == world.staff["carol"], StaffRole.role == "approver"))
    refused(world, "not_an_approver", submit(world, request.id, "carol", response))


def test_a_second_approval_by_the_same_person_is_refused(world: World) -> None:
    request = world.file(target="dpi-db-01")
    first, second = answer(world, request.id, "alice"), answer(world, request.id, "alice")
    approvals.approve(world.core, request.id, world.staff["alice"], first)
    refused(world, "already_reviewed", submit(world, request.id, "alice", second))
    assert approvals.get_request(world.core, request.id).status == "pending"


def test_approval_after_the_request_expired_is_refused(world: World) -> None:
    request = world.file(minutes=180)  # expires after pending_expiry_minutes (60)
    response = answer(world, request.id, "alice")
    late = request.expires_at + timedelta(seconds=1)
    refused(world, "request_expired",
            lambda: approvals.approve(world.core, request.id, world.staff["alice"], response,
                                      now=late))
    assert approvals.get_request(world.core, request.id).status == "expired"
    assert audit_events(world.core, "request.expired")


def test_an_expired_challenge_is_refused(world: World) -> None:
    request = world.file(minutes=180)
    response = answer(world, request.id, "alice")
    later = utcnow() + timedelta(seconds=world.core.settings.approvals.challenge_seconds + 1)
    refused(world, "challenge_expired",
            lambda: approvals.approve(world.core, request.id, world.staff["alice"], response,
                                      now=later))


def test_another_approvers_challenge_is_refused(world: World) -> None:
    request = world.file()
    options = world.options(request.id, "alice")
    bobs = world.keys["bob"].get(options, credential=world.keys["bob"].credentials[0])
    refused(world, "challenge_for_other_staff", submit(world, request.id, "bob", bobs))


def test_a_key_not_registered_to_the_approver_is_refused(world: World) -> None:
    request = world.file()
    options = world.options(request.id, "alice")
    bobs = world.keys["bob"].get(options, credential=world.keys["bob"].credentials[0])
    refused(world, "unknown_credential", submit(world, request.id, "alice", bobs))


@pytest.mark.parametrize(("change", "code"), [
    ({"uv": False}, "user_not_verified"),
    ({"up": False}, "user_not_present"),
    ({"kind": "webauthn.create"}, "wrong_ceremony"),
])
def test_flags_and_ceremony_type_are_checked(world: World, change: dict, code: str) -> None:
    request = world.file()
    refused(world, code, submit(world, request.id, "alice", answer(world, request.id, "alice",
                                                                   **change)))


@pytest.mark.parametrize("part", ["signature", "authenticatorData"])
def test_a_tampered_assertion_does_not_verify(world: World, part: str) -> None:
    request = world.file()
    response = answer(world, request.id, "alice")
    raw = bytearray(unb64url(response["response"][part]))
    raw[-1] ^= 0x01
    response["response"][part] = b64url(bytes(raw))
    refused(world, "bad_signature", submit(world, request.id, "alice", response))


def test_out_of_contract_requests_are_stored_denied_and_cannot_be_approved(world: World) -> None:
    with pytest.raises(approvals.OutOfContract) as caught:
        world.file(account="appadmin")  # not an account the contract allows
    error = caught.value
    assert error.code == "out_of_contract" and error.request_id is not None
    assert any("appadmin" in reason for reason in error.reasons)
    stored = approvals.get_request(world.core, error.request_id)
    assert stored.status == "denied" and not stored.in_contract
    assert stored.verdict["codes"] == ["account_not_allowed"]
    assert audit_events(world.core, "request.refused")[-1].request_id == stored.id
    refused(world, "out_of_contract", lambda: world.options(stored.id, "alice"))


def test_a_request_the_contract_no_longer_allows_cannot_be_approved(world: World) -> None:
    request = world.file()
    response = answer(world, request.id, "alice")
    document = contract_document()
    document["technicians"] = document["technicians"][1:]  # jdupont leaves the contract
    load_contract(world.core, document)
    error = refused(world, "out_of_contract", submit(world, request.id, "alice", response))
    assert any("jdupont" in reason for reason in error.reasons)


def test_a_new_contract_version_needs_a_new_request(world: World) -> None:
    request = world.file()
    response = answer(world, request.id, "alice")
    document = contract_document()
    document["scope"]["max_session_minutes"] = 200
    load_contract(world.core, document)
    refused(world, "contract_changed", submit(world, request.id, "alice", response))


# --- denials -----------------------------------------------------------------------------

def test_deny_needs_a_reason_and_ends_the_request(any_world: World) -> None:
    world = any_world
    request = world.file()
    refused(world, "reason_required",
            lambda: approvals.deny(world.core, request.id, world.staff["bob"], "  "))
    denied = approvals.deny(world.core, request.id, world.staff["bob"], "no change window")
    assert denied.status == "denied" and denied.reviews[0].reason == "no change window"
    event = audit_events(world.core, "request.denied")[-1]
    assert event.reasons == ["no change window"] and event.actor == "staff:bob"
    refused(world, "request_not_pending", lambda: world.options(request.id, "alice"))
    refused(world, "already_reviewed",
            lambda: approvals.deny(world.core, request.id, world.staff["bob"], "again"))


def test_an_approved_request_cannot_be_denied(world: World) -> None:
    request = world.file()
    world.approve(request.id, "alice")
    refused(world, "request_not_pending",
            lambda: approvals.deny(world.core, request.id, world.staff["bob"], "too late"))


def test_unknown_request_and_staff(world: World) -> None:
    refused(world, "request_not_found", lambda: world.options(9999, "alice"))
    refused(world, "staff_not_found",
            lambda: approvals.approval_options(world.core, world.file().id, 9999))


def test_every_refusal_left_the_chain_intact(world: World) -> None:
    request = world.file()
    response = answer(world, request.id, "alice", origin="https://evil.example")
    refused(world, "wrong_origin", submit(world, request.id, "alice", response))
    refused(world, "challenge_replayed", submit(world, request.id, "alice", response))
    assert_chain_intact(world.core)
    assert approvals.get_request(world.core, request.id).reviews == ()


def test_options_are_json_for_the_browser(world: World) -> None:
    request = world.file()
    options = approvals.approval_options(world.core, request.id, world.staff["alice"])
    data = json.loads(options_to_json(options))
    assert len(unb64url(data["challenge"])) == 32
    assert data["timeout"] == world.core.settings.approvals.challenge_seconds * 1000


# --- several nodes at once ---------------------------------------------------------------

def _race(*calls: Callable[[], Any]) -> list[Any]:
    """Run the calls at the same instant in threads; return results or raised errors."""
    barrier = threading.Barrier(len(calls))
    results: list[Any] = [None] * len(calls)

    def run(index: int) -> None:
        barrier.wait()
        try:
            results[index] = calls[index]()
        except ApprovalError as exc:
            results[index] = exc

    threads = [threading.Thread(target=run, args=(i,)) for i in range(len(calls))]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(30)
    return results


def test_the_same_assertion_presented_twice_at_once_is_used_once(any_world: World) -> None:
    world = any_world
    request = world.file(target="dpi-db-01")
    response = answer(world, request.id, "alice")
    results = _race(submit(world, request.id, "alice", response),
                    submit(world, request.id, "alice", response))
    errors = [r for r in results if isinstance(r, ApprovalError)]
    assert len(errors) == 1 and errors[0].code == "challenge_replayed"
    assert approvals.get_request(world.core, request.id).approvals == 1


def test_two_approvers_at_once_make_exactly_one_grant(any_world: World) -> None:
    world = any_world
    request = world.file(target="dpi-db-01")
    first, second = answer(world, request.id, "alice"), answer(world, request.id, "bob")
    results = _race(submit(world, request.id, "alice", first),
                    submit(world, request.id, "bob", second))
    assert not [r for r in results if isinstance(r, ApprovalError)]
    assert sorted(r.grant is not None for r in results) == [False, True]
    assert len(approvals.list_grants(world.core)) == 1
    assert approvals.get_request(world.core, request.id).status == "approved"


def test_each_approver_sees_only_what_they_may_still_review(world: World) -> None:
    filed_by_alice = world.file(source="console", declared_by=world.staff["alice"])
    health = world.file(target="dpi-db-01")
    world.approve(health.id, "bob")
    queue = {name: [r.id for r in approvals.pending_requests(world.core,
                                                             for_staff=world.staff[name])]
             for name in ("alice", "bob")}
    assert queue == {"alice": [health.id], "bob": [filed_by_alice.id]}
    assert [r.id for r in approvals.pending_requests(world.core)] == [filed_by_alice.id, health.id]

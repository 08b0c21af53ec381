"""Registering security keys and passkeys, and signing in to the console with them."""

from __future__ import annotations

import json
from datetime import timedelta

import pytest
from webauthn import options_to_json

from bastion import approvals
from bastion.approvals import ApprovalError
from bastion.audit import Actor
from bastion.models import utcnow
from bastion.sign_in_lockout import LOCK_AFTER_FAILURES
from tests.approvals.authenticator import SoftAuthenticator, b64url
from tests.approvals.conftest import PASSWORD, World, audit_events


def _register(world: World, username: str, key: SoftAuthenticator, **create: object) -> None:
    options = options_to_json(approvals.registration_options(world.core, world.staff[username]))
    approvals.register_credential(world.core, world.staff[username], key.create(options, **create),
                                  name="spare key")


def test_registration_options_require_user_verification(world: World) -> None:
    options = json.loads(options_to_json(approvals.registration_options(
        world.core, world.staff["carol"], passkey=True)))
    assert options["rp"] == {"id": "localhost", "name": "Bastion DPI"}
    assert options["user"]["name"] == "carol" and options["attestation"] == "none"
    assert options["authenticatorSelection"]["userVerification"] == "required"
    assert options["authenticatorSelection"]["residentKey"] == "required"
    # The user handle names nobody.
    assert "carol" not in options["user"]["id"]


def test_another_key_needs_the_key_already_held(world: World) -> None:
    with pytest.raises(ApprovalError) as caught:
        approvals.registration_options(world.core, world.staff["alice"])
    assert caught.value.code == "key_confirmation_required"
    confirm = approvals.key_change_options(world.core, world.staff["alice"], action="add")
    options = json.loads(options_to_json(approvals.start_key_addition(
        world.core, world.staff["alice"], world.keys["alice"].get(options_to_json(confirm)))))
    # The key alice already holds is excluded, so it is not registered twice.
    assert [c["id"] for c in options["excludeCredentials"]] == [
        b64url(world.keys["alice"].credentials[0].credential_id)]


def test_a_registered_key_is_listed_and_audited(world: World) -> None:
    [key] = approvals.list_credentials(world.core, world.staff["alice"])
    assert key.name == "alice's key" and key.discoverable and key.transports == ("usb",)
    assert key.credential_id == b64url(world.keys["alice"].credentials[0].credential_id)
    event = audit_events(world.core, "staff.security_key_registered")[0]
    assert event.actor == "staff:alice" and event.details["name"] == "alice's key"


@pytest.mark.parametrize(("create", "code"), [
    ({"uv": False}, "user_not_verified"),
    ({"origin": "https://evil.example"}, "wrong_origin"),
    ({"rp_id": "evil.example"}, "wrong_rp_id"),
    ({"kind": "webauthn.get"}, "wrong_ceremony"),
    ({"challenge": b"\x00" * 32}, "challenge_unknown"),
])
def test_registration_refusals(world: World, create: dict, code: str) -> None:
    with pytest.raises(ApprovalError) as caught:
        _register(world, "carol", SoftAuthenticator(world.origin), **create)
    assert caught.value.code == code
    assert approvals.list_credentials(world.core, world.staff["carol"]) == []
    assert audit_events(world.core, "staff.security_key_refused")[-1].details["code"] == code


def test_a_registration_answer_works_once_and_for_its_own_staff_member(world: World) -> None:
    key = SoftAuthenticator(world.origin)
    options = options_to_json(approvals.registration_options(world.core, world.staff["carol"]))
    response = key.create(options)
    with pytest.raises(ApprovalError) as caught:
        approvals.register_credential(world.core, world.staff["dave"], response, name="x")
    assert caught.value.code == "challenge_for_other_staff"
    approvals.register_credential(world.core, world.staff["carol"], response, name="mine")
    with pytest.raises(ApprovalError) as caught:
        approvals.register_credential(world.core, world.staff["carol"], response, name="again")
    assert caught.value.code == "challenge_replayed"


def test_keys_are_revoked_never_deleted_and_never_the_last_by_their_owner(world: World) -> None:
    [only] = approvals.list_credentials(world.core, world.staff["alice"])
    with pytest.raises(ApprovalError) as caught:
        approvals.key_change_options(world.core, world.staff["alice"], action="revoke",
                                     credential=only.id)
    assert caught.value.code == "last_credential"
    world.enrol("alice")
    confirm = approvals.key_change_options(world.core, world.staff["alice"], action="revoke",
                                           credential=only.id)
    approvals.revoke_own_credential(world.core, world.staff["alice"], only.id,
                                    world.keys["alice"].get(options_to_json(confirm)))
    keys = {k.id: k for k in approvals.list_credentials(world.core, world.staff["alice"])}
    assert keys[only.id].revoked_at is not None and not keys[only.id].usable
    assert audit_events(world.core, "staff.security_key_revoked")[-1].actor == "staff:alice"
    # An administrator may revoke even the last usable key (a lost key).
    [last] = [k for k in keys.values() if k.usable]
    approvals.revoke_credential(world.core, world.staff["alice"], last.id,
                                actor=Actor("staff:carol", "admin"), reason="key lost")
    assert not any(k.usable for k in approvals.list_credentials(world.core, world.staff["alice"]))


def test_password_then_security_key(world: World) -> None:
    staff_id = approvals.check_password(world.core, "alice", PASSWORD)
    assert staff_id == world.staff["alice"]
    options = options_to_json(approvals.sign_in_options(world.core, staff=staff_id))
    assert json.loads(options)["userVerification"] == "preferred"
    signed = approvals.verify_sign_in(world.core, world.keys["alice"].get(options, uv=False),
                                      staff=staff_id)
    assert (signed.username, signed.method, signed.roles) == ("alice", "password+key",
                                                              ("approver",))
    event = audit_events(world.core, "staff.signed_in")[-1]
    assert event.actor == "staff:alice" and event.details["method"] == "password+key"


def test_passkey_alone_requires_user_verification(world: World) -> None:
    key = world.enrol("carol", passkey=True)
    options = options_to_json(approvals.sign_in_options(world.core))
    assert "allowCredentials" not in json.loads(options) or not json.loads(options)["allowCredentials"]
    with pytest.raises(ApprovalError) as caught:
        approvals.verify_sign_in(world.core, key.get(options, uv=False))
    assert caught.value.code == "user_not_verified"
    options = options_to_json(approvals.sign_in_options(world.core))
    signed = approvals.verify_sign_in(world.core, key.get(options))
    assert (signed.username, signed.method) == ("carol", "passkey")


def test_a_passkey_challenge_is_no_second_factor_and_the_reverse(world: World) -> None:
    passkey_options = options_to_json(approvals.sign_in_options(world.core))
    answer = world.keys["alice"].get(passkey_options,
                                     credential=world.keys["alice"].credentials[0])
    with pytest.raises(ApprovalError) as caught:
        approvals.verify_sign_in(world.core, answer, staff=world.staff["alice"])
    assert caught.value.code == "challenge_for_other_staff"
    second_factor = options_to_json(approvals.sign_in_options(world.core, staff=world.staff["bob"]))
    with pytest.raises(ApprovalError) as caught:
        approvals.verify_sign_in(world.core, world.keys["bob"].get(second_factor))
    assert caught.value.code == "challenge_for_other_staff"


def test_someone_elses_key_is_no_second_factor(world: World) -> None:
    options = options_to_json(approvals.sign_in_options(world.core, staff=world.staff["alice"]))
    bobs = world.keys["bob"].get(options, credential=world.keys["bob"].credentials[0])
    with pytest.raises(ApprovalError) as caught:
        approvals.verify_sign_in(world.core, bobs, staff=world.staff["alice"])
    assert caught.value.code == "unknown_credential"
    assert audit_events(world.core, "staff.sign_in_refused")[-1].details["code"] == "unknown_credential"


def test_wrong_passwords_lock_the_account(world: World) -> None:
    for _ in range(LOCK_AFTER_FAILURES):
        with pytest.raises(ApprovalError) as caught:
            approvals.check_password(world.core, "bob", "not the password at all")
        assert caught.value.code == "sign_in_failed"
    with pytest.raises(ApprovalError) as caught:  # even the right password, for now
        approvals.check_password(world.core, "bob", PASSWORD)
    assert caught.value.code == "sign_in_failed"  # as for an unknown name: nothing to enumerate
    later = utcnow() + timedelta(minutes=16)
    assert approvals.check_password(world.core, "bob", PASSWORD, now=later) == world.staff["bob"]
    refusals = audit_events(world.core, "staff.sign_in_refused")
    assert len(refusals) == LOCK_AFTER_FAILURES + 1
    assert "locked" in refusals[-2].reasons[0]
    assert refusals[-1].reasons[0].startswith("account locked until")


def test_unknown_user_and_disabled_account_look_like_a_wrong_password(world: World) -> None:
    with pytest.raises(ApprovalError) as unknown:
        approvals.check_password(world.core, "mallory", PASSWORD)
    with world.core.db.session() as session:
        from bastion.models import StaffUser

        session.get(StaffUser, world.staff["dave"]).active = False
    with pytest.raises(ApprovalError) as disabled:
        approvals.check_password(world.core, "dave", PASSWORD)
    assert unknown.value.to_dict() == disabled.value.to_dict()
    assert unknown.value.code == "sign_in_failed"
    reasons = [e.reasons[0] for e in audit_events(world.core, "staff.sign_in_refused")]
    assert reasons == ["unknown user name", "account disabled"]  # the audit log says which

"""Issue 13, through the real console: an insider with an admin account (or only a copied
console cookie) and a software security key.

1. separation of duties: nobody changes their own roles; granting a role waits for a
   second person's security-key confirmation; a new approver serves a probation; the DPO
   hears of every role change;
2. adding or revoking a key needs an existing key (or, without any, a one-time link);
3. keys that signed approvals are revoked, never deleted, and the proof stays verifiable;
4. a key whose counter goes backwards is suspended, and its owner, the admins and the
   DPO are told.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import select
from webauthn import verify_authentication_response
from webauthn.helpers import parse_authentication_credential_json

from bastion.approvals import deliver_pending
from bastion.context import Bastion
from bastion.models import (
    AuditEvent,
    NotificationOutbox,
    Review,
    RoleChange,
    StaffUser,
    WebAuthnChallenge,
    WebAuthnCredential,
)
from tests.approvals.authenticator import SoftAuthenticator, b64url
from tests.approvals.conftest import World, build_world
from tests.approvals.test_notifications import Mailbox, smtp_server
from web import create_app

from .conftest import PASSWORD, csrf_from, make_staff, soft_key

__all__ = ["smtp_server"]  # a fixture used below


@dataclass
class Hospital:
    app: Flask
    core: Bastion
    ids: dict[str, int]
    keys: dict[str, SoftAuthenticator]
    world: World

    def client(self, username: str) -> FlaskClient:
        """A browser signed in as ``username`` with password and security key."""
        client = self.app.test_client()
        token = csrf_from(client.get("/sign-in").get_data(as_text=True))
        step = client.post("/sign-in", data={"username": username, "password": PASSWORD,
                                             "csrf_token": token})
        assert step.location == "/sign-in/key", step.get_data(as_text=True)
        signed = ceremony(client, "/sign-in/key/options", "/sign-in/key/verify",
                          self.keys[username])
        assert signed.status_code == 200, signed.get_json()
        return client


def csrf(client: FlaskClient, page: str = "/account/keys") -> dict[str, str]:
    return {"X-CSRFToken": csrf_from(client.get(page).get_data(as_text=True))}


def ceremony(client: FlaskClient, options_url: str, verify_url: str, key: SoftAuthenticator,
             **answer: Any) -> Any:
    """What web/static/js/webauthn.js does for an assertion: options, key, answer."""
    headers = csrf(client, "/sign-in" if options_url.startswith("/sign-in") else "/account/keys")
    options = client.post(options_url, headers=headers)
    assert options.status_code == 200, options.get_json()
    return client.post(verify_url, json={"credential": key.get(options.get_json()["options"],
                                                                **answer)}, headers=headers)


def outbox(core: Bastion, kind: str) -> list[NotificationOutbox]:
    with core.db.session() as db:
        rows = list(db.scalars(select(NotificationOutbox).where(NotificationOutbox.kind == kind)
                               .order_by(NotificationOutbox.id)))
        db.expunge_all()
        return rows


def events(core: Bastion, action: str) -> list[AuditEvent]:
    with core.db.session() as db:
        rows = list(db.scalars(select(AuditEvent).where(AuditEvent.action == action)
                               .order_by(AuditEvent.id)))
        db.expunge_all()
        return rows


@pytest.fixture
def hospital(core: Bastion, tmp_path: Path, smtp_server: tuple[int, Mailbox]) -> Iterator[Hospital]:
    """The approvals tests' hospital (a contract; alice and bob approve, carol approves and
    administers, dave administers) plus chloe, the DPO; each holds a software key. E-mail
    goes to a real local SMTP server."""
    settings = core.settings.with_changes("smtp", host="127.0.0.1", port=smtp_server[0])
    configured = Bastion(settings=settings, db=core.db, keys=core.keys, audit=core.audit,
                         node=core.node)
    world = build_world(configured, tmp_path)
    ids = dict(world.staff)
    ids["chloe"] = world.staff["chloe"] = make_staff(configured, "chloe", ["dpo"], with_key=False)
    with configured.db.session() as db:
        db.get(StaffUser, ids["chloe"]).email = "chloe@chu.example"
    keys = {username: world.enrol(username) for username in ids}
    yield Hospital(create_app(configured, {"TESTING": True}), configured, ids, keys, world)


def roles_of(core: Bastion, staff_id: int) -> set[str]:
    with core.db.session() as db:
        return db.get(StaffUser, staff_id).role_names


def post_roles(client: FlaskClient, staff_id: int, roles: list[str]):  # noqa: ANN201
    page = f"/admin/staff/{staff_id}"
    token = csrf_from(client.get(page).get_data(as_text=True))
    return client.post(page, data={"roles": roles, "csrf_token": token})


def pending_change(core: Bastion, staff_id: int) -> int:
    with core.db.session() as db:
        return db.scalar(select(RoleChange.id).where(RoleChange.staff_id == staff_id,
                                                     RoleChange.status == "pending"))


def file_request(hospital: Hospital, approvals_required: int) -> int:
    """A real request within the contract: health data needs two approvals."""
    request = hospital.world.file(target="dpi-db-01" if approvals_required == 2 else "dpi-app-01")
    assert request.approvals_required == approvals_required
    return request.id


# --- 1. separation of duties ------------------------------------------------------------

def test_an_admin_cannot_give_himself_the_approver_role(hospital: Hospital) -> None:
    dave = hospital.client("dave")
    refused = post_roles(dave, hospital.ids["dave"], ["admin", "approver"])
    assert refused.status_code == 400
    assert "Vous ne pouvez pas changer vos propres rôles" in refused.get_data(as_text=True)
    assert roles_of(hospital.core, hospital.ids["dave"]) == {"admin"}
    assert pending_change(hospital.core, hospital.ids["dave"]) is None


def test_granting_a_role_waits_for_a_second_persons_key(hospital: Hospital) -> None:
    core, dave = hospital.core, hospital.client("dave")
    # dave creates an accomplice account with the approver role: it gets no role yet.
    token = csrf_from(dave.get("/admin/staff/new").get_data(as_text=True))
    created = dave.post("/admin/staff/new", data={
        "username": "mallory", "full_name": "Mallory", "roles": ["approver"],
        "password": "un mot de passe assez long", "confirm": "un mot de passe assez long",
        "csrf_token": token})
    assert created.status_code == 302
    with core.db.session() as db:
        mallory = db.scalar(select(StaffUser).where(StaffUser.username == "mallory"))
        assert mallory.role_names == set()
        mallory_id = mallory.id
    change = pending_change(core, mallory_id)
    assert change is not None
    # He cannot confirm his own proposal, with or without his key.
    refused = dave.post(f"/admin/role-changes/{change}/options", headers=csrf(dave))
    assert refused.status_code == 403 and refused.get_json()["error"]["code"] == "confirmer_is_party"
    assert roles_of(core, mallory_id) == set()
    # An approver is no confirmer.
    alice = hospital.client("alice")
    assert alice.post(f"/admin/role-changes/{change}/options", headers=csrf(alice)).status_code == 403

    # Another admin confirms with her key: applied, signed, audited, told to the DPO.
    carol = hospital.client("carol")
    headers = csrf(carol)
    options = carol.post(f"/admin/role-changes/{change}/options", headers=headers).get_json()
    answer = hospital.keys["carol"].get(options["options"])
    done = carol.post(f"/admin/role-changes/{change}/confirm", json={"credential": answer},
                      headers=headers)
    assert done.status_code == 200, done.get_json()
    assert roles_of(core, mallory_id) == {"approver"}
    [applied] = [e for e in events(core, "staff.roles_changed")
                 if e.details.get("change") == change]
    assert applied.actor == "staff:carol" and applied.details["proposed_by"] == "dave"
    with core.db.session() as db:
        row = db.get(RoleChange, change)
        assert (row.status, row.decided_by_id) == ("applied", hospital.ids["carol"])
        assert db.scalar(select(WebAuthnChallenge.assertion)
                         .where(WebAuthnChallenge.challenge == row.challenge)) is not None
    # The same answer does not confirm twice.
    replay = carol.post(f"/admin/role-changes/{change}/confirm", json={"credential": answer},
                        headers=headers)
    assert replay.status_code == 409
    told = {(m.recipient, m.subject) for m in outbox(core, "staff.roles")}
    assert any(r == "chloe@chu.example" and "mallory" in s for r, s in told)
    # Roles are named in the reader's words, never as codes (staff default to French).
    bodies = [m.body for m in outbox(core, "staff.roles") if m.channel == "email"]
    assert bodies and all("approbateur" in body and "approver" not in body for body in bodies)


def test_a_new_approver_does_not_count_towards_dual_approval(hospital: Hospital) -> None:
    core, dave = hospital.core, hospital.client("dave")
    mallory = make_staff(core, "mallory", ["dpo"], with_key=False)
    key = soft_key(core, mallory)
    assert post_roles(dave, mallory, ["approver", "dpo"]).status_code == 302
    change = pending_change(core, mallory)
    carol = hospital.client("carol")
    assert ceremony(carol, f"/admin/role-changes/{change}/options",
                    f"/admin/role-changes/{change}/confirm",
                    hospital.keys["carol"]).status_code == 200

    hospital.keys["mallory"] = key
    client = hospital.client("mallory")
    two = file_request(hospital, approvals_required=2)
    refused = client.post(f"/requests/{two}/approve/options", headers=csrf(client))
    assert refused.status_code == 403
    assert refused.get_json()["error"]["code"] == "approver_on_probation"
    [audited] = [e for e in events(core, "request.approval_refused")
                 if e.details.get("code") == "approver_on_probation"]
    assert audited.actor == "staff:mallory"
    one = file_request(hospital, approvals_required=1)
    assert client.post(f"/requests/{one}/approve/options", headers=csrf(client)).status_code == 200
    # ... until the probation ends (here: set back in time, as the clock would).
    with core.db.session() as db:
        for role in db.get(StaffUser, mallory).roles:
            role.granted_at -= timedelta(hours=core.settings.approvals.new_approver_hours + 1)
    assert client.post(f"/requests/{two}/approve/options", headers=csrf(client)).status_code == 200


def test_the_dpo_vouches_for_an_approver_an_admin_confirmed(hospital: Hospital) -> None:
    core, dave = hospital.core, hospital.client("dave")
    hugo = make_staff(core, "hugo", ["dpo"], with_key=False)
    hospital.keys["hugo"] = soft_key(core, hugo)
    assert post_roles(dave, hugo, ["approver", "dpo"]).status_code == 302
    change = pending_change(core, hugo)
    carol = hospital.client("carol")
    # Only the DPO vouches; not before the change applies.
    assert carol.post(f"/admin/role-changes/{change}/vouch/options",
                      headers=csrf(carol)).status_code == 403
    chloe = hospital.client("chloe")
    early = chloe.post(f"/admin/role-changes/{change}/vouch/options", headers=csrf(chloe))
    assert early.status_code == 409
    assert ceremony(carol, f"/admin/role-changes/{change}/options",
                    f"/admin/role-changes/{change}/confirm",
                    hospital.keys["carol"]).status_code == 200
    client = hospital.client("hugo")
    two = file_request(hospital, approvals_required=2)
    assert client.post(f"/requests/{two}/approve/options", headers=csrf(client)).status_code == 403
    assert "Confirmer le nouvel approbateur" in chloe.get(f"/admin/role-changes/{change}").get_data(
        as_text=True)
    vouched = ceremony(chloe, f"/admin/role-changes/{change}/vouch/options",
                       f"/admin/role-changes/{change}/vouch", hospital.keys["chloe"])
    assert vouched.status_code == 200, vouched.get_json()
    assert events(core, "staff.approver_vouched")[-1].actor == "staff:chloe"
    assert client.post(f"/requests/{two}/approve/options", headers=csrf(client)).status_code == 200


def test_the_dpos_confirmation_ends_the_probation(hospital: Hospital) -> None:
    core, dave = hospital.core, hospital.client("dave")
    gaston = make_staff(core, "gaston", ["dpo"], with_key=False)
    hospital.keys["gaston"] = soft_key(core, gaston)
    assert post_roles(dave, gaston, ["approver", "dpo"]).status_code == 302
    change = pending_change(core, gaston)
    chloe = hospital.client("chloe")
    assert ceremony(chloe, f"/admin/role-changes/{change}/options",
                    f"/admin/role-changes/{change}/confirm",
                    hospital.keys["chloe"]).status_code == 200
    client = hospital.client("gaston")
    two = file_request(hospital, approvals_required=2)
    assert client.post(f"/requests/{two}/approve/options", headers=csrf(client)).status_code == 200


def test_removing_a_role_applies_at_once_and_is_told_to_the_dpo(hospital: Hospital) -> None:
    dave = hospital.client("dave")
    assert post_roles(dave, hospital.ids["carol"], ["dpo"]).status_code == 302
    assert pending_change(hospital.core, hospital.ids["carol"]) is not None  # dpo: granted
    assert post_roles(dave, hospital.ids["alice"], ["dpo"]).status_code == 302
    assert roles_of(hospital.core, hospital.ids["alice"]) == {"approver"}  # waits: dpo added
    refuse = dave.post(f"/admin/role-changes/{pending_change(hospital.core, hospital.ids['alice'])}"
                      "/refuse", data={"reason": "typo", "csrf_token": csrf_from(
                          dave.get("/admin/role-changes").get_data(as_text=True))})
    assert refuse.status_code == 302
    assert pending_change(hospital.core, hospital.ids["alice"]) is None
    make_staff(hospital.core, "erin", ["approver", "dpo"], with_key=False)
    with hospital.core.db.session() as db:
        erin = db.scalar(select(StaffUser.id).where(StaffUser.username == "erin"))
    assert post_roles(dave, erin, ["dpo"]).status_code == 302
    assert roles_of(hospital.core, erin) == {"dpo"}
    kinds = [m.subject for m in outbox(hospital.core, "staff.roles")
             if m.recipient == "chloe@chu.example"]
    assert any("erin" in s for s in kinds) and any("alice" in s for s in kinds)


# --- 2. adding or revoking a key needs an existing key -----------------------------------

def test_a_copied_cookie_cannot_add_a_key(hospital: Hospital) -> None:
    core, alice = hospital.core, hospital.client("alice")
    attacker = SoftAuthenticator(core.settings.web.public_url)
    headers = csrf(alice)
    step = alice.post("/account/keys/options", json={"name": "x"}, headers=headers).get_json()
    # The first step asks for an assertion of a key alice holds, not for a new key.
    assert step["ceremony"] == "get" and step["next"] == "/account/keys/confirm"
    allowed = [c["id"] for c in step["options"]["allowCredentials"]]
    assert allowed == [b64url(hospital.keys["alice"].credentials[0].credential_id)]
    # Answering that challenge with a new key's registration is refused...
    forged = attacker.create({"rp": {"id": "localhost", "name": "x"},
                              "user": {"id": "AAAA", "name": "alice", "displayName": "A"},
                              "challenge": step["options"]["challenge"]})
    refused = alice.post("/account/keys/verify", json={"credential": forged, "name": "evil"},
                         headers=headers)
    assert refused.status_code == 400
    assert refused.get_json()["error"]["code"] == "challenge_wrong_purpose"
    # ... and so is a confirmation by a key that is not alice's.
    attacker.credentials.clear()
    attacker.create({"rp": {"id": "localhost", "name": "x"},
                     "user": {"id": "AAAA", "name": "alice", "displayName": "A"},
                     "challenge": "AAAA"})
    stranger = attacker.get(step["options"] | {"allowCredentials": []})
    refused = alice.post("/account/keys/confirm", json={"credential": stranger}, headers=headers)
    assert refused.status_code == 400
    with core.db.session() as db:
        assert len(db.get(StaffUser, hospital.ids["alice"]).credentials) == 1


def test_adding_and_revoking_a_key_with_the_key_already_held(hospital: Hospital) -> None:
    core, alice, key = hospital.core, hospital.client("alice"), hospital.keys["alice"]
    headers = csrf(alice)
    step = alice.post("/account/keys/options", json={"name": "spare"}, headers=headers).get_json()
    creation = alice.post(step["next"], json={"credential": key.get(step["options"])},
                          headers=headers).get_json()
    assert creation["ceremony"] == "register" and creation["next"] == "/account/keys/verify"
    spare = SoftAuthenticator(core.settings.web.public_url)
    added = alice.post(creation["next"], headers=headers,
                       json={"credential": spare.create(creation["options"]), "name": "spare"})
    assert added.status_code == 200, added.get_json()
    with core.db.session() as db:
        first, second = sorted(db.get(StaffUser, hospital.ids["alice"]).credentials,
                               key=lambda k: k.id)
        first_id = first.id
        assert second.name == "spare"
    told = {m.recipient for m in outbox(core, "staff.security_key")}
    assert {"alice@chu.example", "chloe@chu.example"} <= told

    # Revoking: a plain form post (the old way) no longer works; the spare key confirms.
    assert alice.post(f"/account/keys/{first_id}/remove", headers=headers).status_code == 400
    done = ceremony(alice, f"/account/keys/{first_id}/remove/options",
                    f"/account/keys/{first_id}/remove", spare)
    assert done.status_code == 200, done.get_json()
    with core.db.session() as db:
        assert db.get(WebAuthnCredential, first_id).revoked_at is not None
    assert events(core, "staff.security_key_revoked")[-1].actor == "staff:alice"


def test_a_first_key_needs_a_one_time_enrolment_link(hospital: Hospital) -> None:
    core = hospital.core
    frank = make_staff(core, "frank", ["approver"], with_key=False)
    client = hospital.app.test_client()

    def password_step() -> Any:
        token = csrf_from(client.get("/sign-in").get_data(as_text=True))
        return client.post("/sign-in", data={"username": "frank", "password": PASSWORD,
                                             "csrf_token": token})

    refused = password_step()
    assert refused.status_code == 403 and "enrôlement à usage unique" in refused.get_data(as_text=True)

    dave = hospital.client("dave")
    page = f"/admin/staff/{frank}"
    issued = dave.post(f"{page}/enrolment-link", follow_redirects=True,
                      data={"csrf_token": csrf_from(dave.get(page).get_data(as_text=True))})
    link = issued.get_data(as_text=True).split("http://localhost:8080")[1].split("<")[0].strip()
    assert link.startswith("/enrol/")
    assert client.get(link).location == "/sign-in"
    assert password_step().location == "/sign-in/enrol"
    headers = {"X-CSRFToken": csrf_from(client.get("/sign-in/enrol").get_data(as_text=True))}
    options = client.post("/sign-in/enrol/options", headers=headers).get_json()["options"]
    key = SoftAuthenticator(core.settings.web.public_url)
    enrolled = client.post("/sign-in/enrol/verify", headers=headers,
                           json={"credential": key.create(options), "name": "frank's key"})
    assert enrolled.status_code == 200, enrolled.get_json()
    # The link is used up.
    other = hospital.app.test_client()
    other.get(link)
    with other.session_transaction() as stored:
        assert "enrol_token" not in stored


# --- 3. revoked, never deleted -------------------------------------------------------------

def test_an_admin_revokes_a_key_that_signed_an_approval(hospital: Hospital) -> None:
    core = hospital.core
    request_id = file_request(hospital, approvals_required=1)
    alice = hospital.client("alice")
    approved = ceremony(alice, f"/requests/{request_id}/approve/options",
                        f"/requests/{request_id}/approve", hospital.keys["alice"])
    assert approved.status_code == 200, approved.get_json()
    with core.db.session() as db:
        review = db.scalar(select(Review).where(Review.request_id == request_id))
        key_id = review.credential_id

    dave = hospital.client("dave")
    page = f"/admin/staff/{hospital.ids['alice']}"
    revoked = dave.post(f"{page}/keys/{key_id}/revoke",
                       data={"csrf_token": csrf_from(dave.get(page).get_data(as_text=True))})
    assert revoked.status_code == 302
    with core.db.session() as db:
        key = db.get(WebAuthnCredential, key_id)
        review = db.scalar(select(Review).where(Review.request_id == request_id))
        assert key.revoked_at is not None and key.revoked_by == "staff:dave"
        assert review.credential_id == key_id
        # The approval's proof still verifies against the revoked key's public key.
        row = db.scalar(select(WebAuthnChallenge)
                        .where(WebAuthnChallenge.challenge == review.challenge_digest))
        verify_authentication_response(
            credential=parse_authentication_credential_json(row.assertion),
            expected_challenge=bytes.fromhex(row.challenge), expected_rp_id="localhost",
            expected_origin=core.settings.web.public_url, credential_public_key=key.public_key,
            credential_current_sign_count=0, require_user_verification=True)
    # A revoked key signs nothing any more.
    client = hospital.app.test_client()
    token = csrf_from(client.get("/sign-in").get_data(as_text=True))
    step = client.post("/sign-in", data={"username": "alice", "password": PASSWORD,
                                         "csrf_token": token})
    assert step.status_code == 403  # no usable key left: an enrolment link is needed


# --- 4. clone suspicion ----------------------------------------------------------------------

def test_a_cloned_key_is_suspended_and_everyone_is_told(
        hospital: Hospital, smtp_server: tuple[int, Mailbox]) -> None:
    mailbox = smtp_server[1]
    core = hospital.core
    hospital.client("alice")  # the genuine key signs in: its counter is now 1
    clone = hospital.keys["alice"]
    client = hospital.app.test_client()
    token = csrf_from(client.get("/sign-in").get_data(as_text=True))
    client.post("/sign-in", data={"username": "alice", "password": PASSWORD, "csrf_token": token})
    refused = ceremony(client, "/sign-in/key/options", "/sign-in/key/verify", clone, sign_count=1)
    assert refused.status_code == 400
    assert refused.get_json()["error"]["code"] == "counter_regressed"
    with core.db.session() as db:
        [key] = db.get(StaffUser, hospital.ids["alice"]).credentials
        assert key.suspended_at is not None
    [event] = events(core, "staff.security_key_suspended")
    assert event.details["username"] == "alice" and event.details["sign_count_presented"] == 1
    told = {m.recipient for m in outbox(core, "staff.key_suspended")}
    assert told == {"alice@chu.example", "carol@chu.example", "dave@chu.example",
                    "chloe@chu.example"}
    # Sent by the delivery worker, marked urgent.
    report = deliver_pending(core)
    assert not report.failed and not report.retrying
    urgent = {m["To"] for m in mailbox.messages if m["Importance"] == "high"}
    assert urgent == told
    # Even with a higher counter, the key is refused now.
    again = client.post("/sign-in/key/options", headers=csrf(client, "/sign-in"))
    assert again.status_code == 409 and again.get_json()["error"]["code"] == "no_credential"

"""Adding and revoking a staff member's security keys.

Adding a key asks for a signed confirmation by one of the person's usable keys (a copied
console cookie is not enough); without any, a one-time enrolment link
(``enrolment_links``). Keys are revoked, never deleted: the reviews and role changes they
signed keep their proof and stay verifiable. The owner revokes their own key with a
confirmation (never their last usable one); an admin may revoke anyone's key (a lost or
suspended key) with a reason. The owner and the DPO are told of every change.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy.orm import Session
from webauthn.helpers.structs import (
    PublicKeyCredentialCreationOptions,
    PublicKeyCredentialRequestOptions,
)

from bastion.audit import Actor
from bastion.context import Bastion
from bastion.models import StaffUser, WebAuthnCredential, utcnow

from . import staff_notices
from .assertion import CredentialResponse
from .attempts import run_audited
from .confirmation import Attempt, confirmation_options, verify_confirmation
from .errors import ApprovalError
from .lookup import StaffRef, load_staff, staff_actor, staff_id_of, unknown_staff_actor
from .registration import creation_options

CONTENT_KIND = "dpi-bastion.key-change"


def key_change_content(person: StaffUser, action: str, key: WebAuthnCredential | None
                       ) -> dict[str, Any]:
    """What the confirmation signs: who, which action, which key."""
    return {"kind": CONTENT_KIND, "v": 1, "staff": person.username, "action": action,
            "credential": None if key is None else key.id}


def _key(person: StaffUser, credential: int | None) -> WebAuthnCredential | None:
    if credential is None:
        return None
    for key in person.credentials:
        if key.id == credential:
            return key
    raise ApprovalError("credential_not_found", f"{person.username} has no security key "
                                                f"#{credential}")


def _check_revocable(person: StaffUser, key: WebAuthnCredential) -> None:
    if key.revoked_at is not None:
        raise ApprovalError("credential_revoked", f"the security key {key.name!r} is already "
                                                  "revoked")
    if key.usable and [k.id for k in person.usable_credentials] == [key.id]:
        raise ApprovalError("last_credential",
                            "this is the last usable security key of the account; register "
                            "another one before revoking it")


def _refused(core: Bastion, staff_id: int, action: str, attempt: Attempt, now: datetime):  # noqa: ANN202
    def refused(session: Session, exc: ApprovalError) -> None:
        attempt.settle(session, core, exc, now)
        person = session.get(StaffUser, staff_id)
        actor = staff_actor(person, "staff") if person else unknown_staff_actor(staff_id)
        core.audit.append(session, action="staff.security_key_refused", outcome="denied",
                          actor=actor, reasons=[exc.message, *exc.reasons],
                          details={"code": exc.code, "step": action})
    return refused


def key_change_options(core: Bastion, staff: StaffRef, *, action: str,
                       credential: int | None = None, now: datetime | None = None
                       ) -> PublicKeyCredentialRequestOptions:
    """Options for the assertion that confirms ``action`` ("add", or "revoke" with
    ``credential``), bound to exactly that."""
    now = now or utcnow()
    staff_id = staff_id_of(staff)
    attempt = Attempt()

    def work(session: Session) -> PublicKeyCredentialRequestOptions:
        person = load_staff(session, staff_id)
        key = _key(person, credential)
        if action == "revoke":
            if key is None:
                raise ApprovalError("credential_not_found", "say which key to revoke")
            _check_revocable(person, key)
        return confirmation_options(session, core, person, purpose="key_change",
                                    content=key_change_content(person, action, key), now=now)

    return run_audited(core, work, _refused(core, staff_id, f"{action} options", attempt, now))


def start_key_addition(core: Bastion, staff: StaffRef, response: CredentialResponse, *,
                       now: datetime | None = None) -> PublicKeyCredentialCreationOptions:
    """Check the confirmation of "add" by an existing key, then issue the registration
    options for the new key (answered through ``register_credential``)."""
    now = now or utcnow()
    staff_id = staff_id_of(staff)
    attempt = Attempt()

    def work(session: Session) -> PublicKeyCredentialCreationOptions:
        person = load_staff(session, staff_id)
        key, _ = verify_confirmation(session, core, person, response, purpose="key_change",
                                     content=key_change_content(person, "add", None),
                                     subject="the key change", now=now, attempt=attempt)
        core.audit.append(session, action="staff.security_key_addition_confirmed", outcome="ok",
                          actor=staff_actor(person, "staff"),
                          reasons=["confirmed with an existing security key"],
                          details={"username": person.username, "confirmed_with": key.name})
        return creation_options(session, core, person, passkey=False, now=now)

    return run_audited(core, work, _refused(core, staff_id, "add", attempt, now))


def _revoke(session: Session, core: Bastion, person: StaffUser, key: WebAuthnCredential, *,
            actor: Actor, reason: str, now: datetime, details: dict[str, Any]) -> None:
    key.revoked_at, key.revoked_by, key.revoked_reason = now, actor.name, reason
    core.audit.append(session, action="staff.security_key_revoked", outcome="ok", actor=actor,
                      reasons=[reason],
                      details={"username": person.username, "name": key.name,
                               "credential": key.id, **details})
    staff_notices.key_changed(session, core, event="key_revoked", owner=person, key=key.name,
                              actor=actor.name, reason=reason)


def revoke_own_credential(core: Bastion, staff: StaffRef, credential: int,
                          response: CredentialResponse, *, now: datetime | None = None) -> None:
    """The owner revokes one of their keys, confirmed with one of their usable keys."""
    now = now or utcnow()
    staff_id = staff_id_of(staff)
    attempt = Attempt()

    def work(session: Session) -> None:
        person = load_staff(session, staff_id)
        key = _key(person, credential)
        assert key is not None
        _check_revocable(person, key)
        used, _ = verify_confirmation(session, core, person, response, purpose="key_change",
                                      content=key_change_content(person, "revoke", key),
                                      subject="the key change", now=now, attempt=attempt)
        _revoke(session, core, person, key, actor=staff_actor(person, "staff"),
                reason="revoked by its owner", now=now, details={"confirmed_with": used.name})

    run_audited(core, work, _refused(core, staff_id, "revoke", attempt, now))


def revoke_credential(core: Bastion, staff: StaffRef, credential: int, *, actor: Actor,
                      reason: str, now: datetime | None = None) -> None:
    """An administrator (or a local operator) revokes someone's key: a lost key, a
    suspended one. Even the last: its owner then needs an enrolment link."""
    now = now or utcnow()
    reason = (reason or "").strip() or "revoked by an administrator"
    with core.db.session() as session:
        person = load_staff(session, staff, active=False)
        key = _key(person, credential)
        assert key is not None
        if key.revoked_at is not None:
            raise ApprovalError("credential_revoked", f"the security key {key.name!r} is already "
                                                      "revoked")
        _revoke(session, core, person, key, actor=actor, reason=reason, now=now, details={})

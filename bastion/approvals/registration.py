"""Registering a staff member's security key or passkey (navigator.credentials.create()).

User verification (PIN or biometrics) is required, so every registered key can later
give the two factors an approval needs. Attestation "none": hospitals buy keys from
several makers, and the assurance here comes from the signed-in, audited ceremony.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.orm import Session
from webauthn import generate_registration_options, verify_registration_response
from webauthn.helpers import (
    parse_attestation_object,
    parse_client_data_json,
    parse_registration_credential_json,
)
from webauthn.helpers.exceptions import WebAuthnException
from webauthn.helpers.structs import (
    AttestationConveyancePreference,
    AuthenticatorSelectionCriteria,
    AuthenticatorTransport,
    PublicKeyCredentialCreationOptions,
    PublicKeyCredentialDescriptor,
    RegistrationCredential,
    ResidentKeyRequirement,
    UserVerificationRequirement,
)

from bastion.context import Bastion
from bastion.models import StaffUser, WebAuthnCredential, utcnow

from . import staff_notices
from .assertion import CredentialResponse, load_json, malformed
from .attempts import run_audited
from .challenge import (
    burn,
    check_binding,
    check_fresh,
    consume,
    find_challenge,
    issue_challenge,
)
from .client_data import refuse_framed
from .enrolment_links import LINK_INVALID, find_link
from .errors import ApprovalError
from .lookup import StaffRef, load_staff, staff_actor, staff_id_of, unknown_staff_actor
from .relying_party import relying_party, staff_user_handle
from .views import CredentialInfo, credential_info

MAX_NAME = 100


def descriptors(rows: Iterable[WebAuthnCredential]) -> list[PublicKeyCredentialDescriptor]:
    def transports(row: WebAuthnCredential) -> list[AuthenticatorTransport] | None:
        known = [AuthenticatorTransport(t) for t in row.transports or ()
                 if t in AuthenticatorTransport._value2member_map_]
        return known or None

    return [PublicKeyCredentialDescriptor(id=row.credential_id, transports=transports(row))
            for row in rows]


def creation_options(session: Session, core: Bastion, person: StaffUser, *, passkey: bool,
                     now: datetime) -> PublicKeyCredentialCreationOptions:
    """Issue a registration challenge for ``person``. Callers first establish that this
    person may add a key (``registration_options``, ``enrolment_options``,
    ``key_changes.start_key_addition``)."""
    challenge = issue_challenge(session, core, purpose="registration", staff_id=person.id, now=now)
    rp = relying_party(core)
    return generate_registration_options(
        rp_id=rp.rp_id, rp_name=rp.name, user_id=staff_user_handle(core, person.id),
        user_name=person.username, user_display_name=person.full_name,
        challenge=challenge, timeout=core.settings.approvals.challenge_seconds * 1000,
        attestation=AttestationConveyancePreference.NONE,
        authenticator_selection=AuthenticatorSelectionCriteria(
            resident_key=(ResidentKeyRequirement.REQUIRED if passkey
                          else ResidentKeyRequirement.PREFERRED),
            user_verification=UserVerificationRequirement.REQUIRED),
        exclude_credentials=descriptors(person.credentials))


def registration_options(core: Bastion, staff: StaffRef, *, passkey: bool = False,
                         now: datetime | None = None) -> PublicKeyCredentialCreationOptions:
    """Options for navigator.credentials.create() for a staff member's *first* key, from a
    local caller (tests, the CLI). ``passkey``: require a discoverable credential (sign-in
    without a password); otherwise the key may still store one. Anyone holding a usable
    key adds another only with that key's confirmation (``key_changes``); the console's
    first-key enrolment goes through a one-time link (``enrolment_options``)."""
    now = now or utcnow()
    with core.db.session() as session:
        person = load_staff(session, staff)
        if person.usable_credentials:
            raise ApprovalError("key_confirmation_required",
                                f"{person.username} already has a security key: confirm with "
                                "it to add another")
        return creation_options(session, core, person, passkey=passkey, now=now)


def enrolment_options(core: Bastion, staff: StaffRef, token: str, *,
                      now: datetime | None = None) -> PublicKeyCredentialCreationOptions:
    """Registration options for someone holding a valid one-time enrolment link; the link
    is used up by :func:`register_credential` with the same token."""
    now = now or utcnow()
    with core.db.session() as session:
        person = load_staff(session, staff)
        if find_link(session, token, staff_id=person.id, now=now) is None:
            raise ApprovalError("enrolment_link_invalid", LINK_INVALID)
        return creation_options(session, core, person, passkey=False, now=now)


def _parse(response: CredentialResponse) -> tuple[RegistrationCredential, dict[str, object]]:
    data = load_json(response)
    try:
        return parse_registration_credential_json(data), data
    except Exception as exc:  # noqa: BLE001 - hostile input: any parse failure is "malformed"
        raise malformed(str(exc) or type(exc).__name__) from None


def _discoverable(data: dict[str, object], required: bool) -> bool:
    extensions = data.get("clientExtensionResults")
    if isinstance(extensions, dict) and isinstance(extensions.get("credProps"), dict):
        reported = extensions["credProps"].get("rk")
        if isinstance(reported, bool):
            return reported
    return required


def register_credential(core: Bastion, staff: StaffRef, response: CredentialResponse, *,
                        name: str, now: datetime | None = None,
                        enrolment_token: str | None = None) -> CredentialInfo:
    """Verify the browser's answer to a registration challenge and store the key; with
    ``enrolment_token``, use up that enrolment link in the same transaction. The owner
    and the DPO are told."""
    now = now or utcnow()
    staff_id = staff_id_of(staff)
    matched: list[int] = []
    label = (name or "").strip()[:MAX_NAME] or "security key"

    def work(session: Session) -> CredentialInfo:
        credential, data = _parse(response)
        person = load_staff(session, staff_id)
        try:
            client = parse_client_data_json(credential.response.client_data_json)
            auth_data = parse_attestation_object(credential.response.attestation_object).auth_data
        except Exception as exc:  # noqa: BLE001 - hostile input
            raise malformed(str(exc) or type(exc).__name__) from None
        row = check_binding(find_challenge(session, client.challenge), purpose="registration",
                            staff_id=person.id)
        matched.append(row.id)
        check_fresh(row, now)
        link = None
        if enrolment_token is not None:
            link = find_link(session, enrolment_token, staff_id=person.id, now=now, lock=True)
            if link is None:
                raise ApprovalError("enrolment_link_invalid", LINK_INVALID)
        rp = relying_party(core)
        if client.type != "webauthn.create":
            raise ApprovalError("wrong_ceremony",
                                f"the browser reports a {client.type!r} ceremony, not a "
                                "registration (webauthn.create)")
        if client.origin != rp.origin:
            raise ApprovalError("wrong_origin", f"the key was registered on {client.origin!r}, "
                                                f"not on the bastion's console ({rp.origin})")
        refuse_framed(credential.response.client_data_json)
        if auth_data.rp_id_hash != rp.rp_id_hash:
            raise ApprovalError("wrong_rp_id", f"the key registered for another site than "
                                               f"{rp.rp_id}")
        if not auth_data.flags.uv:
            raise ApprovalError("user_not_verified",
                                "the key did not verify its owner (PIN or biometrics); use a "
                                "key with a PIN set")
        try:
            verified = verify_registration_response(
                credential=credential, expected_challenge=client.challenge,
                expected_rp_id=rp.rp_id, expected_origin=rp.origin,
                require_user_verification=True)
        except (WebAuthnException, ValueError, TypeError) as exc:
            raise ApprovalError("registration_failed", "the key's registration does not verify",
                                reasons=[str(exc)]) from None
        if session.scalar(select(WebAuthnCredential.id).where(
                WebAuthnCredential.credential_id == verified.credential_id)) is not None:
            raise ApprovalError("registration_failed", "this key is already registered")
        stored = WebAuthnCredential(
            staff_id=person.id, credential_id=verified.credential_id,
            public_key=verified.credential_public_key, sign_count=verified.sign_count,
            transports=[t.value for t in credential.response.transports or ()],
            aaguid=verified.aaguid, name=label,
            discoverable=_discoverable(data, required=False), created_at=now)
        session.add(stored)
        consume(row, now=now, outcome="ok")
        if link is not None:
            link.used_at = now
        session.flush()
        core.audit.append(session, action="staff.security_key_registered", outcome="ok",
                          actor=staff_actor(person, "staff"),
                          details={"username": person.username, "name": label,
                                   "aaguid": verified.aaguid,
                                   "discoverable": stored.discoverable,
                                   "authorised_by": ("enrolment link" if link is not None
                                                     else "existing key or local operator")})
        staff_notices.key_changed(session, core, event="key_added", owner=person, key=label,
                                  actor=f"staff:{person.username}")
        return credential_info(stored)

    def refused(session: Session, exc: ApprovalError) -> None:
        for challenge_id in matched:
            burn(session, challenge_id, now=now, outcome=exc.code)
        person = session.get(StaffUser, staff_id)
        actor = staff_actor(person, "staff") if person else unknown_staff_actor(staff_id)
        core.audit.append(session, action="staff.security_key_refused", outcome="denied",
                          actor=actor, reasons=[exc.message, *exc.reasons],
                          details={"code": exc.code, "name": label})

    return run_audited(core, work, refused)


def list_credentials(core: Bastion, staff: StaffRef) -> list[CredentialInfo]:
    with core.db.session() as session:
        rows = session.scalars(select(WebAuthnCredential)
                               .where(WebAuthnCredential.staff_id == staff_id_of(staff))
                               .order_by(WebAuthnCredential.id))
        return [credential_info(row) for row in rows]

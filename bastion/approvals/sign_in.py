"""Console sign-in: a password (argon2) plus a security key, or a passkey alone.

Password + key: :func:`check_password`, then :func:`sign_in_options` and
:func:`verify_sign_in` for that staff member (the key is the second factor; its PIN is
asked if the key wants to). Passkey alone: :func:`sign_in_options` and
:func:`verify_sign_in` without a staff member; the discoverable credential names its
owner and user verification (PIN or biometrics) is required, giving the two factors.
Repeated wrong passwords lock the account's password sign-in for a while; a passkey
still signs its owner in.
"""

from __future__ import annotations

import hmac
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.orm import Session
from webauthn import generate_authentication_options
from webauthn.helpers.structs import (
    PublicKeyCredentialRequestOptions,
    UserVerificationRequirement,
)

from bastion.audit import Actor
from bastion.context import Bastion
from bastion.models import StaffUser, utcnow
from bastion.passwords import verify_password
from bastion.sign_in_lockout import LOCK_MINUTES, clear_failures, count_failure, is_locked

from .assertion import CredentialResponse, parse_assertion, usable_credential, verify_assertion
from .attempts import run_audited
from .challenge import burn, check_binding, check_fresh, consume, find_challenge, issue_challenge
from .clone_suspicion import suspend_if_cloned
from .errors import ApprovalError
from .lookup import StaffRef, load_staff, staff_actor, staff_id_of
from .registration import descriptors
from .relying_party import relying_party, staff_user_handle

FAILED = ("wrong user name or password, or the account is locked for a while after "
          "repeated failures")


@dataclass(frozen=True)
class SignedIn:
    staff_id: int
    username: str
    full_name: str
    roles: tuple[str, ...]
    language: str
    time_zone: str
    method: str  # password+key | passkey
    credential_id: int


def _where(address: str | None) -> dict[str, str]:
    """The client address for an audit event's details, when the caller knows it."""
    return {"address": address} if address else {}


def check_password(core: Bastion, username: str, password: str, *,
                   address: str | None = None, now: datetime | None = None) -> int:
    """First factor. Returns the staff id; raises ``sign_in_failed``, the same for an
    unknown name, a disabled or locked account or a wrong password (nothing to enumerate;
    the audit log records which it was). ``address``: the client's, for the audit log."""
    now = now or utcnow()
    failure: ApprovalError | None = None
    with core.db.session() as session:
        person = session.scalar(select(StaffUser).where(StaffUser.username == username))
        good = verify_password(person.password_hash if person else None, password)
        actor = Actor(f"staff:{username}", "staff")
        if person is not None and is_locked(person, now):
            # The same answer as a wrong password: a distinct one would tell a guesser
            # that the name exists (only real accounts ever get locked).
            failure = ApprovalError("sign_in_failed", FAILED)
            why = f"account locked until {person.locked_until.isoformat()}"  # type: ignore[union-attr]
        elif person is None or not person.active or not good:
            failure = ApprovalError("sign_in_failed", FAILED)
            why = ("unknown user name" if person is None else
                   "account disabled" if not person.active else "wrong password")
            if person is not None and not good and count_failure(
                    session, StaffUser, StaffUser.id == person.id, now) is not None:
                why += f"; account locked for {LOCK_MINUTES} minutes"
        else:
            clear_failures(session, StaffUser, StaffUser.id == person.id)
            return person.id
        core.audit.append(session, action="staff.sign_in_refused", outcome="denied",
                          actor=actor, reasons=[why],
                          details={"code": failure.code, "step": "password",
                                   **_where(address)})
    raise failure


def sign_in_options(core: Bastion, *, staff: StaffRef | None = None,
                    now: datetime | None = None) -> PublicKeyCredentialRequestOptions:
    """With ``staff`` (password already checked): their keys are allowed. Without: a
    passkey sign-in, any discoverable credential of this site, user verification required."""
    now = now or utcnow()
    with core.db.session() as session:
        person = load_staff(session, staff) if staff is not None else None
        keys = person.usable_credentials if person is not None else []
        if person is not None and not keys:
            raise ApprovalError("no_credential",
                                f"{person.username} has no usable security key; ask an "
                                "administrator for an enrolment link")
        challenge = issue_challenge(session, core, purpose="sign_in",
                                    staff_id=person.id if person else None, now=now)
        return generate_authentication_options(
            rp_id=relying_party(core).rp_id, challenge=challenge,
            timeout=core.settings.approvals.challenge_seconds * 1000,
            allow_credentials=descriptors(keys),
            user_verification=(UserVerificationRequirement.PREFERRED if person is not None
                               else UserVerificationRequirement.REQUIRED))


def verify_sign_in(core: Bastion, response: CredentialResponse, *,
                   staff: StaffRef | None = None, address: str | None = None,
                   first_factor: str = "password", now: datetime | None = None) -> SignedIn:
    """Second factor (``staff`` given) or passkey sign-in (``staff`` None). ``address``:
    the client's, for the audit log. ``first_factor``: what checked the first step
    (password | ldap | oidc), named in the method and the audit event."""
    now = now or utcnow()
    expected = staff_id_of(staff) if staff is not None else None
    passkey = expected is None
    matched: list[int] = []
    who: list[StaffUser] = []
    keys: list[int] = []

    def work(session: Session) -> SignedIn:
        assertion = parse_assertion(response)
        row = check_binding(find_challenge(session, assertion.challenge), purpose="sign_in",
                            staff_id=expected)
        if row.staff_id != expected:
            # A passkey challenge is no second factor for a password step, nor the reverse.
            raise ApprovalError("challenge_for_other_staff",
                                "this security-key answer was requested for another sign-in")
        matched.append(row.id)
        check_fresh(row, now)
        stored = usable_credential(session, assertion.credential_id, owner=expected)
        keys.append(stored.id)
        assert stored.staff_id is not None
        person = load_staff(session, stored.staff_id)
        who.append(person)
        handle = assertion.credential.response.user_handle
        if handle is not None and not hmac.compare_digest(
                handle, staff_user_handle(core, person.id)):
            raise ApprovalError("unknown_credential",
                                "this passkey belongs to another account")
        # The lock-out stops password guessing. A passkey is phishing-resistant and
        # carries its own second factor: anyone typing wrong passwords must not be able
        # to lock the owner out of it (a denial of service on the approvers).
        if not passkey and is_locked(person, now):
            raise ApprovalError("account_locked", "too many failed sign-ins: the account is "
                                                  "locked for now")
        # A directory account passes through the directory at every sign-in (its groups,
        # its being enabled): a passkey alone would skip that check.
        if passkey and person.identity_source != "local":
            raise ApprovalError("directory_sign_in_required",
                                "this account signs in through the hospital directory first, "
                                "then with its security key")
        new_count = verify_assertion(assertion, stored, rp=relying_party(core),
                                     expected_challenge=bytes.fromhex(row.challenge),
                                     require_user_verification=passkey)
        stored.sign_count, stored.last_used_at = new_count, now
        person.failed_sign_ins = 0
        consume(row, now=now, outcome="ok")
        method = "passkey" if passkey else f"{first_factor}+key"
        core.audit.append(session, action="staff.signed_in", outcome="ok",
                          actor=staff_actor(person, "staff"),
                          details={"method": method, "credential": stored.name,
                                   "source": person.identity_source, **_where(address)})
        return SignedIn(person.id, person.username, person.full_name,
                        tuple(sorted(person.role_names)), person.language, person.time_zone,
                        method, stored.id)

    def refused(session: Session, exc: ApprovalError) -> None:
        for challenge_id in matched:
            burn(session, challenge_id, now=now, outcome=exc.code)
        suspend_if_cloned(session, core, exc, keys[0] if keys else None, now=now)
        person = who[0] if who else (session.get(StaffUser, expected) if expected else None)
        actor = (staff_actor(person, "staff") if person is not None
                 else Actor("staff:unknown", "unknown"))
        core.audit.append(session, action="staff.sign_in_refused", outcome="denied",
                          actor=actor, reasons=[exc.message, *exc.reasons],
                          details={"code": exc.code,
                                   "step": "passkey" if passkey else "security key",
                                   **_where(address)})

    return run_audited(core, work, refused)

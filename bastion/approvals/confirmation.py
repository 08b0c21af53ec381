"""Signed confirmations: a staff member confirms one exact action (a role change, adding or
revoking a security key) with an assertion of one of their usable keys, the way an
approver signs a request.

The challenge is SHA-256(digest of the action's canonical content || nonce), bound to a
purpose and a person, short-lived and usable once (``challenge``); the assertion is
checked like an approval's (``assertion``), user verification required. Callers run these
inside :func:`attempts.run_audited` and hand the :class:`Attempt` to their refusal
handler, which burns the challenge and suspends a key that looks cloned.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy.orm import Session
from webauthn import generate_authentication_options
from webauthn.helpers.structs import (
    PublicKeyCredentialRequestOptions,
    UserVerificationRequirement,
)

from bastion.context import Bastion
from bastion.models import StaffUser, WebAuthnChallenge, WebAuthnCredential

from .assertion import CredentialResponse, parse_assertion, usable_credential, verify_assertion
from .challenge import (
    burn,
    check_binding,
    check_content,
    check_fresh,
    consume,
    find_challenge,
    issue_bound_challenge,
)
from .clone_suspicion import suspend_if_cloned
from .content import content_digest
from .errors import ApprovalError
from .registration import descriptors
from .relying_party import relying_party


@dataclass
class Attempt:
    """What a refused confirmation reached, for its refusal handler."""

    challenge_id: int | None = None
    credential_id: int | None = None

    def settle(self, session: Session, core: Bastion, exc: ApprovalError, now: datetime) -> None:
        burn(session, self.challenge_id, now=now, outcome=exc.code)
        suspend_if_cloned(session, core, exc, self.credential_id, now=now)


def confirmation_options(session: Session, core: Bastion, person: StaffUser, *, purpose: str,
                         content: dict[str, Any], now: datetime
                         ) -> PublicKeyCredentialRequestOptions:
    keys = person.usable_credentials
    if not keys:
        raise ApprovalError("no_credential",
                            f"{person.username} has no usable security key; ask an "
                            "administrator for an enrolment link")
    challenge = issue_bound_challenge(session, core, purpose=purpose, staff_id=person.id,
                                      digest=content_digest(content), now=now)
    return generate_authentication_options(
        rp_id=relying_party(core).rp_id, challenge=challenge,
        timeout=core.settings.approvals.challenge_seconds * 1000,
        allow_credentials=descriptors(keys),
        user_verification=UserVerificationRequirement.REQUIRED)


def verify_confirmation(session: Session, core: Bastion, person: StaffUser,
                        response: CredentialResponse, *, purpose: str, content: dict[str, Any],
                        subject: str, now: datetime, attempt: Attempt
                        ) -> tuple[WebAuthnCredential, WebAuthnChallenge]:
    """Check the assertion against a challenge issued to ``person`` for exactly ``content``;
    on success the challenge is consumed (with the assertion kept as proof) and the key's
    counter advanced. Returns the key and the challenge row."""
    assertion = parse_assertion(response)
    row = check_binding(find_challenge(session, assertion.challenge), purpose=purpose,
                        staff_id=person.id)
    attempt.challenge_id = row.id
    check_fresh(row, now)
    check_content(row, content_digest(content), subject=subject)
    stored = usable_credential(session, assertion.credential_id, owner=person.id)
    attempt.credential_id = stored.id
    new_count = verify_assertion(assertion, stored, rp=relying_party(core),
                                 expected_challenge=bytes.fromhex(row.challenge),
                                 require_user_verification=True)
    stored.sign_count, stored.last_used_at = new_count, now
    consume(row, now=now, outcome="ok", assertion=assertion.proof)
    return stored, row

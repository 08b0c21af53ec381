"""WebAuthn challenges: issued server-side, short-lived, bound, usable once.

An approval challenge is SHA-256(request content digest || 32-byte random nonce): the
assertion that answers it proves the approver saw *this* content, and the nonce makes
every challenge single-use even for an unchanged request. Registration and sign-in
challenges are plain random bytes. Every challenge is bound to its purpose and staff
member (and request), and is consumed by the first attempt that reaches it.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from bastion.context import Bastion
from bastion.models import WebAuthnChallenge

from .errors import ApprovalError

NONCE_BYTES = 32


def approval_challenge(digest: str, nonce: bytes) -> bytes:
    return hashlib.sha256(bytes.fromhex(digest) + nonce).digest()


def _store(session: Session, core: Bastion, *, purpose: str, challenge: bytes, now: datetime,
           staff_id: int | None, request_id: int | None = None, nonce: bytes | None = None,
           digest: str | None = None) -> bytes:
    lifetime = timedelta(seconds=core.settings.approvals.challenge_seconds)
    session.add(WebAuthnChallenge(
        purpose=purpose, challenge=challenge.hex(), nonce=nonce, content_digest=digest,
        request_id=request_id, staff_id=staff_id, issued_at=now, expires_at=now + lifetime))
    session.flush()
    return challenge


def issue_approval_challenge(session: Session, core: Bastion, *, request_id: int, staff_id: int,
                             digest: str, now: datetime) -> bytes:
    return issue_bound_challenge(session, core, purpose="approval", staff_id=staff_id,
                                 digest=digest, now=now, request_id=request_id)


def issue_bound_challenge(session: Session, core: Bastion, *, purpose: str, staff_id: int,
                          digest: str, now: datetime, request_id: int | None = None) -> bytes:
    """A challenge derived from a content digest, as an approval's: for any signed
    confirmation (a role change, a key change)."""
    nonce = secrets.token_bytes(NONCE_BYTES)
    return _store(session, core, purpose=purpose, challenge=approval_challenge(digest, nonce),
                  now=now, staff_id=staff_id, request_id=request_id, nonce=nonce, digest=digest)


def issue_challenge(session: Session, core: Bastion, *, purpose: str, staff_id: int | None,
                    now: datetime) -> bytes:
    return _store(session, core, purpose=purpose, challenge=secrets.token_bytes(32), now=now,
                  staff_id=staff_id)


def find_challenge(session: Session, challenge: bytes) -> WebAuthnChallenge | None:
    # FOR UPDATE: two nodes presenting the same assertion at once must not both use it.
    return session.scalar(select(WebAuthnChallenge)
                          .where(WebAuthnChallenge.challenge == challenge.hex())
                          .with_for_update())


def check_binding(row: WebAuthnChallenge | None, *, purpose: str, staff_id: int | None,
                  request_id: int | None = None) -> WebAuthnChallenge:
    """Is this challenge one we issued, unused, for this purpose, person and request?"""
    if row is None:
        raise ApprovalError("challenge_unknown",
                            "this security-key answer does not match any challenge the bastion "
                            "issued; ask for a new one")
    if row.purpose != purpose:
        raise ApprovalError("challenge_wrong_purpose",
                            f"this security-key answer was made for a {row.purpose}, "
                            f"not for a {purpose}")
    if row.consumed_at is not None:
        raise ApprovalError("challenge_replayed",
                            "this security-key answer has already been used; each one is "
                            "usable once")
    if row.request_id != request_id:
        raise ApprovalError("challenge_for_other_request",
                            f"this security-key answer was made for request {row.request_id}, "
                            f"not for request {request_id}")
    if row.staff_id is not None and row.staff_id != staff_id:
        raise ApprovalError("challenge_for_other_staff",
                            "this security-key answer was requested by another staff member")
    return row


def check_fresh(row: WebAuthnChallenge, now: datetime) -> None:
    if now >= row.expires_at:
        raise ApprovalError("challenge_expired",
                            "the security-key challenge has expired; ask for a new one")


def check_content(row: WebAuthnChallenge, digest: str, *, subject: str = "the request") -> None:
    """The request (or what ``subject`` names) must still be what the challenge was derived
    from."""
    unchanged = (row.content_digest is not None and row.nonce is not None
                 and hmac.compare_digest(row.content_digest, digest)
                 and hmac.compare_digest(approval_challenge(digest, row.nonce).hex(),
                                         row.challenge))
    if not unchanged:
        raise ApprovalError("request_changed",
                            f"{subject} has changed since this confirmation was started; "
                            "review it again and confirm the new version")


def consume(row: WebAuthnChallenge, *, now: datetime, outcome: str,
            assertion: dict[str, Any] | None = None) -> None:
    row.consumed_at = now
    row.outcome = outcome
    if assertion is not None:
        row.assertion = assertion


def burn(session: Session, challenge_id: int | None, *, now: datetime, outcome: str) -> None:
    """Consume a challenge a refused attempt reached: it will not be tried again."""
    if challenge_id is None:
        return
    row = session.get(WebAuthnChallenge, challenge_id)
    if row is not None and row.consumed_at is None:
        consume(row, now=now, outcome=outcome)

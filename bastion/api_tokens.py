"""Bearer tokens of the JSON API: create, list, revoke, authenticate.

A token is ``bst_`` + 32 random bytes (base64url); the prefix lets secret scanners and
people recognise one in a log or a repository. Only SHA-256(token) is stored. A slow
password hash (argon2) would add nothing: it protects *guessable* secrets, and 256 random
bits cannot be guessed, nor found from their SHA-256, whatever the attacker's budget.
A fast hash also lets the lookup go through a unique index with no per-request CPU cost.

A token acts as its staff member with that person's current roles; it never carries a
role of its own. It cannot approve anything by itself: an approval still needs the
approver's security-key assertion. Tokens belong to staff only: a technician must sign
in with a second factor, which a long-lived vendor-held token would bypass.

Audited: creation, revocation, first use, use from a new address, and refusals (through
:func:`record_refusal`, which the web layer calls under a per-address rate limit so that
a flood of bad tokens cannot flood the audit log).
"""

from __future__ import annotations

import hashlib
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import select
from sqlalchemy.orm import Session

from bastion.audit import Actor
from bastion.context import Bastion
from bastion.models import ApiToken, StaffUser, utcnow

PREFIX = "bst_"
RANDOM_BYTES = 32
HINT_LENGTH = len(PREFIX) + 4
MAX_DAYS = 365
DEFAULT_DAYS = 90
# Longer than any token we issue: anything longer is refused before hashing.
MAX_TOKEN_LENGTH = 100


class TokenError(ValueError):
    """A token cannot be created or revoked as asked (CLI and admin use)."""


class TokenRefused(Exception):
    """Authentication failed. ``reason`` is for the audit log, never for the caller, who
    is told only that the token is not valid (no oracle for which part was wrong)."""

    def __init__(self, reason: str, *, token_id: int | None = None,
                 token_name: str | None = None, staff_username: str | None = None) -> None:
        super().__init__(reason)
        self.reason = reason
        self.token_id = token_id
        self.token_name = token_name
        self.staff_username = staff_username


@dataclass(frozen=True)
class TokenInfo:
    id: int
    name: str
    staff_id: int
    staff_username: str
    hint: str
    created_at: datetime
    created_by: str
    expires_at: datetime
    last_used_at: datetime | None
    last_used_from: str | None
    revoked_at: datetime | None

    def state(self, now: datetime | None = None) -> str:
        if self.revoked_at is not None:
            return "revoked"
        return "expired" if self.expires_at <= (now or utcnow()) else "active"


@dataclass(frozen=True)
class TokenUse:
    """Who a valid token speaks for."""

    token_id: int
    name: str
    staff_id: int


def hash_token(token: str) -> str:
    return hashlib.sha256(token.encode("utf-8")).hexdigest()


def _info(row: ApiToken) -> TokenInfo:
    return TokenInfo(row.id, row.name, row.staff_id, row.staff.username, row.hint,
                     row.created_at, row.created_by, row.expires_at, row.last_used_at,
                     row.last_used_from, row.revoked_at)


def _subject(row: ApiToken) -> dict[str, object]:
    return {"token_id": row.id, "token_name": row.name, "staff": row.staff.username}


def create_token(core: Bastion, *, name: str, staff_username: str, days: int = DEFAULT_DAYS,
                 actor: Actor, now: datetime | None = None) -> tuple[TokenInfo, str]:
    """Returns the token's description and the token itself (shown once, never stored)."""
    now = now or utcnow()
    name = (name or "").strip()
    if not name or len(name) > 100:
        raise TokenError("give the token a name of 1 to 100 characters (what uses it)")
    if not 1 <= days <= MAX_DAYS:
        raise TokenError(f"a token lasts 1 to {MAX_DAYS} days")
    token = PREFIX + secrets.token_urlsafe(RANDOM_BYTES)
    with core.db.session() as session:
        staff = session.scalar(select(StaffUser).where(StaffUser.username == staff_username))
        if staff is None:
            raise TokenError(f"no staff user {staff_username}")
        if not staff.active or not staff.role_names:
            raise TokenError(f"staff user {staff_username} is disabled or has no role")
        row = ApiToken(name=name, staff_id=staff.id, token_hash=hash_token(token),
                       hint=token[:HINT_LENGTH], created_at=now, created_by=actor.name,
                       expires_at=now + timedelta(days=days))
        row.staff = staff
        session.add(row)
        session.flush()
        core.audit.append(session, action="api_token.created", outcome="ok", actor=actor,
                          details={**_subject(row), "expires_at": row.expires_at.isoformat(),
                                   "roles": sorted(staff.role_names)})
        return _info(row), token


def list_tokens(core: Bastion, *, staff_username: str | None = None) -> list[TokenInfo]:
    with core.db.session() as session:
        query = select(ApiToken).order_by(ApiToken.id)
        if staff_username is not None:
            query = query.join(StaffUser, StaffUser.id == ApiToken.staff_id).where(
                StaffUser.username == staff_username)
        return [_info(row) for row in session.scalars(query)]


def revoke_token(core: Bastion, token_id: int, *, actor: Actor, reason: str,
                 now: datetime | None = None) -> TokenInfo:
    now = now or utcnow()
    reason = (reason or "").strip()
    if not reason:
        raise TokenError("say why the token is revoked")
    with core.db.session() as session:
        row = session.scalar(select(ApiToken).where(ApiToken.id == token_id).with_for_update())
        if row is None:
            raise TokenError(f"there is no token {token_id}")
        if row.revoked_at is not None:
            raise TokenError(f"token {token_id} was already revoked")
        row.revoked_at, row.revoked_by, row.revoke_reason = now, actor.name, reason
        core.audit.append(session, action="api_token.revoked", outcome="ok", actor=actor,
                          reasons=[reason], details=_subject(row))
        return _info(row)


def _refusal(row: ApiToken, now: datetime) -> str | None:
    if row.revoked_at is not None:
        return "the token was revoked"
    if row.expires_at <= now:
        return "the token has expired"
    if not row.staff.active or not row.staff.role_names:
        return "the staff account is disabled or has no role"
    return None


def authenticate(core: Bastion, token: str, *, address: str,
                 now: datetime | None = None) -> TokenUse:
    """The staff member ``token`` speaks for, or :class:`TokenRefused` (then the caller
    audits it with :func:`record_refusal`, rate-limited: anyone can send a token)."""
    now = now or utcnow()
    if not token.startswith(PREFIX) or len(token) > MAX_TOKEN_LENGTH:
        raise TokenRefused("not a bastion API token")
    with core.db.session() as session:
        row = session.scalar(select(ApiToken).where(ApiToken.token_hash == hash_token(token)))
        if row is None:
            raise TokenRefused("unknown token")
        reason = _refusal(row, now)
        if reason is None:
            _record_use(core, session, row, address, now)
            return TokenUse(row.id, row.name, row.staff_id)
        raise TokenRefused(reason, token_id=row.id, token_name=row.name,
                           staff_username=row.staff.username)


def record_refusal(core: Bastion, refused: TokenRefused, *, address: str,
                   note: str | None = None) -> None:
    """The audit event of a refused token. A known token refused (revoked, expired) names
    its owner: someone still holds and uses it."""
    actor = (Actor(f"staff:{refused.staff_username}", "api-token")
             if refused.staff_username is not None else Actor("api:anonymous", "anonymous"))
    with core.db.session() as session:
        core.audit.append(session, action="api_token.refused", outcome="denied", actor=actor,
                          reasons=[refused.reason, *([note] if note else [])],
                          details={"token_id": refused.token_id, "token_name": refused.token_name,
                                   "staff": refused.staff_username, "address": address})


def _record_use(core: Bastion, session: Session, row: ApiToken, address: str,
                now: datetime) -> None:
    """Remember when and from where; audit the first use and any new address (a token
    used from somewhere unexpected is the first sign of a leak)."""
    first = row.last_used_at is None
    moved = not first and row.last_used_from != address
    if first or moved:
        action = "api_token.first_use" if first else "api_token.new_address"
        core.audit.append(session, action=action, outcome="ok",
                          actor=Actor(f"staff:{row.staff.username}", "api-token"),
                          details={**_subject(row), "address": address,
                                   "previous_address": row.last_used_from})
    # Written on every use: on SQLite each request's transaction already holds the write
    # lock (BEGIN IMMEDIATE), and an exact "last used" is what an admin needs to decide
    # whether a token can be revoked without breaking an integration.
    row.last_used_at, row.last_used_from = now, address

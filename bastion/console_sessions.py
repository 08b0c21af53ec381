"""Signed-in console sessions, kept in the database so they can be ended server-side.

The session cookie is signed, so nobody can forge one; but a *copied* cookie stays good
until it expires unless the server remembers which sign-ins are still live. Each full
sign-in therefore gets a row here, keyed by the SHA-256 of a random token that only the
cookie holds (as for API tokens: 256 random bits need no slow hash). Every request must
find its row live; sign-out, the owner, an admin, or disabling the account ends it.

The web console calls this module; it never imports the web (``web`` -> ``bastion``).
"""

from __future__ import annotations

import hashlib
import re
import secrets
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import delete, or_, select
from sqlalchemy.orm import Session

from .audit import Actor, AuditLog
from .context import Bastion
from .models import ConsoleSession, StaffUser, Technician, utcnow
from .models.console_sessions import PRINCIPAL_KINDS

TOKEN_BYTES = 32
# Longer than any token we issue: anything longer is refused before hashing.
MAX_TOKEN_LENGTH = 100
# last_seen_at is written at most this often: one write a minute, not one per request.
# The idle check adds it as a margin, so an active user is never signed out early.
TOUCH_SECONDS = 60
# Ended sessions are kept this long (the owner's and admins' lists, investigations), then
# deleted; the audit log keeps the sign-ins and revocations for its own retention.
RETENTION = timedelta(days=30)
USER_AGENT_LENGTH = 200
ADDRESS_LENGTH = 64
# Audit events and pages name a session by this prefix of its id: enough to tell the
# sessions apart and correlate events, without spreading the lookup key itself.
REF_LENGTH = 12
REF = re.compile(f"[0-9a-f]{{{REF_LENGTH}}}")


@dataclass(frozen=True)
class SessionInfo:
    id: str
    principal_kind: str
    principal_id: int
    created_at: datetime
    last_seen_at: datetime
    expires_at: datetime
    revoked_at: datetime | None
    revoked_reason: str | None
    user_agent: str | None
    client_address: str | None

    @property
    def ref(self) -> str:
        return self.id[:REF_LENGTH]


@dataclass(frozen=True)
class Check:
    """``reason`` is "ok", or why the session is not (or no longer) good."""

    reason: str

    @property
    def ok(self) -> bool:
        return self.reason == "ok"


def hash_token(token: str) -> str:
    return hashlib.sha256(token.encode("utf-8")).hexdigest()


def _info(row: ConsoleSession) -> SessionInfo:
    return SessionInfo(row.id, row.principal_kind, row.principal_id, row.created_at,
                       row.last_seen_at, row.expires_at, row.revoked_at, row.revoked_reason,
                       row.user_agent, row.client_address)


def _idle_limit(idle: timedelta) -> timedelta:
    return idle + timedelta(seconds=TOUCH_SECONDS)


def open_session(core: Bastion, *, principal_kind: str, principal_id: int, lifetime: timedelta,
                 user_agent: str | None, address: str | None,
                 now: datetime | None = None) -> str:
    """Record a new sign-in; returns the token for the cookie (never stored)."""
    if principal_kind not in PRINCIPAL_KINDS:
        raise ValueError(principal_kind)
    now = now or utcnow()
    token = secrets.token_urlsafe(TOKEN_BYTES)
    with core.db.session() as db:
        db.add(ConsoleSession(
            id=hash_token(token), principal_kind=principal_kind, principal_id=principal_id,
            created_at=now, last_seen_at=now, expires_at=now + lifetime,
            user_agent=(user_agent or "")[:USER_AGENT_LENGTH] or None,
            client_address=(address or "")[:ADDRESS_LENGTH] or None))
    return token


def check_session(db: Session, token: object, *, principal_kind: str, principal_id: int,
                  idle: timedelta, now: datetime | None = None) -> Check:
    """Is the cookie's session still live for this principal? Touches it when due.

    In the caller's transaction (the one that loads the principal: one round trip per
    request). A session found idle or past its absolute limit is marked ended (with why)
    on the spot, so lists and housekeeping see it as it is. Database errors propagate:
    the caller treats any failure as signed out.
    """
    if not isinstance(token, str) or not token or len(token) > MAX_TOKEN_LENGTH:
        return Check("missing")
    now = now or utcnow()
    row = db.get(ConsoleSession, hash_token(token))
    if row is None:
        return Check("missing")
    if (row.principal_kind, row.principal_id) != (principal_kind, principal_id):
        return Check("other principal")
    if row.revoked_at is not None:
        return Check("revoked")
    if now >= row.expires_at:
        row.revoked_at, row.revoked_reason = now, "expired"
        return Check("expired")
    if now - row.last_seen_at > _idle_limit(idle):
        row.revoked_at, row.revoked_reason = now, "idle"
        return Check("idle")
    if (now - row.last_seen_at).total_seconds() >= TOUCH_SECONDS:
        row.last_seen_at = now
    return Check("ok")


def end_own_session(db: Session, token: object, *, reason: str,
                    now: datetime | None = None) -> SessionInfo | None:
    """Sign-out: end the cookie's own session. The caller audits the sign-out itself."""
    if not isinstance(token, str) or not token or len(token) > MAX_TOKEN_LENGTH:
        return None
    row = db.get(ConsoleSession, hash_token(token))
    if row is None:
        return None
    if row.revoked_at is None:
        row.revoked_at, row.revoked_reason = now or utcnow(), reason
    return _info(row)


def _owner(db: Session, kind: str, principal_id: int) -> str:
    if kind == "staff":
        user = db.get(StaffUser, principal_id)
        return f"staff:{user.username if user else principal_id}"
    technician = db.get(Technician, principal_id)
    return f"technician:{technician.ident if technician else principal_id}"


def _revoke_rows(db: Session, audit: AuditLog, rows: Iterable[ConsoleSession], *, reason: str,
                 actor: Actor, now: datetime) -> int:
    """End each live row, one audit event per session (who ended it, why, which one)."""
    count = 0
    for row in rows:
        if row.revoked_at is not None:
            continue
        row.revoked_at, row.revoked_reason = now, reason
        audit.append(db, action="console_session.revoked", outcome="ok", actor=actor,
                     reasons=[reason],
                     details={"session": row.id[:REF_LENGTH],
                              "owner": _owner(db, row.principal_kind, row.principal_id),
                              "created_at": row.created_at.isoformat(),
                              "address": row.client_address})
        count += 1
    return count


def find_session(db: Session, *, principal_kind: str, principal_id: int,
                 ref: str) -> SessionInfo | None:
    """One of this principal's sessions, by its reference (pages and forms use the
    reference, never the id); None when it is not theirs or not there."""
    if not REF.fullmatch(ref):
        return None
    row = db.scalar(select(ConsoleSession).where(
        ConsoleSession.principal_kind == principal_kind,
        ConsoleSession.principal_id == principal_id,
        ConsoleSession.id.startswith(ref, autoescape=True)))
    return _info(row) if row is not None else None


def revoke_session(db: Session, audit: AuditLog, session_id: str, *, reason: str, actor: Actor,
                   now: datetime | None = None) -> bool:
    """End one session (the owner's or an admin's choice). False if it was not live."""
    row = db.get(ConsoleSession, session_id)
    if row is None:
        return False
    return _revoke_rows(db, audit, [row], reason=reason, actor=actor, now=now or utcnow()) == 1


def revoke_all(db: Session, audit: AuditLog, *, principal_kind: str, principal_id: int,
               reason: str, actor: Actor, keep: str | None = None,
               now: datetime | None = None) -> int:
    """End every live session of one principal except ``keep`` (a session id); in the
    caller's transaction, so disabling an account and ending its sessions are one change."""
    rows = db.scalars(select(ConsoleSession).where(
        ConsoleSession.principal_kind == principal_kind,
        ConsoleSession.principal_id == principal_id,
        ConsoleSession.revoked_at.is_(None)))
    return _revoke_rows(db, audit, [row for row in rows if row.id != keep], reason=reason,
                        actor=actor, now=now or utcnow())


def live_sessions(db: Session, *, principal_kind: str, principal_id: int, idle: timedelta,
                  now: datetime | None = None) -> list[SessionInfo]:
    """The principal's sessions that would still be let in, most recently used first."""
    now = now or utcnow()
    rows = db.scalars(select(ConsoleSession).where(
        ConsoleSession.principal_kind == principal_kind,
        ConsoleSession.principal_id == principal_id,
        ConsoleSession.revoked_at.is_(None),
        ConsoleSession.expires_at > now,
        ConsoleSession.last_seen_at >= now - _idle_limit(idle),
    ).order_by(ConsoleSession.last_seen_at.desc()))
    return [_info(row) for row in rows]


def purge_ended(core: Bastion, now: datetime | None = None) -> int:
    """Delete sessions ended (revoked, or past their absolute limit) over RETENTION ago.
    An idle session is past its absolute limit soon after, so this catches it too."""
    cutoff = (now or utcnow()) - RETENTION
    with core.db.session() as db:
        result = db.execute(
            delete(ConsoleSession)
            .where(or_(ConsoleSession.revoked_at < cutoff, ConsoleSession.expires_at < cutoff))
            .execution_options(synchronize_session=False))
        return int(result.rowcount or 0)  # type: ignore[attr-defined]

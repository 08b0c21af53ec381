"""One-time links that let a staff member without a usable key register one.

Without a usable key nobody can confirm a new key with an old one, and a password alone
(or a copied console cookie) must not be enough to add a key that then signs approvals.
So a first key, or a key after all others were lost, revoked or suspended, needs a link
an administrator (in the console) or a local operator (``bastion staff enrol-link``)
issued for that person: random, stored only as its SHA-256, short-lived, usable once,
and the newest link replaces any earlier unused one.
"""

from __future__ import annotations

import hashlib
import secrets
from datetime import datetime, timedelta

from sqlalchemy import select, update
from sqlalchemy.orm import Session

from bastion.audit import Actor
from bastion.context import Bastion
from bastion.models import EnrolmentLink, StaffUser

LINK_INVALID = ("this enrolment link is unknown, used or expired; ask an administrator "
                "for a new one")
TOKEN_BYTES = 32


def _hash(token: str) -> str:
    return hashlib.sha256(token.encode("utf-8", "replace")).hexdigest()


def link_url(core: Bastion, token: str) -> str:
    """The console page that opens the enrolment (web/blueprints/auth.py)."""
    return f"{core.settings.web.public_url}/enrol/{token}"


def issue_link(session: Session, core: Bastion, person: StaffUser, *, actor: Actor,
               now: datetime) -> str:
    """A new link for ``person``; returns its token (shown once, never stored)."""
    session.execute(update(EnrolmentLink)
                    .where(EnrolmentLink.staff_id == person.id, EnrolmentLink.used_at.is_(None),
                           EnrolmentLink.expires_at > now)
                    .values(expires_at=now))
    token = secrets.token_urlsafe(TOKEN_BYTES)
    expires = now + timedelta(hours=core.settings.approvals.enrolment_link_hours)
    session.add(EnrolmentLink(staff_id=person.id, token_hash=_hash(token), issued_by=actor.name,
                              issued_at=now, expires_at=expires))
    session.flush()
    core.audit.append(session, action="staff.enrolment_link_issued", outcome="ok", actor=actor,
                      reasons=["a one-time link to register a security key"],
                      details={"username": person.username, "expires_at": expires.isoformat()})
    return token


def find_link(session: Session, token: str, *, staff_id: int | None, now: datetime,
              lock: bool = False) -> EnrolmentLink | None:
    """The unused, unexpired link with this token (for ``staff_id`` when given)."""
    if not token or len(token) > 200:
        return None
    query = select(EnrolmentLink).where(EnrolmentLink.token_hash == _hash(token))
    if lock:
        query = query.with_for_update()
    link = session.scalar(query)
    if link is None or link.used_at is not None or link.expires_at <= now:
        return None
    if staff_id is not None and link.staff_id != staff_id:
        return None
    return link

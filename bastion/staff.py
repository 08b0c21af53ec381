"""Hospital staff accounts: creation and roles."""

from __future__ import annotations

import re

from sqlalchemy import select
from sqlalchemy.orm import Session

from .audit import Actor, AuditLog
from .models import STAFF_ROLES, StaffRole, StaffUser
from .passwords import hash_password

USERNAME = re.compile(r"^[a-z][a-z0-9._-]{1,63}$")


class StaffError(ValueError):
    pass


def add_staff(
    session: Session,
    audit: AuditLog,
    *,
    username: str,
    full_name: str,
    roles: list[str],
    password: str | None,
    email: str | None = None,
    actor: Actor,
) -> StaffUser:
    if not USERNAME.match(username):
        raise StaffError(
            f"user name {username!r} is not valid: lower-case letters, digits, '.', '_' or '-', "
            "starting with a letter"
        )
    unknown = sorted(set(roles) - set(STAFF_ROLES))
    if unknown or not roles:
        raise StaffError(
            f"roles must be among {', '.join(STAFF_ROLES)} (got {', '.join(roles) or 'none'})"
        )
    if session.scalar(select(StaffUser).where(StaffUser.username == username)):
        raise StaffError(f"staff user {username!r} already exists")
    user = StaffUser(
        username=username,
        full_name=full_name,
        email=email,
        password_hash=hash_password(password) if password else None,
        roles=[StaffRole(role=role) for role in sorted(set(roles))],
    )
    session.add(user)
    session.flush()
    audit.append(
        session,
        action="staff.created",
        outcome="ok",
        actor=actor,
        details={"username": username, "roles": sorted(set(roles))},
    )
    return user

"""Hospital staff accounts: creation and roles.

``add_staff`` gives its roles at once: it serves the local operator (``bastion init``,
``bastion staff add``, ``bastion demo``), who already holds the machine and its database;
those roles are audited, dated, vouched for (no probation) and told to the DPO by the
CLI. The console never grants a role by itself: it creates the account without roles and
files a role change that another admin or the DPO confirms (``bastion.role_changes``).
"""

from __future__ import annotations

import re

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from .audit import Actor, AuditLog
from .context import Bastion
from .models import STAFF_ROLES, StaffRole, StaffUser, utcnow
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
    roles_pending: bool = False,
    language: str = "fr",
    time_zone: str = "Europe/Paris",
) -> StaffUser:
    """``roles_pending``: create the account without roles (``roles`` are checked, then
    proposed by the caller as a role change). ``language`` and ``time_zone``: the hospital's
    (web.default_language, web.time_zone) until the person picks their own."""
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
    now = utcnow()
    given = [] if roles_pending else sorted(set(roles))
    user = StaffUser(
        username=username,
        full_name=full_name,
        email=email,
        password_hash=hash_password(password) if password else None,
        language=language,
        time_zone=time_zone,
        roles=[StaffRole(role=role, granted_at=now, vouched_at=now) for role in given],
    )
    session.add(user)
    session.flush()
    audit.append(
        session,
        action="staff.created",
        outcome="ok",
        actor=actor,
        details={"username": username, "roles": given,
                 **({"roles_proposed": sorted(set(roles))} if roles_pending else {})},
    )
    return user


def active_admins(session: Session) -> int:
    return session.scalar(select(func.count(func.distinct(StaffUser.id))).select_from(StaffUser)
                          .join(StaffRole).where(StaffRole.role == "admin",
                                                 StaffUser.active.is_(True))) or 0


def add_staff_locally(core: Bastion, *, username: str, full_name: str, roles: list[str],
                      password: str | None, email: str | None = None,
                      actor: Actor) -> tuple[int, str]:
    """``add_staff`` for a local operator (the CLI, the demo): the roles apply at once, are
    told to the DPO, and a one-time enrolment link is issued for the first security key.
    Returns the staff id and the link's token."""
    # Imported here: bastion.approvals imports this module.
    from .approvals import issue_link, staff_notices

    with core.db.session() as session:
        user = add_staff(session, core.audit, username=username, full_name=full_name,
                         roles=roles, password=password, email=email, actor=actor,
                         language=core.settings.web.default_language,
                         time_zone=core.settings.web.time_zone)
        staff_notices.roles_changed(session, core, event="roles_set_locally", subject=user,
                                    actor=actor.name, before=[], after=sorted(set(roles)),
                                    path=f"/admin/staff/{user.id}")
        token = issue_link(session, core, user, actor=actor, now=utcnow())
        return user.id, token

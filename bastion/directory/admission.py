"""Admitting a person the directory vouched for: their staff account, under our rules.

At each directory sign-in, in one transaction:

- the account is found by its id at the source (never by login alone: a directory entry
  recreated under an old login is another person and gets neither the old roles nor the
  old keys); a local account of that name is never taken over;
- the first sign-in creates the account, without roles;
- disabled in the directory: the account is disabled here, its roles removed and its
  console sessions ended (``disable_for_directory``); a later sign-in the directory
  accepts again re-activates it, with its roles to be confirmed again;
- roles the groups no longer give are removed at once; roles they add are filed as a role
  change that another admin or the DPO confirms with their key (see
  ``bastion.approvals.role_changes.propose_from_directory`` for why the directory alone
  does not grant), and a new approver's probation follows as for any approver;
- nobody without a role in force gets further: the refusal says which case it is.

Every decision is an audit event naming the source (``ldap`` or ``oidc``).
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import or_, select
from sqlalchemy.orm import Session

from bastion.approvals import ApprovalError, staff_notices
from bastion.approvals import role_changes as changes
from bastion.audit import Actor
from bastion.console_sessions import revoke_all
from bastion.context import Bastion
from bastion.models import StaffUser, utcnow
from bastion.sign_in_lockout import clear_failures
from bastion.staff import USERNAME, add_staff

from .person import DirectoryPerson
from .role_mapping import roles_for


def role_groups(core: Bastion, source: str) -> dict[str, tuple[str, ...]]:
    return dict((core.settings.ldap if source == "ldap" else core.settings.oidc).role_groups)


def _actor(source: str) -> Actor:
    return Actor(f"directory:{source}", "directory")


def refuse(session: Session, core: Bastion, person: DirectoryPerson | None, *, username: str,
           source: str, error: ApprovalError, address: str | None) -> ApprovalError:
    """Audit a refused directory sign-in; returns the error for the caller to raise."""
    core.audit.append(session, action="staff.sign_in_refused", outcome="denied",
                      actor=Actor(f"staff:{username[:60]}", "staff"),
                      reasons=[error.message, *error.reasons],
                      details={"code": error.code, "step": source, "source": source,
                               **({"external_id": person.external_id} if person else {}),
                               **({"address": address} if address else {})})
    return error


def disable_for_directory(session: Session, core: Bastion, user: StaffUser, *, source: str,
                          reason: str, now: datetime) -> int:
    """The directory disabled (or lost) the person: no account, no roles, no session here.
    Returns how many console sessions were ended."""
    if user.granted_roles:
        changes.remove_for_directory(session, core, user, list(user.granted_roles),
                                     source=source, reason=reason, now=now)
    user.active = False
    user.directory_disabled_at = now
    ended = revoke_all(session, core.audit, principal_kind="staff", principal_id=user.id,
                       reason=f"disabled by the directory: {reason}", actor=_actor(source),
                       now=now)
    core.audit.append(session, action="staff.disabled_by_directory", outcome="ok",
                      actor=_actor(source), reasons=[reason],
                      details={"username": user.username, "source": source,
                               "sessions_ended": ended})
    staff_notices.roles_changed(session, core, event="disabled_by_directory", subject=user,
                                actor=_actor(source).name, before=[], after=[], reason=reason,
                                path=f"/admin/staff/{user.id}")
    return ended


def apply_groups(session: Session, core: Bastion, user: StaffUser, person: DirectoryPerson, *,
                 now: datetime, propose: bool) -> None:
    """Bring the account's roles in line with the groups: removals at once; additions filed
    for confirmation when ``propose`` (at sign-in; the periodic check only narrows)."""
    backed = roles_for(person.groups, role_groups(core, person.source))
    granted = user.granted_roles
    gone = sorted(granted - set(backed))
    if gone:
        changes.remove_for_directory(
            session, core, user, gone, source=person.source, now=now,
            reason=f"the directory no longer puts {user.username} in a group of "
                   f"{', '.join(gone)}")
    added = sorted(set(backed) - granted)
    if added and propose and changes.pending_change_of(session, user) is None:
        changes.propose_from_directory(
            session, core, user, sorted(backed), source=person.source, now=now,
            groups=sorted({group for role in added for group in backed[role]}))


def _find(session: Session, person: DirectoryPerson) -> StaffUser | None:
    return session.scalar(select(StaffUser).where(or_(
        (StaffUser.identity_source == person.source)
        & (StaffUser.external_id == person.external_id),
        StaffUser.username == person.username)).order_by(StaffUser.id).limit(1))


def admit(core: Bastion, person: DirectoryPerson, *, address: str | None = None,
          now: datetime | None = None) -> int:
    """The staff id the directory's person signs in as; raises ``ApprovalError`` (audited)
    when they may not. A refusal keeps what the admission changed before it (a disabled
    account, removed roles, a filed role change): one transaction, committed either way."""
    now = now or utcnow()
    with core.db.session() as session:
        outcome = _admit(session, core, person, now)
        if isinstance(outcome, ApprovalError):
            refuse(session, core, person, username=person.username, source=person.source,
                   error=outcome, address=address)
    if isinstance(outcome, ApprovalError):
        raise outcome
    return outcome


def _admit(session: Session, core: Bastion, person: DirectoryPerson,
           now: datetime) -> int | ApprovalError:
    source = person.source
    if not USERNAME.match(person.username):
        return ApprovalError("directory_identity_mismatch",
                             f"the directory's login {person.username!r} cannot be a console user "
                             "name (lower-case letters, digits, '.', '_', '-'); ask IT")
    user = _find(session, person)
    if user is not None and (user.identity_source != source
                             or user.external_id != person.external_id):
        return ApprovalError(
            "directory_identity_mismatch",
            f"the console account {person.username!r} belongs to another identity "
            f"({user.identity_source} account); an administrator must sort it out",
            reasons=[f"directory entry {person.external_id}, account's {user.external_id}"])
    if person.disabled:
        if user is not None and user.active:
            disable_for_directory(session, core, user, source=source,
                                  reason=person.disabled_reason, now=now)
        return ApprovalError("directory_account_disabled",
                             "your account is disabled in the hospital directory; ask IT",
                             reasons=[person.disabled_reason])
    backed = roles_for(person.groups, role_groups(core, source))
    if user is None:
        if not backed:
            return ApprovalError("no_role_in_directory",
                                "no group of yours in the hospital directory gives a role on "
                                "this console; ask IT to add you to the right group")
        user = add_staff(session, core.audit, username=person.username,
                         full_name=person.full_name, roles=sorted(backed), password=None,
                         email=person.email, actor=_actor(source), roles_pending=True)
        user.identity_source, user.external_id = source, person.external_id
        session.flush()
    else:
        user.full_name, user.email = person.full_name[:200], person.email or user.email
        if not user.active:
            if user.directory_disabled_at is None:
                return ApprovalError("staff_inactive", "this account was disabled by an "
                                                      "administrator; ask one of them")
            user.active, user.directory_disabled_at = True, None
            core.audit.append(session, action="staff.enabled_by_directory", outcome="ok",
                              actor=_actor(source),
                              reasons=["the directory accepts the person again; their roles "
                                       "wait for a new confirmation"],
                              details={"username": user.username, "source": source})
    apply_groups(session, core, user, person, now=now, propose=True)
    session.flush()
    if user.granted_roles and not user.role_names:
        return ApprovalError("roles_suspended",
                             "your roles are suspended until the yearly review of staff roles "
                             "confirms them; ask an administrator or the DPO")
    if not user.role_names:
        pending = changes.pending_change_of(session, user)
        if pending is not None:
            return ApprovalError("roles_awaiting_confirmation",
                                f"your roles from the directory wait for an administrator's "
                                f"or the DPO's confirmation (role change {pending.id})",
                                reasons=[f"role change {pending.id}: "
                                         f"{', '.join(pending.roles_after)}"])
        return ApprovalError("no_role_in_directory",
                             "no group of yours in the hospital directory gives a role on this "
                             "console; ask IT to add you to the right group")
    clear_failures(session, StaffUser, StaffUser.id == user.id)
    return user.id

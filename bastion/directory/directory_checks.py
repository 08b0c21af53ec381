"""The periodic check of directory accounts: who the directory disabled, lost, or took out
of their groups since they signed in loses it here at the next check
(``[ldap] check_minutes``), console sessions included.

Only LDAP accounts are checked: an OpenID provider has no query for "is this person still
enabled" (its accounts are checked at each sign-in; a console session then ends at the
idle or absolute limit). If the directory cannot be reached, nothing changes and the
round is audited as failed: ending every session whenever the directory hiccups would
lock IT out exactly when it is needed.
"""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass

from sqlalchemy import select

from bastion.approvals import ApprovalError
from bastion.context import Bastion
from bastion.models import StaffUser, utcnow
from bastion.periodic import run_every

from .admission import apply_groups, disable_for_directory
from .ldap_directory import LdapDirectory

log = logging.getLogger("bastion.directory")


@dataclass(frozen=True)
class CheckReport:
    checked: int
    disabled: int
    narrowed: int


def check_directory_accounts(core: Bastion) -> CheckReport | None:
    """One round; None when there is nothing to check with (no [ldap], no service account)."""
    if core.settings.ldap.url is None:
        return None
    try:
        directory = LdapDirectory(core.settings)
    except ApprovalError as error:
        _check_failed(core, error, "(configuration)")
        return None
    if not directory.can_look_up:
        return None
    with core.db.session() as session:
        accounts = [(user.id, user.username) for user in session.scalars(
            select(StaffUser).where(StaffUser.identity_source == "ldap",
                                    StaffUser.active.is_(True)))]
    disabled = narrowed = 0
    for staff_id, username in accounts:
        try:
            person = directory.lookup(username)
        except ApprovalError as error:
            _check_failed(core, error, username)
            return CheckReport(len(accounts), disabled, narrowed)
        now = utcnow()
        with core.db.session() as session:
            user = session.get(StaffUser, staff_id)
            if user is None or not user.active:
                continue
            if person is None or person.external_id != user.external_id:
                disable_for_directory(session, core, user, source="ldap", now=now,
                                      reason="the directory entry is gone (deleted, or "
                                             "replaced by another under this login)")
                disabled += 1
            elif person.disabled:
                disable_for_directory(session, core, user, source="ldap", now=now,
                                      reason=person.disabled_reason)
                disabled += 1
            else:
                before = set(user.granted_roles)
                apply_groups(session, core, user, person, now=now, propose=False)
                if set(user.granted_roles) != before:
                    narrowed += 1
                if not user.granted_roles:
                    disable_for_directory(session, core, user, source="ldap", now=now,
                                          reason="no longer in any group mapped to a "
                                                 "console role")
                    disabled += 1
    return CheckReport(len(accounts), disabled, narrowed)


def _check_failed(core: Bastion, error: ApprovalError, username: str) -> None:
    with core.db.session() as session:
        core.audit.append(session, action="directory.check_failed", outcome="failed",
                          reasons=[error.message, *error.reasons],
                          details={"source": "ldap", "checked": username})
    log.warning("directory check stopped: %s", error.reasons or error.message)


async def directory_checks(core: Bastion, stop: asyncio.Event) -> None:
    if core.settings.ldap.url is None:
        return

    async def one_round() -> None:
        await asyncio.to_thread(check_directory_accounts, core)

    await run_every(core.settings.ldap.check_minutes * 60, stop, one_round,
                    what="directory account check")

"""The password step of a console sign-in, wherever the password lives.

A local account (``identity_source`` "local") checks its argon2 hash here; any other user
name goes to the hospital directory when ``[ldap]`` is configured. The account decides,
not the order of attempts: a local password never opens a directory account, nor the
directory a local one (the break-glass admin keeps working when the directory is down).
With ``[sign_in] local_passwords = "admins"`` a local password opens only an
administrator's account.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import select

from bastion.approvals import ApprovalError, check_password
from bastion.approvals.sign_in import FAILED
from bastion.context import Bastion
from bastion.models import StaffUser, utcnow
from bastion.sign_in_lockout import LOCK_MINUTES, count_failure, is_locked

from .admission import admit, refuse
from .ldap_directory import LdapDirectory, WrongPassword


@dataclass(frozen=True)
class FirstFactor:
    staff_id: int
    source: str  # local | ldap


def _refused(core: Bastion, username: str, source: str, address: str | None,
             error: ApprovalError) -> ApprovalError:
    # Its own transaction: raising inside the one that changed things would roll back
    # the audit event with them.
    with core.db.session() as session:
        return refuse(session, core, None, username=username, source=source,
                      address=address, error=error)


def password_step(core: Bastion, username: str, password: str, *, address: str | None = None,
                  now: datetime | None = None) -> FirstFactor:
    """Raises ``ApprovalError`` (audited) when the password does not sign this person in."""
    now = now or utcnow()
    with core.db.session() as session:
        account = session.scalar(select(StaffUser).where(StaffUser.username == username))
        source = account.identity_source if account is not None else None
    if core.settings.ldap.url is not None and source in (None, "ldap"):
        return FirstFactor(ldap_step(core, username, password, address=address, now=now), "ldap")
    staff_id = check_password(core, username, password, address=address, now=now)
    if core.settings.sign_in.local_passwords == "admins":
        with core.db.session() as session:
            person = session.get(StaffUser, staff_id)
            admin = person is not None and person.has_role("admin")
        if not admin:
            raise _refused(core, username, "local", address, ApprovalError(
                "local_sign_in_disabled", "local passwords are kept for administrators here: "
                                          "sign in with your hospital account"))
    return FirstFactor(staff_id, "local")


def ldap_step(core: Bastion, username: str, password: str, *, address: str | None,
              now: datetime) -> int:
    with core.db.session() as session:
        account = session.scalar(select(StaffUser).where(StaffUser.username == username))
        account_id = account.id if account is not None else None
        locked = account is not None and is_locked(account, now)
        until = account.locked_until if account is not None else None
    if locked:
        # Refused before the directory is asked: guesses here must not also lock the
        # person's hospital account.
        raise _refused(core, username, "ldap", address, ApprovalError(
            "sign_in_failed", FAILED, reasons=[f"account locked until {until}"]))
    try:
        person = LdapDirectory(core.settings).authenticate(username, password)
    except WrongPassword as wrong:
        why = f"the directory refused the password ({wrong})"
        if account_id is not None:
            with core.db.session() as session:
                if count_failure(session, StaffUser, StaffUser.id == account_id, now):
                    why += f"; account locked for {LOCK_MINUTES} minutes"
        raise _refused(core, username, "ldap", address,
                       ApprovalError("sign_in_failed", FAILED, reasons=[why])) from None
    except ApprovalError as error:
        raise _refused(core, username, "ldap", address, error) from None
    return admit(core, person, address=address, now=now)

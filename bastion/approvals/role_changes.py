"""Changing a staff member's roles: separation of duties.

Nobody changes their own roles. Taking roles away applies at once (it only narrows what
someone may do; the last active admin stays). Granting a role (approver, admin, DPO)
files a pending role change that a second person, another admin or the DPO, neither the
proposer nor the person concerned, confirms with a security-key assertion over the
change's exact content, usable once, as an approval signs a request. A newly granted
approver then serves a probation (``probation``) unless the DPO confirmed. Every step is
audited and told to the DPO.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session
from webauthn.helpers.structs import PublicKeyCredentialRequestOptions

from bastion.audit import Actor
from bastion.context import Bastion
from bastion.models import STAFF_ROLES, RoleChange, StaffRole, StaffUser, utcnow
from bastion.staff import active_admins

from . import staff_notices
from .assertion import CredentialResponse
from .attempts import run_audited
from .confirmation import Attempt, confirmation_options, verify_confirmation
from .errors import ApprovalError
from .lookup import StaffRef, load_staff, staff_actor, staff_id_of, unknown_staff_actor

CONTENT_KIND = "dpi-bastion.role-change"
CONFIRMERS = ("admin", "dpo")


@dataclass(frozen=True)
class RoleChangeInfo:
    id: int | None  # None: a removal applied at once, with no pending change
    staff_id: int
    username: str
    full_name: str
    before: tuple[str, ...]
    after: tuple[str, ...]
    proposed_by: str
    proposed_at: datetime
    status: str  # pending | applied | refused
    decided_by: str | None = None
    decided_at: datetime | None = None
    reason: str | None = None
    origin: str | None = None  # "directory": filed at sign-in from the person's groups

    @property
    def added(self) -> tuple[str, ...]:
        return tuple(sorted(set(self.after) - set(self.before)))

    @property
    def removed(self) -> tuple[str, ...]:
        return tuple(sorted(set(self.before) - set(self.after)))


def _info(change: RoleChange) -> RoleChangeInfo:
    return RoleChangeInfo(change.id, change.staff_id, change.staff.username,
                          change.staff.full_name, tuple(change.roles_before),
                          tuple(change.roles_after), change.proposed_by.username,
                          change.proposed_at, change.status,
                          change.decided_by.username if change.decided_by else None,
                          change.decided_at, change.reason, change.origin)


def change_path(change_id: int) -> str:
    """The console page of a role change (web/blueprints/role_changes.py)."""
    return f"/admin/role-changes/{change_id}"


def role_change_content(change: RoleChange) -> dict[str, Any]:
    """What the confirmer signs: whose roles, from what, to what, asked by whom and when
    (and, for a change the directory's groups filed, that origin)."""
    content = {"kind": CONTENT_KIND, "v": 1, "change_id": change.id,
               "staff": change.staff.username, "before": sorted(change.roles_before),
               "after": sorted(change.roles_after), "proposed_by": change.proposed_by.username,
               "proposed_at": change.proposed_at.astimezone(UTC).strftime(
                   "%Y-%m-%dT%H:%M:%S.%fZ")}
    if change.origin:
        content["origin"] = change.origin
    return content


def _check_roles(roles: list[str]) -> list[str]:
    unknown = sorted(set(roles) - set(STAFF_ROLES))
    if unknown:
        raise ApprovalError("invalid_input", f"unknown role(s): {', '.join(unknown)}")
    return sorted(set(roles))


def _set_roles(person: StaffUser, after: list[str], *, now: datetime, vouched: bool) -> None:
    kept = [role for role in person.roles if role.role in after]
    added = [StaffRole(role=role, granted_at=now, vouched_at=now if vouched else None)
             for role in after if role not in person.granted_roles]
    person.roles = kept + added


def propose_role_change(core: Bastion, staff: StaffRef, roles: list[str], *, proposer: StaffRef,
                        now: datetime | None = None) -> RoleChangeInfo:
    """An admin asks to set ``staff``'s roles to ``roles``. Returns the change: applied at
    once if it only removes roles, else pending."""
    now = now or utcnow()
    after = _check_roles(roles)
    with core.db.session() as session:
        person = load_staff(session, staff, active=False)
        admin = load_staff(session, proposer)
        if not admin.has_role("admin"):
            raise ApprovalError("not_a_confirmer", f"{admin.username} is not an administrator")
        if person.id == admin.id:
            raise ApprovalError("confirmer_is_party",
                                "nobody changes their own roles; ask another administrator")
        before = sorted(person.granted_roles)
        if after == before:
            raise ApprovalError("invalid_input", f"{person.username} already has these roles")
        if ("admin" in before and "admin" not in after and person.active
                and active_admins(session) <= 1):
            raise ApprovalError("last_admin", "this is the last active administrator; make "
                                              "someone else an administrator first")
        actor = staff_actor(admin, "admin")
        if set(after) <= set(before):
            _set_roles(person, after, now=now, vouched=True)
            core.audit.append(session, action="staff.roles_changed", outcome="ok", actor=actor,
                              reasons=["roles removed: no second person needed"],
                              details={"username": person.username, "before": before,
                                       "after": after})
            staff_notices.roles_changed(session, core, event="roles_removed", subject=person,
                                        actor=actor.name, before=before, after=after,
                                        path=f"/admin/staff/{person.id}")
            return RoleChangeInfo(None, person.id, person.username, person.full_name,
                                  tuple(before), tuple(after), admin.username, now, "applied",
                                  admin.username, now)
        waiting = session.scalar(select(RoleChange.id).where(RoleChange.staff_id == person.id,
                                                              RoleChange.status == "pending"))
        if waiting is not None:
            raise ApprovalError("role_change_not_pending",
                                f"role change {waiting} for {person.username} is still waiting; "
                                "have it confirmed or refused first")
        change = RoleChange(staff_id=person.id, roles_before=before, roles_after=after,
                            proposed_by_id=admin.id, proposed_at=now, status="pending")
        session.add(change)
        session.flush()
        core.audit.append(session, action="staff.role_change_proposed", outcome="ok",
                          actor=actor,
                          reasons=["granting a role needs another admin's or the DPO's "
                                   "security-key confirmation"],
                          details={"change": change.id, "username": person.username,
                                   "before": before, "after": after})
        staff_notices.roles_changed(session, core, event="role_change_proposed",
                                    subject=person, actor=actor.name, before=before,
                                    after=after, path=change_path(change.id))
        return _info(change)


def pending_change_of(session: Session, person: StaffUser) -> RoleChange | None:
    return session.scalar(select(RoleChange).where(RoleChange.staff_id == person.id,
                                                   RoleChange.status == "pending"))


def propose_from_directory(session: Session, core: Bastion, person: StaffUser,
                           roles: list[str], *, source: str, groups: list[str],
                           now: datetime) -> RoleChange:
    """The directory puts ``person`` in groups mapped to roles they do not hold: file the
    change like an admin's proposal, the person standing as proposer (so any other admin or
    the DPO may confirm it). The directory is the hospital's word on who *may* hold a
    role, not a second person here: its administrators are not bound by this bastion's
    separation of duties, so a role it grants takes effect only once confirmed with a key."""
    after = _check_roles(roles)
    before = sorted(person.granted_roles)
    change = RoleChange(staff_id=person.id, roles_before=before, roles_after=after,
                        proposed_by_id=person.id, proposed_at=now, status="pending",
                        origin="directory")
    session.add(change)
    session.flush()
    actor = Actor(f"directory:{source}", "directory")
    core.audit.append(session, action="staff.role_change_proposed", outcome="ok", actor=actor,
                      reasons=[f"the {source} directory puts {person.username} in "
                               f"{', '.join(groups) or 'no mapped group'}",
                               "a role from the directory takes effect once another admin or "
                               "the DPO confirms it with their security key"],
                      details={"change": change.id, "username": person.username,
                               "before": before, "after": after, "source": source})
    staff_notices.roles_changed(session, core, event="role_change_proposed", subject=person,
                                actor=actor.name, before=before, after=after,
                                path=change_path(change.id))
    return change


def remove_for_directory(session: Session, core: Bastion, person: StaffUser, roles: list[str],
                         *, source: str, reason: str, now: datetime) -> None:
    """The directory no longer backs these roles: taken away at once (narrowing needs no
    second person). A pending change that would grant one of them is refused too."""
    before = sorted(person.granted_roles)
    after = sorted(set(before) - set(roles))
    _set_roles(person, after, now=now, vouched=True)
    actor = Actor(f"directory:{source}", "directory")
    core.audit.append(session, action="staff.roles_changed", outcome="ok", actor=actor,
                      reasons=[reason, "roles removed: no second person needed"],
                      details={"username": person.username, "before": before, "after": after,
                               "source": source})
    staff_notices.roles_changed(session, core, event="roles_removed_by_directory",
                                subject=person, actor=actor.name, before=before, after=after,
                                reason=reason, path=f"/admin/staff/{person.id}")


def _load_change(session: Session, change_id: int, *, lock: bool = False) -> RoleChange:
    query = select(RoleChange).where(RoleChange.id == change_id)
    if lock:
        query = query.with_for_update()
    change = session.scalar(query)
    if change is None:
        raise ApprovalError("role_change_not_found", f"there is no role change {change_id}")
    return change


def _check_confirmer(change: RoleChange, person: StaffUser) -> None:
    if not any(person.has_role(role) for role in CONFIRMERS):
        raise ApprovalError("not_a_confirmer",
                            f"{person.username} is neither an administrator nor the DPO")
    if person.id in (change.proposed_by_id, change.staff_id):
        raise ApprovalError("confirmer_is_party",
                            f"{person.username} proposed this role change or is its subject; "
                            "another administrator or the DPO must confirm it")
    if change.status != "pending":
        raise ApprovalError("role_change_not_pending",
                            f"role change {change.id} is already {change.status}")
    if sorted(change.staff.granted_roles) != sorted(change.roles_before):
        raise ApprovalError("request_changed",
                            f"{change.staff.username}'s roles changed since role change "
                            f"{change.id} was proposed; refuse it and propose again")


def _refusal_handler(core: Bastion, change_id: int, staff_id: int, stage: str,
                     attempt: Attempt, now: datetime):  # noqa: ANN202
    def refused(session: Session, exc: ApprovalError) -> None:
        attempt.settle(session, core, exc, now)
        person = session.get(StaffUser, staff_id)
        actor = staff_actor(person, "staff") if person else unknown_staff_actor(staff_id)
        core.audit.append(session, action="staff.role_change_confirmation_refused",
                          outcome="denied", actor=actor, reasons=[exc.message, *exc.reasons],
                          details={"code": exc.code, "stage": stage, "change": change_id})
    return refused


def role_change_options(core: Bastion, change_id: int, confirmer: StaffRef, *,
                        now: datetime | None = None) -> PublicKeyCredentialRequestOptions:
    now = now or utcnow()
    staff_id = staff_id_of(confirmer)
    attempt = Attempt()

    def work(session: Session) -> PublicKeyCredentialRequestOptions:
        change = _load_change(session, change_id)
        person = load_staff(session, staff_id)
        _check_confirmer(change, person)
        return confirmation_options(session, core, person, purpose="role_change",
                                    content=role_change_content(change), now=now)

    return run_audited(core, work, _refusal_handler(core, change_id, staff_id, "options",
                                                    attempt, now))


def confirm_role_change(core: Bastion, change_id: int, confirmer: StaffRef,
                        response: CredentialResponse, *, now: datetime | None = None
                        ) -> RoleChangeInfo:
    """Verify the confirmer's assertion and apply the change. A DPO's confirmation also
    vouches for the new roles (no probation)."""
    now = now or utcnow()
    staff_id = staff_id_of(confirmer)
    attempt = Attempt()

    def work(session: Session) -> RoleChangeInfo:
        change = _load_change(session, change_id, lock=True)
        person = load_staff(session, staff_id)
        _check_confirmer(change, person)
        key, row = verify_confirmation(session, core, person, response, purpose="role_change",
                                       content=role_change_content(change),
                                       subject=f"role change {change.id}", now=now,
                                       attempt=attempt)
        by_dpo = person.has_role("dpo")
        _set_roles(change.staff, list(change.roles_after), now=now, vouched=by_dpo)
        change.status, change.decided_by_id, change.decided_at = "applied", person.id, now
        change.credential_id, change.challenge = key.id, row.challenge
        session.flush()
        actor = staff_actor(person, "dpo" if by_dpo else "admin")
        core.audit.append(session, action="staff.roles_changed", outcome="ok", actor=actor,
                          reasons=[f"proposed by {change.proposed_by.username}, confirmed by "
                                   f"{person.username} with a security key",
                                   "WebAuthn assertion verified (origin, RP id, user "
                                   "verification, signature, counter)"],
                          details={"change": change.id, "username": change.staff.username,
                                   "before": list(change.roles_before),
                                   "after": list(change.roles_after),
                                   "proposed_by": change.proposed_by.username,
                                   "credential": key.name, "challenge": row.challenge,
                                   "vouched_by_dpo": by_dpo})
        staff_notices.roles_changed(session, core, event="role_change_applied",
                                    subject=change.staff, actor=actor.name,
                                    before=change.roles_before, after=change.roles_after,
                                    proposer=change.proposed_by.username,
                                    path=change_path(change.id))
        return _info(change)

    return run_audited(core, work, _refusal_handler(core, change_id, staff_id, "confirm",
                                                    attempt, now))


def _check_voucher(change: RoleChange, person: StaffUser) -> StaffRole:
    if not person.has_role("dpo"):
        raise ApprovalError("not_a_confirmer", f"{person.username} is not the DPO")
    if person.id in (change.proposed_by_id, change.staff_id):
        raise ApprovalError("confirmer_is_party",
                            f"{person.username} proposed this role change or is its subject")
    role = next((r for r in change.staff.roles if r.role == "approver"), None)
    if change.status != "applied" or "approver" not in change.roles_after or role is None:
        raise ApprovalError("role_change_not_pending",
                            f"role change {change.id} gave no approver role still held")
    if role.vouched_at is not None or role.granted_at is None:
        raise ApprovalError("role_change_not_pending",
                            f"{change.staff.username}'s approver role needs no confirmation")
    return role


def vouch_content(change: RoleChange) -> dict[str, Any]:
    return {**role_change_content(change), "action": "vouch"}


def vouch_options(core: Bastion, change_id: int, dpo: StaffRef, *,
                  now: datetime | None = None) -> PublicKeyCredentialRequestOptions:
    now = now or utcnow()
    staff_id = staff_id_of(dpo)
    attempt = Attempt()

    def work(session: Session) -> PublicKeyCredentialRequestOptions:
        change = _load_change(session, change_id)
        person = load_staff(session, staff_id)
        _check_voucher(change, person)
        return confirmation_options(session, core, person, purpose="role_change",
                                    content=vouch_content(change), now=now)

    return run_audited(core, work, _refusal_handler(core, change_id, staff_id, "vouch options",
                                                    attempt, now))


def vouch_for_approver(core: Bastion, change_id: int, dpo: StaffRef,
                       response: CredentialResponse, *, now: datetime | None = None
                       ) -> RoleChangeInfo:
    """The DPO confirms, with their key, the approver an admin's confirmation made: the
    probation ends at once."""
    now = now or utcnow()
    staff_id = staff_id_of(dpo)
    attempt = Attempt()

    def work(session: Session) -> RoleChangeInfo:
        change = _load_change(session, change_id, lock=True)
        person = load_staff(session, staff_id)
        role = _check_voucher(change, person)
        key, row = verify_confirmation(session, core, person, response, purpose="role_change",
                                       content=vouch_content(change),
                                       subject=f"role change {change.id}", now=now,
                                       attempt=attempt)
        role.vouched_at = now
        core.audit.append(session, action="staff.approver_vouched", outcome="ok",
                          actor=staff_actor(person, "dpo"),
                          reasons=["the DPO confirmed the new approver with a security key: "
                                   "their approvals count towards two-person approvals now"],
                          details={"change": change.id, "username": change.staff.username,
                                   "credential": key.name, "challenge": row.challenge})
        return _info(change)

    return run_audited(core, work, _refusal_handler(core, change_id, staff_id, "vouch",
                                                    attempt, now))


def needs_vouching(core: Bastion, change_id: int) -> bool:
    """Is this change's approver still waiting for the DPO (or the end of probation)?"""
    with core.db.session() as session:
        change = _load_change(session, change_id)
        role = next((r for r in change.staff.roles if r.role == "approver"), None)
        return (change.status == "applied" and "approver" in change.roles_after
                and role is not None and role.granted_at is not None and role.vouched_at is None)


def refuse_role_change(core: Bastion, change_id: int, staff: StaffRef, reason: str, *,
                       now: datetime | None = None) -> RoleChangeInfo:
    """An admin or the DPO (the proposer too: withdrawing it) refuses a pending change."""
    now = now or utcnow()
    reason = (reason or "").strip()
    with core.db.session() as session:
        change = _load_change(session, change_id, lock=True)
        person = load_staff(session, staff)
        if not any(person.has_role(role) for role in CONFIRMERS):
            raise ApprovalError("not_a_confirmer",
                                f"{person.username} is neither an administrator nor the DPO")
        if change.status != "pending":
            raise ApprovalError("role_change_not_pending",
                                f"role change {change.id} is already {change.status}")
        if not reason:
            raise ApprovalError("reason_required", "say why the role change is refused")
        change.status, change.decided_by_id, change.decided_at = "refused", person.id, now
        change.reason = reason
        session.flush()
        actor = staff_actor(person, "admin" if person.has_role("admin") else "dpo")
        core.audit.append(session, action="staff.role_change_refused", outcome="denied",
                          actor=actor, reasons=[reason],
                          details={"change": change.id, "username": change.staff.username,
                                   "before": list(change.roles_before),
                                   "after": list(change.roles_after)})
        staff_notices.roles_changed(session, core, event="role_change_refused",
                                    subject=change.staff, actor=actor.name,
                                    before=change.roles_before, after=change.roles_after,
                                    reason=reason, path=change_path(change.id))
        return _info(change)


def get_role_change(core: Bastion, change_id: int) -> RoleChangeInfo:
    with core.db.session() as session:
        return _info(_load_change(session, change_id))


def list_role_changes(core: Bastion, *, status: str | None = None,
                      staff: StaffRef | None = None, limit: int = 200) -> list[RoleChangeInfo]:
    with core.db.session() as session:
        query = select(RoleChange).order_by(RoleChange.id.desc()).limit(limit)
        if status is not None:
            query = query.where(RoleChange.status == status)
        if staff is not None:
            query = query.where(RoleChange.staff_id == staff_id_of(staff))
        return [_info(change) for change in session.scalars(query)]

"""The database side of decisions: which contract is current, inventory snapshots, and one
call that gathers the facts and asks the engine. Blocking: the proxy calls these through
``asyncio.to_thread``."""

from __future__ import annotations

from datetime import datetime

from pydantic import ValidationError
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from bastion.i18n.marker import N_, Phrase
from bastion.models import (
    ContractVersion,
    SshSession,
    StaffUser,
    Target,
    Technician,
    TechnicianKey,
    Vendor,
)

from .checks import Inventory
from .engine import REQUEST, AccessQuery, Decision, TargetFacts, decide, refuse
from .schema import Contract


class ContractStoreError(Exception):
    """A stored contract version cannot be read back; decisions under it must deny."""


def target_facts(target: Target) -> TargetFacts:
    return TargetFacts(
        name=target.name,
        labels=dict(target.labels or {}),
        data_categories=frozenset(target.data_categories or ()),
        accounts=tuple(sorted(a.name for a in target.accounts)),
    )


def inventory_snapshot(session: Session) -> Inventory:
    targets = tuple(target_facts(t) for t in session.scalars(select(Target).order_by(Target.name)))
    keys = dict(session.execute(
        select(TechnicianKey.fingerprint, Technician.ident)
        .join(Technician, Technician.id == TechnicianKey.technician_id)).all())
    vendors = dict(session.execute(
        select(Technician.ident, Vendor.slug)
        .join(Vendor, Vendor.id == Technician.vendor_id)).all())
    approvers = frozenset(s.username for s in session.scalars(
        select(StaffUser).where(StaffUser.active.is_(True))) if s.has_role("approver"))
    return Inventory(targets, keys, vendors, approvers)


def contract_of(version: ContractVersion) -> Contract:
    try:
        return Contract.model_validate(version.document)
    except ValidationError as exc:
        raise ContractStoreError(
            f"stored contract {version.reference} v{version.version} cannot be read: "
            f"{exc.error_count()} problem(s)") from None


def current_contract_for_vendor(session: Session,
                                vendor_id: int) -> tuple[ContractVersion, Contract] | None:
    version = session.scalar(select(ContractVersion).where(
        ContractVersion.vendor_id == vendor_id, ContractVersion.is_current.is_(True)))
    return None if version is None else (version, contract_of(version))


def current_contract_for_technician(
        session: Session, technician_ident: str) -> tuple[ContractVersion, Contract] | None:
    """The technician's vendor's current contract, or None (unknown technician, no contract).
    Raises :class:`ContractStoreError` when the stored version is unreadable."""
    technician = session.scalar(select(Technician).where(Technician.ident == technician_ident))
    if technician is None:
        return None
    return current_contract_for_vendor(session, technician.vendor_id)


def count_live_sessions(session: Session, contract: Contract, technician_ident: str) -> int:
    """Live sessions counted the way the contract's ``scope.concurrency`` says."""
    query = (select(func.count(SshSession.id))
             .join(Technician, Technician.id == SshSession.technician_id)
             .where(SshSession.status == "live"))
    if contract.scope.concurrency == "vendor":
        vendor = select(Vendor.id).where(Vendor.slug == contract.vendor.id).scalar_subquery()
        query = query.where(Technician.vendor_id == vendor)
    else:
        query = query.where(Technician.ident == technician_ident)
    return int(session.scalar(query) or 0)


def decide_access(session: Session, *, technician: str, target: str, account: str | None,
                  channel: str, at: datetime, window_end: datetime | None = None,
                  break_glass: bool = False, whole_window: bool = False,
                  acknowledged: bool = False) -> tuple[Decision, ContractVersion | None]:
    """Gather the facts and ask the engine. Unknown people or targets and unreadable
    contracts are denials with their reasons, never exceptions."""
    person = session.scalar(select(Technician).where(Technician.ident == technician))
    if person is None:
        detail = Phrase.of(N_("unknown technician {technician}"), technician=technician)
        return refuse("", "technician_unknown", detail.english(),
                      Phrase(N_("unknown technician or key")), detail=detail), None
    if not person.active:
        # The suspension's reason is the admin's own words, shown as written.
        detail = Phrase.of(N_("technician {technician} is inactive: {why}"),
                           technician=technician,
                           why=person.suspended_reason or Phrase(N_("no reason recorded")))
        return refuse("", "technician_inactive", detail.english(),
                      Phrase(N_("your access is suspended; contact the hospital's IT")),
                      detail=detail), None
    if person.vendor.review_suspended_at is not None:
        # Set by bastion.access_review.yearly: a year without a confirmed review, and the
        # grace period after it, are over.
        detail = Phrase.of(N_("vendor {vendor} suspended on {day}: no access review confirmed "
                              "for a year; an admin or the DPO must confirm its accesses"),
                           vendor=person.vendor.slug,
                           day=person.vendor.review_suspended_at.date())
        return refuse("", "access_review_overdue", detail.english(),
                      Phrase(N_("your company's accesses are suspended until the hospital "
                                "reviews them; contact the hospital's IT")),
                      detail=detail), None
    row = session.scalar(select(Target).where(Target.name == target))
    if row is None or not row.enabled:
        detail = Phrase.of(N_("unknown or disabled target {target}"), target=target)
        return refuse("", "target_unknown", detail.english(),
                      Phrase.of(N_("unknown target {target}"), target=target),
                      detail=detail), None
    try:
        current = current_contract_for_vendor(session, person.vendor_id)
    except ContractStoreError as exc:
        return refuse("", "contract_unreadable", str(exc),
                      Phrase(N_("your contract cannot be read; contact the hospital's IT"))), None
    if current is None:
        detail = Phrase.of(N_("vendor {vendor} has no current contract"),
                           vendor=person.vendor.slug)
        return refuse("", "no_contract", detail.english(),
                      Phrase(N_("your company has no current contract with the hospital")),
                      detail=detail), None
    version, contract = current
    active = count_live_sessions(session, contract, technician) if channel != REQUEST else 0
    query = AccessQuery(technician=technician, target=target_facts(row), account=account,
                        channel=channel, at=at, window_end=window_end, active_sessions=active,
                        break_glass=break_glass, whole_window=whole_window,
                        acknowledged=acknowledged)
    decision = decide(contract, query)
    # --- access review (bastion.access_review): a suspended or revoked access refuses ------
    # Imported here: bastion.access_review imports this package. Checked on the account the
    # engine settled (or every account when none was), so the refusal names the review.
    from bastion.access_review.suspensions import blocking_decision

    settled = decision.constraints.account if decision.constraints is not None else account
    blocked = blocking_decision(session, technician_id=person.id, target_id=row.id,
                                account=settled)
    if blocked is not None:
        return refuse(contract.reference, blocked.code, blocked.reason, blocked.headline,
                       contract.language, blocked.detail), version
    # --- end of access review --------------------------------------------------------------
    return decision, version

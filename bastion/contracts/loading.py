"""``contracts load``: store contract files as versions, sync vendors, technicians and keys,
and revoke grants the new version no longer allows.

All files are checked first, against the database's inventory; any problem and nothing
is written (but the refusal itself is audited). Everything else happens in one
transaction, so a failure half-way leaves the database as it was.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path

from sqlalchemy import delete, func, select
from sqlalchemy.orm import Session

from bastion.audit import Actor, AuditLog
from bastion.console_sessions import revoke_all
from bastion.context import Bastion
from bastion.models import (
    ContractVersion,
    Grant,
    SshSession,
    Technician,
    TechnicianKey,
    Vendor,
    utcnow,
)

from .checks import check_paths
from .constraints import Constraints, ScopeError
from .engine import REQUEST, AccessQuery, decide
from .parsing import ParsedContract, Problem
from .repository import inventory_snapshot, target_facts
from .schema import Contract, TechnicianEntry
from .sshkeys import inspect_key
from .windows import day_end

# Marks a deactivation done by a load, so a later load may undo it; a suspension an admin
# decided for another reason is never lifted by a contract file.
REMOVED_FROM_CONTRACT = "removed from contract"


@dataclass
class LoadedContract:
    path: str
    vendor: str
    reference: str
    version: int
    status: str  # loaded | unchanged | reinstated
    technicians: dict[str, list[str]] = field(default_factory=dict)
    revoked_grants: list[int] = field(default_factory=list)
    refused_requests: list[int] = field(default_factory=list)  # pending, no longer grantable


@dataclass
class LoadReport:
    problems: list[Problem]
    contracts: list[LoadedContract] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.problems


def load_contracts(core: Bastion, paths: Iterable[Path], actor: Actor, *,
                   now: datetime | None = None) -> LoadReport:
    now = now or utcnow()
    with core.db.session() as session:
        report = check_paths(list(paths), inventory_snapshot(session), now)
        if not report.files and not report.problems:
            report.problems.append(Problem("-", 0, "no contract file given"))
        if not report.ok:
            core.audit.append(session, action="contract.rejected", outcome="failed", actor=actor,
                              reasons=[str(p) for p in report.problems[:100]],
                              details={"files": [f.path for f in report.files],
                                       "problem_count": len(report.problems)})
            return LoadReport(report.problems, notes=report.notes)
        _release_moved_keys(session, report.files)
        loaded = [_apply(session, core.audit, parsed, actor, now) for parsed in report.files]
        _recheck_pending_requests(session, core.audit, loaded, actor, now)
    return LoadReport([], loaded, report.notes)


def _recheck_pending_requests(session: Session, audit: AuditLog, loaded: list[LoadedContract],
                              actor: Actor, now: datetime) -> None:
    """A new version (or a technician it removed) leaves pending requests that can no
    longer be granted: out of the approvers' queue now, with the engine's reasons."""
    # Imported here: bastion.approvals imports this package.
    from bastion.approvals.ungrantable import recheck_pending

    for item in loaded:
        if item.status == "unchanged":
            continue
        vendor_id = session.scalar(select(Vendor.id).where(Vendor.slug == item.vendor))
        item.refused_requests = recheck_pending(
            session, audit, trigger=f"contract {item.reference} version {item.version} loaded",
            actor=actor, now=now, vendor_id=vendor_id)


def content_hash(text: str) -> str:
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def _apply(session: Session, audit: AuditLog, parsed: ParsedContract, actor: Actor,
           now: datetime) -> LoadedContract:
    contract = parsed.contract
    assert contract is not None  # only called once every file has passed the checks
    digest = content_hash(parsed.text)
    vendor = _vendor(session, contract)
    current = session.scalar(select(ContractVersion).where(
        ContractVersion.vendor_id == vendor.id, ContractVersion.is_current.is_(True)))
    same = session.scalar(select(ContractVersion).where(
        ContractVersion.vendor_id == vendor.id, ContractVersion.content_hash == digest))
    facts = {"reference": contract.reference, "content_hash": digest,
             "source_name": parsed.path}
    if same is not None and same.is_current:
        audit.append(session, action="contract.unchanged", outcome="ok", actor=actor,
                     vendor=vendor.slug, details={**facts, "version": same.version})
        return LoadedContract(parsed.path, vendor.slug, contract.reference, same.version,
                              "unchanged")
    if current is not None:
        current.is_current = False
        session.flush()
    if same is not None:
        # Going back to an earlier text: the stored version (same hash) becomes current
        # again rather than a copy under a new number.
        same.is_current = True
        version, status = same, "reinstated"
    else:
        number = (session.scalar(select(func.max(ContractVersion.version))
                                 .where(ContractVersion.vendor_id == vendor.id)) or 0) + 1
        version = ContractVersion(
            vendor_id=vendor.id, version=number, reference=contract.reference,
            content_hash=digest, source_name=parsed.path[-255:], source_text=parsed.text,
            document=contract.model_dump(mode="json"), is_current=True, loaded_at=now,
            loaded_by=actor.name)
        session.add(version)
        status = "loaded"
    session.flush()
    label = f"contract:{contract.reference} v{version.version}"
    people = _sync_technicians(session, vendor, contract, label)
    audit.append(
        session, action="contract.loaded", outcome="ok", actor=actor, vendor=vendor.slug,
        reasons=[f"{status} as version {version.version}"],
        details={**facts, "version": version.version, "status": status,
                 "previous_version": current.version if current is not None else None,
                 "dpa_reference": contract.contract.dpa_reference,
                 "valid_from": contract.contract.valid_from.isoformat(),
                 "valid_until": contract.contract.valid_until.isoformat(),
                 "technicians": people})
    revoked = revoke_misfit_grants(session, audit, vendor, contract, label, actor, now)
    # A technician dropped from the contract loses their vendor-portal sessions too.
    for ident in people.get("deactivated", []):
        tech_id = session.scalar(select(Technician.id).where(Technician.ident == ident))
        if tech_id is not None:
            revoke_all(session, audit, principal_kind="technician", principal_id=tech_id,
                       reason=f"removed from {label}", actor=actor, now=now)
    return LoadedContract(parsed.path, vendor.slug, contract.reference, version.version, status,
                          people, revoked)


def _vendor(session: Session, contract: Contract) -> Vendor:
    vendor = session.scalar(select(Vendor).where(Vendor.slug == contract.vendor.id)
                            .with_for_update())
    if vendor is None:
        vendor = Vendor(slug=contract.vendor.id, name=contract.vendor.name)
        session.add(vendor)
        session.flush()
    elif vendor.name != contract.vendor.name:
        vendor.name = contract.vendor.name
    return vendor


def _release_moved_keys(session: Session, files: list[ParsedContract]) -> None:
    """A key moving between two technicians of this load leaves its old owner first, so the
    unique fingerprint never sees it twice mid-transaction."""
    owner = {inspect_key(line).fingerprint: tech.id
             for f in files for tech in f.contract.technicians  # type: ignore[union-attr]
             for line in tech.keys}
    rows = session.execute(
        select(TechnicianKey.id, TechnicianKey.fingerprint, Technician.ident)
        .join(Technician, Technician.id == TechnicianKey.technician_id)
        .where(TechnicianKey.fingerprint.in_(list(owner)))).all()
    moved = [key_id for key_id, fingerprint, ident in rows if owner[fingerprint] != ident]
    if moved:
        session.execute(delete(TechnicianKey).where(TechnicianKey.id.in_(moved)))
        session.flush()
        session.expire_all()


def _sync_technicians(session: Session, vendor: Vendor, contract: Contract,
                      label: str) -> dict[str, list[str]]:
    changes: dict[str, list[str]] = {"added": [], "updated": [], "deactivated": [],
                                     "reactivated": [], "keys_added": [], "keys_removed": []}
    existing = {t.ident: t for t in session.scalars(
        select(Technician).where(Technician.vendor_id == vendor.id))}
    pending_keys: list[tuple[Technician, list[str]]] = []
    for entry in contract.technicians:
        tech = existing.get(entry.id)
        if tech is None:
            tech = Technician(ident=entry.id, vendor_id=vendor.id, active=True)
            _fill(tech, entry, contract)
            session.add(tech)
            changes["added"].append(entry.id)
        elif _update(tech, entry, contract):
            changes["updated"].append(entry.id)
        if not tech.active and (tech.suspended_reason or "").startswith(REMOVED_FROM_CONTRACT):
            tech.active, tech.suspended_reason = True, None
            changes["reactivated"].append(entry.id)
        pending_keys.append((tech, entry.keys))
    session.flush()
    for tech, lines in pending_keys:
        wanted = {inspect_key(line).fingerprint: line for line in lines}
        for key in list(tech.keys):
            if key.fingerprint not in wanted:
                tech.keys.remove(key)
                changes["keys_removed"].append(f"{tech.ident} {key.fingerprint}")
    session.flush()
    for tech, lines in pending_keys:
        have = {key.fingerprint for key in tech.keys}
        for line in lines:
            info = inspect_key(line)
            if info.fingerprint in have:
                continue
            have.add(info.fingerprint)
            tech.keys.append(TechnicianKey(algorithm=info.algorithm, public_key=info.public_key,
                                           fingerprint=info.fingerprint, comment=info.comment))
            changes["keys_added"].append(f"{tech.ident} {info.fingerprint}")
    named = {entry.id for entry in contract.technicians}
    for ident, tech in existing.items():
        if ident not in named and tech.active:
            tech.active = False
            tech.suspended_reason = f"{REMOVED_FROM_CONTRACT} {label.removeprefix('contract:')}"
            changes["deactivated"].append(ident)
    session.flush()
    return {kind: names for kind, names in changes.items() if names}


def _fill(tech: Technician, entry: TechnicianEntry, contract: Contract) -> None:
    tech.full_name = entry.full_name
    tech.email = entry.email
    tech.employer = entry.employer
    tech.valid_until = (day_end(entry.valid_until, contract.zone)
                        if entry.valid_until is not None else None)


def _update(tech: Technician, entry: TechnicianEntry, contract: Contract) -> bool:
    before = (tech.full_name, tech.email, tech.employer, tech.valid_until)
    _fill(tech, entry, contract)
    return before != (tech.full_name, tech.email, tech.employer, tech.valid_until)


def grant_misfit(contract: Contract, grant: Grant, now: datetime) -> list[str]:
    """Why ``grant`` no longer fits ``contract`` (empty: it still fits)."""
    decision = decide(contract, AccessQuery(
        technician=grant.technician.ident, target=target_facts(grant.target),
        account=grant.account_name, channel=REQUEST, at=max(now, grant.not_before),
        window_end=grant.not_after, break_glass=grant.break_glass))
    if not decision.allowed or decision.constraints is None:
        return list(decision.reasons)
    ceiling = decision.constraints
    reasons = []
    if grant.not_after > ceiling.latest_end:
        reasons.append(f"contract {contract.reference} now ends this access at "
                       f"{ceiling.latest_end.isoformat()}, before the grant's end "
                       f"{grant.not_after.isoformat()}")
    try:
        reasons.extend(Constraints.from_dict(grant.scope).exceeds(ceiling))
    except ScopeError as exc:
        reasons.append(f"the grant's scope cannot be compared with the contract: {exc}")
    return reasons


def revoke_misfit_grants(session: Session, audit: AuditLog, vendor: Vendor, contract: Contract,
                         label: str, actor: Actor, now: datetime) -> list[int]:
    grants = session.scalars(
        select(Grant).join(Technician, Technician.id == Grant.technician_id)
        .where(Technician.vendor_id == vendor.id, Grant.status.in_(("approved", "active")),
               Grant.not_after > now)
        .order_by(Grant.id)).all()
    revoked = []
    for grant in grants:
        reasons = grant_misfit(contract, grant, now)
        if not reasons:
            continue
        revoke_grant(session, audit, grant, reasons, by=label, actor=actor, now=now)
        revoked.append(grant.id)
    return revoked


def revoke_grant(session: Session, audit: AuditLog, grant: Grant, reasons: list[str], *,
                 by: str, actor: Actor, now: datetime) -> list[int]:
    """Revoke and ask the serving node to close its live sessions; returns their ids."""
    grant.status = "revoked"
    grant.revoked_at = now
    grant.revoked_by = by
    grant.revoke_reason = "; ".join(reasons)
    sessions = session.scalars(select(SshSession).where(
        SshSession.grant_id == grant.id, SshSession.status == "live")).all()
    for live in sessions:
        if live.terminate_requested_at is None:
            live.terminate_requested_at = now
            live.terminate_requested_by = by
            live.terminate_reason = grant.revoke_reason
    audit.append(session, action="grant.revoked", outcome="ok", actor=actor,
                 vendor=grant.technician.vendor.slug, technician=grant.technician.ident,
                 target=grant.target.name, account=grant.account_name, grant_id=grant.id,
                 reasons=reasons, details={"revoked_by": by,
                                           "sessions_terminated": [s.id for s in sessions]})
    return [s.id for s in sessions]

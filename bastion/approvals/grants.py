"""Grants: the time-boxed permission an approval creates, and its end.

States: approved -> active (the proxy, on the first session) -> ended | revoked.
A grant's window is the intersection of the request's window and the contracts engine's
ceiling (``latest_end``): never wider than either. Its scope is the engine's constraints
narrowed to the channels the request asked for, snapshotted with the contract version,
so the proxy enforces the contract as it was when access was approved.
"""

from __future__ import annotations

from collections.abc import Collection
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from bastion.audit import Actor
from bastion.context import Bastion
from bastion.contracts import Constraints
from bastion.contracts import revoke_grant as revoke_in_session
from bastion.models import AccessRequest, Grant, Technician, utcnow

from .certificates import attach_certificate
from .errors import ApprovalError
from .lookup import load_grant
from .views import GrantInfo, grant_info

LIVE_STATES = ("approved", "active")


def grant_window(request: AccessRequest, constraints: Constraints,
                 now: datetime) -> tuple[datetime, datetime]:
    not_before = max(request.window_start, now).replace(microsecond=0)
    not_after = min(request.window_end, constraints.latest_end).replace(microsecond=0)
    return not_before, not_after


def grant_scope(constraints: Constraints, channels: Collection[str]) -> dict[str, Any]:
    """The engine's constraints, less the channels the request did not ask for."""
    scope = constraints.to_dict()
    granted = sorted(set(channels) & constraints.channels)
    scope["channels"] = granted
    if "forward" not in granted:
        scope["forwards"] = []
    if "sftp" not in granted:
        scope["sftp"] = {"access": "none", "allow": [], "deny": []}
    return scope


def create_grant(session: Session, core: Bastion, request: AccessRequest,
                 constraints: Constraints, *, contract_version_id: int | None, now: datetime,
                 actor: Actor) -> Grant:
    """Create the grant of an approved request, in the caller's transaction, and issue its
    certificate when the technician has exactly one registered key (otherwise the
    technician picks the key when downloading it)."""
    not_before, not_after = grant_window(request, constraints, now)
    if not_after <= not_before:
        raise ApprovalError("out_of_contract",
                            f"nothing is left of request {request.id}'s window under the "
                            "contract", request_id=request.id)
    grant = Grant(
        request_id=request.id, technician_id=request.technician_id,
        target_id=request.target_id, account_name=request.account_name,
        not_before=not_before, not_after=not_after,
        scope=grant_scope(constraints, request.channels or ()),
        contract_version_id=contract_version_id, status="approved",
        break_glass=request.break_glass, created_at=now)
    grant.request, grant.technician, grant.target = request, request.technician, request.target
    session.add(grant)
    session.flush()
    core.audit.append(
        session, action="grant.created", outcome="ok", actor=actor,
        vendor=request.technician.vendor.slug, technician=request.technician.ident,
        target=request.target.name, account=request.account_name, request_id=request.id,
        grant_id=grant.id,
        reasons=[f"valid {not_before.isoformat()} to {not_after.isoformat()}",
                 f"channels {', '.join(grant.scope['channels'])}"],
        details={"not_before": not_before.isoformat(), "not_after": not_after.isoformat(),
                 "requested_end": request.window_end.isoformat(),
                 "contract_latest_end": constraints.latest_end.isoformat(),
                 "contract_version_id": contract_version_id, "scope": grant.scope,
                 "data_categories": sorted(request.target.data_categories or ())})
    keys = list(request.technician.keys)
    if len(keys) == 1:
        attach_certificate(session, core, grant, keys[0], actor)
    return grant


@dataclass(frozen=True)
class Revocation:
    grant: GrantInfo
    sessions: tuple[int, ...]  # live sessions asked to close (the proxy's watchdog does it)


def revoke_grant(core: Bastion, grant_id: int, *, actor: Actor, reason: str,
                 now: datetime | None = None) -> Revocation:
    """Revoke at once: no new connection from now on (the proxy checks the grant's status),
    and every live session under it is asked to terminate; the serving node's watchdog
    closes them within 2 seconds. The certificate stops working even within its dates."""
    now = now or utcnow()
    reason = (reason or "").strip()
    if not reason:
        raise ApprovalError("reason_required", "say why the grant is revoked")
    with core.db.session() as session:
        grant = load_grant(session, grant_id, lock=True)
        if grant.status not in LIVE_STATES:
            raise ApprovalError("grant_not_revocable", f"grant {grant_id} is already {grant.status}")
        sessions = revoke_in_session(session, core.audit, grant, [reason], by=actor.name,
                                     actor=actor, now=now)
        return Revocation(grant_info(grant), tuple(sessions))


def revoke_live_grants(session: Session, core: Bastion, technician_ids: Collection[int], *,
                       reason: str, actor: Actor, now: datetime) -> list[int]:
    """Revoke every live grant of these technicians in the caller's transaction; returns
    their ids. A suspension must end what is already open (and its sessions, within 2
    seconds), not only refuse what comes next."""
    grants = session.scalars(select(Grant).where(Grant.technician_id.in_(list(technician_ids)),
                                                 Grant.status.in_(LIVE_STATES))
                             .order_by(Grant.id).with_for_update()).all()
    for grant in grants:
        revoke_in_session(session, core.audit, grant, [reason], by=actor.name, actor=actor, now=now)
    return [grant.id for grant in grants]


def end_expired_grants(core: Bastion, now: datetime | None = None) -> list[int]:
    """approved/active grants past ``not_after`` -> ended; returns their ids. (Live
    sessions are closed by the proxy at the grant's end on their own.)"""
    now = now or utcnow()
    with core.db.session() as session:
        rows = session.scalars(select(Grant).where(Grant.status.in_(LIVE_STATES),
                                                   Grant.not_after <= now)
                               .order_by(Grant.id).with_for_update()).all()
        for grant in rows:
            grant.status = "ended"
            core.audit.append(session, action="grant.ended", outcome="ok",
                              technician=grant.technician.ident, target=grant.target.name,
                              account=grant.account_name, grant_id=grant.id,
                              request_id=grant.request_id,
                              reasons=[f"window ended at {grant.not_after.isoformat()}"])
        return [grant.id for grant in rows]


def get_grant(core: Bastion, grant_id: int) -> GrantInfo:
    with core.db.session() as session:
        return grant_info(load_grant(session, grant_id))


def grant_for_request(core: Bastion, request_id: int) -> GrantInfo | None:
    with core.db.session() as session:
        grant = session.scalar(select(Grant).where(Grant.request_id == request_id))
        return grant_info(grant) if grant is not None else None


def list_grants(core: Bastion, *, statuses: Collection[str] | None = None,
                technician: str | None = None, limit: int = 200) -> list[GrantInfo]:
    """Newest first; ``statuses=LIVE_STATES`` for the active and upcoming ones."""
    with core.db.session() as session:
        query = select(Grant).order_by(Grant.id.desc()).limit(limit)
        if statuses is not None:
            query = query.where(Grant.status.in_(list(statuses)))
        if technician is not None:
            query = query.join(Technician, Technician.id == Grant.technician_id).where(
                Technician.ident == technician)
        return [grant_info(row) for row in session.scalars(query)]

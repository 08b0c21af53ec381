"""What the proxy asks the database. Every function here blocks, so the proxy only calls
them through ``asyncio.to_thread``: the SSH event loop never waits on the database."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import ColumnElement, bindparam, or_, select
from sqlalchemy.orm import Session

from bastion.audit import Actor
from bastion.context import Bastion
from bastion.contracts.repository import ContractStoreError, current_contract_for_vendor
from bastion.i18n import N_, Phrase
from bastion.models import (
    Grant,
    SshSession,
    Target,
    TargetAccount,
    Technician,
    TechnicianKey,
    utcnow,
)

from .routing import Route


@dataclass(frozen=True)
class Identity:
    technician_id: int
    ident: str
    vendor: str
    full_name: str
    fingerprints: frozenset[str]
    language: str = "fr"  # what the bastion tells them in: their contract's language


@dataclass(frozen=True)
class Destination:
    target_id: int
    name: str
    host: str
    port: int
    host_key: str
    accounts: tuple[str, ...]
    labels: dict[str, str]
    data_categories: tuple[str, ...]


@dataclass(frozen=True)
class Resolution:
    identity: Identity | None
    destination: Destination | None
    account: str | None
    problem: str | None  # precise reason for the audit log; never shown to the client


@dataclass(frozen=True)
class GrantSnapshot:
    grant_id: int
    not_before: datetime
    not_after: datetime
    account: str
    scope: dict[str, Any]
    break_glass: bool


def resolve(core: Bastion, route: Route) -> Resolution:
    """Who and where, from the routing user name. Unknown parts are a ``problem``."""
    with core.db.session() as session:
        technician = session.scalar(select(Technician).where(Technician.ident == route.technician))
        identity = None
        if technician is not None:
            keys = session.scalars(
                select(TechnicianKey.fingerprint).where(TechnicianKey.technician_id == technician.id)
            )
            identity = Identity(technician.id, technician.ident, technician.vendor.slug,
                                technician.full_name, frozenset(keys),
                                contract_language(session, technician.vendor_id,
                                                  core.settings.ssh.banner_language))
        target = session.scalar(select(Target).where(Target.name == route.target))
        destination = None
        if target is not None:
            destination = Destination(target.id, target.name, target.host, target.port,
                                      target.host_key, tuple(a.name for a in target.accounts),
                                      dict(target.labels), tuple(target.data_categories))
    problem = None
    account = route.account
    if identity is None:
        problem = f"unknown technician {route.technician!r}"
    elif not technician.active:  # type: ignore[union-attr]
        problem = f"technician {route.technician!r} is no longer active"
    elif destination is None or not target.enabled:  # type: ignore[union-attr]
        problem = f"unknown or disabled target {route.target!r}"
    elif account is not None and account not in destination.accounts:
        problem = f"target {route.target!r} has no account {account!r}"
    return Resolution(identity, destination, account, problem)


@dataclass(frozen=True)
class AccountLogin:
    method: str  # certificate | vault_key | vault_password
    sealed_secret: bytes | None


def account_login(core: Bastion, target_id: int, account: str) -> AccountLogin:
    with core.db.session() as session:
        row = session.scalar(select(TargetAccount).where(TargetAccount.target_id == target_id,
                                                         TargetAccount.name == account))
        if row is None:
            return AccountLogin("certificate", None)
        return AccountLogin(row.auth_method, row.vault_secret)


def find_active_grant(core: Bastion, technician_id: int, target_id: int,
                      account: str | None, now: datetime, *,
                      grant_id: int | None = None) -> GrantSnapshot | None:
    """The live grant that admits a session. ``grant_id``: the grant of the certificate
    the technician logged in with, checked live for this technician, target and account;
    none other. Without (a plain key): of the live grants, the one that lasts longest,
    the oldest on a tie, so two nodes pick the same one; the session records which."""
    with core.db.session() as session:
        query = (
            select(Grant)
            .where(Grant.technician_id == technician_id, Grant.target_id == target_id,
                   Grant.status.in_(("approved", "active")), Grant.not_before <= now,
                   Grant.not_after > now)
            .order_by(Grant.not_after.desc(), Grant.id)
        )
        if grant_id is not None:
            query = query.where(Grant.id == grant_id)
        if account is not None:
            query = query.where(Grant.account_name == account)
        grant = session.scalars(query).first()
        if grant is None:
            return None
        return GrantSnapshot(grant.id, grant.not_before, grant.not_after, grant.account_name,
                             dict(grant.scope), grant.break_glass)


def audit(core: Bastion, **fields: Any) -> None:
    with core.db.session() as session:
        core.audit.append(session, **fields)


def open_session(core: Bastion, *, identity: Identity, destination: Destination,
                 grant: GrantSnapshot, client_address: str) -> int:
    with core.db.session() as session:
        # The categories in force now: reports must say what was reachable at the time,
        # whatever the target is reclassified to later.
        target = session.get(Target, destination.target_id)
        categories = sorted(target.data_categories or ()) if target is not None else []
        row = SshSession(grant_id=grant.grant_id, technician_id=identity.technician_id,
                         target_id=destination.target_id, account_name=grant.account,
                         client_address=client_address, data_categories=categories,
                         node=core.node, status="live")
        session.add(row)
        session.flush()
        grant_row = session.get(Grant, grant.grant_id)
        if grant_row is not None and grant_row.status == "approved":
            grant_row.status = "active"
        core.audit.append(
            session, action="session.opened", outcome="allowed",
            actor=Actor(f"technician:{identity.ident}", "technician"),
            vendor=identity.vendor, technician=identity.ident, target=destination.name,
            account=grant.account, session_id=row.id, grant_id=grant.grant_id,
            reasons=[f"grant {grant.grant_id} valid until {grant.not_after.isoformat()}"],
            details={"client_address": client_address, "data_categories": categories},
        )
        return row.id


def close_session(core: Bastion, session_id: int, *, status: str, reason: str) -> None:
    with core.db.session() as session:
        row = session.get(SshSession, session_id)
        if row is None or row.ended_at is not None:
            return
        row.status = status
        row.end_reason = reason
        row.ended_at = utcnow()
        technician = row.technician
        core.audit.append(
            session, action="session.closed", outcome="ok",
            vendor=technician.vendor.slug, technician=technician.ident, target=row.target.name,
            account=row.account_name, session_id=row.id, grant_id=row.grant_id,
            reasons=[reason], details={"status": status},
        )


def contract_language(session: Session, vendor_id: int, default: str) -> str:
    """The language the vendor's current contract names; ``default`` (ssh.banner_language)
    without one that can be read (the refusal that follows says why)."""
    try:
        current = current_contract_for_vendor(session, vendor_id)
    except ContractStoreError:
        return default
    return current[1].language if current is not None else default


# One constant statement whatever the number of live sessions, built once, answered by the
# index on (status, node), usually with no row. Listing the ids (IN ...) made SQLAlchemy
# expand and render every id each second: 7.5 ms of the worker's GIL per round at 500
# sessions, during which no keystroke was relayed (benchmark 4's p99).
_MUST_END = (
    select(SshSession.id, SshSession.terminate_requested_at, SshSession.terminate_reason,
           SshSession.terminate_requested_by, Grant.status, Grant.not_after, Grant.revoke_reason)
    .join(Grant, Grant.id == SshSession.grant_id, isouter=True)
    .where(SshSession.node == bindparam("node"), SshSession.status == "live",
           or_(SshSession.terminate_requested_at.is_not(None), Grant.status == "revoked",
               Grant.not_after <= bindparam("now", type_=Grant.not_after.type)))
)


def termination_orders(core: Bastion, session_ids: list[int],
                       now: datetime) -> dict[int, Phrase]:
    """Sessions among ``session_ids`` (this node's live ones) that must end now, with the
    reason: terminated from the console or another node, or their grant revoked or past
    its end."""
    if not session_ids:
        return {}
    wanted = set(session_ids)
    orders: dict[int, Phrase] = {}
    with core.db.engine.connect() as connection:
        rows = connection.execute(_MUST_END, {"node": core.node, "now": now}).all()
    for sid, asked_at, why, by, grant_status, not_after, revoke_reason in rows:
        if sid not in wanted:
            continue  # not (or no longer) served by this process
        if asked_at is not None:
            # Who and why are the approver's own words: shown as they wrote them.
            orders[sid] = (Phrase.of(N_("terminated by {by}: {why}"), by=by, why=why)
                           if by and why else Phrase(N_("terminated by an approver")))
        elif grant_status == "revoked":
            orders[sid] = (Phrase.of(N_("access revoked: {why}"), why=revoke_reason)
                           if revoke_reason else Phrase(N_("access revoked")))
        elif not_after is not None and not_after <= now:
            orders[sid] = Phrase(N_("the access window has ended"))
    return orders


def node_and_its_workers(node: str) -> ColumnElement[bool]:
    """Session rows of this node: its own name, and ``node/w<slot>.<generation>`` for the
    proxy workers a supervisor runs (bastion.runtime)."""
    return or_(SshSession.node == node, SshSession.node.like(f"{node}/%"))


def mark_interrupted_sessions(core: Bastion, *, with_workers: bool = False) -> int:
    """At start-up: sessions this node left live (crash, SIGKILL) are marked interrupted;
    ``with_workers``: those of its proxy workers too (a supervisor starting)."""
    mine = node_and_its_workers(core.node) if with_workers else SshSession.node == core.node
    with core.db.session() as session:
        rows = session.scalars(
            select(SshSession).where(mine, SshSession.status == "live")
        ).all()
        for row in rows:
            row.status = "interrupted"
            row.end_reason = "the bastion stopped while the session was live"
            row.ended_at = utcnow()
            core.audit.append(
                session, action="session.interrupted", outcome="failed",
                technician=row.technician.ident, target=row.target.name,
                account=row.account_name, session_id=row.id, grant_id=row.grant_id,
                reasons=["the bastion stopped while the session was live"],
            )
        return len(rows)

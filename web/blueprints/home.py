"""The home page: for each role the visitor holds, what needs their attention now."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from flask import Blueprint, render_template
from flask.typing import ResponseReturnValue
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from bastion.approvals import LIVE_STATES, RequestInfo, list_grants, list_requests, pending_requests
from bastion.models import (
    AuditEvent,
    BreakGlassReview,
    SshSession,
    StaffUser,
    Target,
    Technician,
    Vendor,
    utcnow,
)

from ..access import requires
from ..i18n import verdict_details
from ..identity import Principal, core, signed_in_principal
from .vendors import expiry_warnings

blueprint = Blueprint("home", __name__)

RECENT = 10


@blueprint.get("/")
@requires("approver", "admin", "dpo", "technician")
def index() -> ResponseReturnValue:
    principal = signed_in_principal()
    sections: dict[str, Any] = {}
    # Rendered inside the transaction: templates follow relationships (request.target...).
    with core().db.session() as db:
        if principal.kind == "technician":
            sections["technician"] = _technician(db, principal)
        if principal.has_role("approver"):
            sections["approver"] = _approver(db)
        if principal.has_role("admin"):
            sections["admin"] = _admin(db)
        if principal.has_role("dpo"):
            sections["dpo"] = _dpo(db)
        return render_template("home/index.html", sections=sections, principal=principal)


def _approver(db: Session) -> dict[str, Any]:
    # The queue is the approvals core's: pending and not yet past its deadline.
    now = utcnow()
    pending = pending_requests(core(), now=now)
    grants = sorted(list_grants(core(), statuses=LIVE_STATES), key=lambda g: g.not_before)
    live = list(db.scalars(
        select(SshSession).where(SshSession.status == "live").order_by(SshSession.started_at)))
    return {"pending": [_request_row(r, now) for r in pending], "grants": grants, "live": live}


def _request_row(request: RequestInfo, now: datetime) -> dict[str, Any]:
    return {
        "request": request,
        "waiting_minutes": int((now - request.created_at).total_seconds() // 60),
        "reasons": verdict_details(request.verdict),
    }


def _admin(db: Session) -> dict[str, Any]:
    count = lambda model, *where: db.scalar(select(func.count()).select_from(model).where(*where))  # noqa: E731
    return {
        "staff": count(StaffUser, StaffUser.active.is_(True)),
        "staff_locked": count(StaffUser, StaffUser.locked_until > utcnow()),
        "targets": count(Target, Target.enabled.is_(True)),
        "vendors": count(Vendor),
        "technicians": count(Technician, Technician.active.is_(True)),
        "warnings": expiry_warnings(db),
    }


def _dpo(db: Session) -> dict[str, Any]:
    since = utcnow() - timedelta(days=1)
    reviews = list(db.scalars(
        select(BreakGlassReview).where(BreakGlassReview.closed_at.is_(None))
        .order_by(BreakGlassReview.deadline)))
    refusals = list(db.scalars(
        select(AuditEvent).where(AuditEvent.at >= since,
                                 AuditEvent.outcome.in_(("denied", "failed", "error")))
        .order_by(AuditEvent.id.desc()).limit(RECENT)))
    sessions_today = db.scalar(select(func.count()).select_from(SshSession)
                               .where(SshSession.started_at >= since))
    return {"reviews": reviews, "refusals": refusals, "sessions_today": sessions_today,
            "since": since}


def _technician(db: Session, principal: Principal) -> dict[str, Any]:
    # A technician sees only their own requests and grants, never another's.
    return {"requests": list_requests(core(), technician=principal.username, limit=RECENT),
            "grants": list_grants(core(), technician=principal.username, statuses=LIVE_STATES)}

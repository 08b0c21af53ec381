"""Pending requests that can no longer be granted leave the approvers' queue at once.

A contract version replaced, a technician removed from the contract, an access suspended
or revoked by an access review: the request could never be approved (``approve`` asks the
contracts engine again and refuses), yet it sat in the queue until an approver reached
for their key. :func:`recheck_pending` asks the engine about every pending request (the
same question as ``approve``) and marks those it refuses ``denied``, with the engine's
reasons in the request's verdict and in the audit log. :func:`still_grantable` is that
question for one request, asked again when an approver opens and answers the challenge.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import or_, select
from sqlalchemy.orm import Session

from bastion.audit import Actor, AuditLog
from bastion.i18n.marker import N_, Phrase, phrase_to_dict
from bastion.models import AccessRequest, Technician

from .errors import ApprovalError
from .verdict import Assessment, assess


def why_ungrantable(session: Session, request: AccessRequest,
                    now: datetime) -> tuple[Assessment, list[str]]:
    """The engine's answer for ``request`` now, and why it cannot be granted (empty: it can)."""
    found = assess(session, technician=request.technician.ident, target=request.target.name,
                   account=request.account_name or None, start=max(request.window_start, now),
                   end=request.window_end, channels=request.channels or (), now=now)
    if not found.allowed or found.constraints is None:
        return found, list(found.reasons) or [found.headline]
    if found.version is None or found.version.id != request.contract_version_id:
        return found, [_replaced(found).english()]
    return found, []


def _replaced(found: Assessment) -> Phrase:
    return Phrase.of(N_("contract {contract} version {version} replaced the version this "
                        "request was filed under; the technician must file a new request"),
                     contract=found.verdict.get("contract_reference")
                     or Phrase(N_("of this vendor")),
                     version=found.version.version if found.version is not None else "?")


def _details(found: Assessment, reasons: list[str]) -> list[object]:
    """``reasons`` as the phrases stored beside them, for approvers in their language (a
    stale list from the previous verdict would no longer match the reasons)."""
    if found.allowed:  # allowed, but under another version: the reason is the replacement
        return [phrase_to_dict(_replaced(found))]
    if reasons == list(found.reasons):
        return list(found.verdict.get("details") or [])
    return [found.verdict.get("phrase")]


def refusal_code(found: Assessment) -> str:
    """The approvals' code: refused by the engine, or allowed under another version."""
    return "out_of_contract" if not found.allowed else "contract_changed"


def still_grantable(session: Session, request: AccessRequest, now: datetime) -> Assessment:
    """The engine's allowance for ``request``, or ``out_of_contract`` / ``contract_changed``."""
    found, reasons = why_ungrantable(session, request, now)
    if not reasons:
        return found
    raise ApprovalError(refusal_code(found), f"request {request.id} can no longer be granted: {reasons[0]}",
                        reasons=reasons, request_id=request.id,
                        verdict={"reasons": reasons, "details": _details(found, reasons),
                                 "constraints": found.verdict.get("constraints")})


def mark_ungrantable(session: Session, audit: AuditLog, request: AccessRequest,
                     found: Assessment, reasons: list[str], *, trigger: str, actor: Actor,
                     now: datetime) -> None:
    """pending -> denied, no reviewer: the engine refused it (as at filing)."""
    request.status, request.decided_at, request.updated_at = "denied", now, now
    request.verdict = {**(request.verdict or {}), "allowed": False, "reasons": reasons,
                       "summary": f"refused: {reasons[0]}", "checked_at": now.isoformat(),
                       "details": _details(found, reasons),
                       "codes": list(found.verdict.get("codes") or []) or ["contract_changed"],
                       "no_longer_grantable": trigger, "refusal_code": refusal_code(found),
                       "constraints": None}
    audit.append(session, action="request.refused", outcome="denied", actor=actor,
                 reasons=reasons, details={"was": "pending", "trigger": trigger},
                 vendor=request.technician.vendor.slug, technician=request.technician.ident,
                 target=request.target.name, account=request.account_name or None,
                 request_id=request.id)


def recheck_pending(session: Session, audit: AuditLog, *, trigger: str, actor: Actor,
                    now: datetime, vendor_id: int | None = None) -> list[int]:
    """Mark every pending request the engine no longer allows; returns their ids."""
    # Past its deadline a request is housekeeping's to expire, not ours to refuse.
    query = (select(AccessRequest).where(AccessRequest.status == "pending",
                                         AccessRequest.break_glass.is_(False),
                                         or_(AccessRequest.expires_at.is_(None),
                                             AccessRequest.expires_at > now))
             .order_by(AccessRequest.id).with_for_update())
    if vendor_id is not None:
        query = query.join(Technician, Technician.id == AccessRequest.technician_id).where(
            Technician.vendor_id == vendor_id)
    refused = []
    for request in session.scalars(query).all():
        found, reasons = why_ungrantable(session, request, now)
        if reasons:
            mark_ungrantable(session, audit, request, found, reasons, trigger=trigger,
                             actor=actor, now=now)
            refused.append(request.id)
    return refused

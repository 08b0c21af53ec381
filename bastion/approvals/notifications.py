"""Telling approvers about a new request: e-mail (one per approver, in their language) and a
webhook (JSON, e.g. to a ticketing system).

Messages are written to the outbox in the transaction that files the request, so a
request is never filed without its notifications nor announced without being filed;
``delivery`` sends them from a worker thread. Nothing secret is ever in a message: who,
where, when, why, the contract's verdict and a link to the console.
"""

from __future__ import annotations

import json
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import select
from sqlalchemy.orm import Session

from bastion.context import Bastion
from bastion.i18n import N_
from bastion.i18n.catalogue import translator
from bastion.i18n.verdicts import verdict_summary
from bastion.models import AccessRequest, NotificationOutbox, StaffRole, StaffUser

NEW_REQUEST = "request.filed"

_CATEGORIES = {
    "administrative": N_("administrative"),
    "ins": N_("INS"),
    "health": N_("health"),
    "documents": N_("documents"),
    "staff": N_("staff"),
    "technical": N_("technical"),
}

_TEXT = {
    "subject": N_("[DPI bastion] Access request {id}: {technician} on {target} — {state}"),
    "waiting": N_("waiting for approval"),
    "refused": N_("out of contract"),
    "body": N_("Hello {staff},\n\n"
               "A maintenance access request is waiting for your decision.\n\n"
               "Request: {id}\n"
               "Technician: {technician_name} ({technician}), {vendor}\n"
               "Target: {target}, account {account}\n"
               "Data held: {categories}\n"
               "Window: {start} to {end} ({zone})\n"
               "Channels: {channels}\n"
               "Reason: {reason}\n"
               "Ticket: {ticket}\n"
               "Contract check: {verdict_word} — {summary}\n"
               "Approvals needed: {approvals} (each by a different person)\n\n"
               "Review the request and approve it with your security key:\n{url}\n\n"
               "Automatic message from the DPI bastion; it holds no secret.\n"),
    "in_contract": N_("within the contract"),
    "out_of_contract": N_("out of contract"),
    "none": N_("none"),
}


def request_url(core: Bastion, request_id: int) -> str:
    """The console page of a request (the console serves /requests/<id>)."""
    return f"{core.settings.web.public_url}/requests/{request_id}"


def reader_zone(zone: str | None) -> ZoneInfo:
    """The reader's zone; the hospital's when theirs is not a known one."""
    try:
        return ZoneInfo(zone or "Europe/Paris")
    except (KeyError, ValueError):
        return ZoneInfo("Europe/Paris")


def email_text(core: Bastion, request: AccessRequest, *, staff_name: str, language: str,
               zone: str) -> tuple[str, str]:
    """(subject, body) of the e-mail announcing ``request``, in the reader's language."""
    _ = translator(language)
    text = _.table(_TEXT)
    names = _.table(_CATEGORIES)
    where = reader_zone(zone)
    verdict = request.verdict or {}
    allowed = bool(verdict.get("allowed"))
    values = {
        "id": request.id, "staff": staff_name, "technician": request.technician.ident,
        "technician_name": request.technician.full_name,
        "vendor": request.technician.vendor.name, "target": request.target.name,
        "account": request.account_name or "-",
        "categories": ", ".join(names.get(c, c) for c in sorted(request.target.data_categories
                                                                 or ())) or text["none"],
        "start": _.when(request.window_start, where), "end": _.when(request.window_end, where),
        "zone": zone, "channels": ", ".join(request.channels or ()),
        "reason": request.reason, "ticket": request.ticket or "-",
        "verdict_word": text["in_contract" if allowed else "out_of_contract"],
        "summary": verdict_summary(verdict, _), "approvals": request.approvals_required,
        "url": request_url(core, request.id),
        "state": text["waiting" if allowed else "refused"],
    }
    return text["subject"].format(**values), text["body"].format(**values)


def webhook_payload(core: Bastion, request: AccessRequest, event: str) -> dict[str, Any]:
    verdict = request.verdict or {}
    return {
        "event": event,
        "source": "dpi-bastion",
        "node": core.node,
        "request": {
            "id": request.id,
            "status": request.status,
            "technician": request.technician.ident,
            "technician_name": request.technician.full_name,
            "vendor": request.technician.vendor.slug,
            "target": request.target.name,
            "data_categories": sorted(request.target.data_categories or ()),
            "account": request.account_name,
            "window_start": request.window_start.isoformat(),
            "window_end": request.window_end.isoformat(),
            "channels": list(request.channels or ()),
            "reason": request.reason,
            "ticket": request.ticket,
            "source": request.source,
            "approvals_required": request.approvals_required,
            "verdict": {"allowed": bool(verdict.get("allowed")),
                        "summary": verdict.get("summary", ""),
                        "contract_reference": verdict.get("contract_reference", "")},
            "expires_at": request.expires_at.isoformat() if request.expires_at else None,
            "url": request_url(core, request.id),
        },
    }


def approvers_to_tell(session: Session, request: AccessRequest) -> list[StaffUser]:
    """Active approvers with an e-mail address, except whoever filed the request."""
    rows = session.scalars(
        select(StaffUser).join(StaffRole, StaffRole.staff_id == StaffUser.id)
        .where(StaffRole.role == "approver", StaffUser.active.is_(True),
               StaffUser.email.is_not(None))
        .order_by(StaffUser.id)).all()
    return [s for s in rows if s.id != request.declared_by_staff_id and s.email]


def enqueue_new_request(session: Session, core: Bastion, request: AccessRequest) -> int:
    """Queue the e-mails and the webhook for a newly filed request; returns how many."""
    queued = 0
    if core.settings.smtp.host:
        for staff in approvers_to_tell(session, request):
            subject, body = email_text(core, request, staff_name=staff.full_name,
                                       language=staff.language, zone=staff.time_zone)
            session.add(NotificationOutbox(
                kind=NEW_REQUEST, channel="email", recipient=staff.email or "",
                language=staff.language, subject=subject[:300], body=body,
                request_id=request.id))
            queued += 1
    if core.settings.webhook.url:
        session.add(NotificationOutbox(
            kind=NEW_REQUEST, channel="webhook", recipient=core.settings.webhook.url[:500],
            body=json.dumps(webhook_payload(core, request, NEW_REQUEST), ensure_ascii=False,
                            sort_keys=True), request_id=request.id))
        queued += 1
    session.flush()
    return queued

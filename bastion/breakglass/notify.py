"""Telling approvers and the DPO of an emergency access at once: an urgent e-mail to each
(in their language) and an urgent webhook.

Queued in the outbox in the transaction that opens the access (see
``bastion.approvals.notifications``): the access never opens unannounced. The delivery
worker marks e-mails of kind :data:`DECLARED` urgent (``Importance: high``).
"""

from __future__ import annotations

import json
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from bastion.approvals.notifications import _CATEGORIES as CATEGORY_NAMES
from bastion.approvals.notifications import approvers_to_tell, reader_zone, request_url
from bastion.context import Bastion
from bastion.i18n import N_
from bastion.i18n.catalogue import translator
from bastion.models import (
    AccessRequest,
    BreakGlassReview,
    Grant,
    NotificationOutbox,
    StaffRole,
    StaffUser,
)

DECLARED = "break_glass.declared"

_TEXT = {
    "subject": N_("[URGENT] [DPI bastion] Break-glass {id}: {technician} on {target} until {end}"),
    "body": N_("Hello {staff},\n\n"
               "An emergency access (break-glass) has just opened without prior approval.\n"
               "The session is recorded like any other; an a-posteriori review is open.\n\n"
               "Request: {id}\n"
               "Technician: {technician_name} ({technician}), {vendor}\n"
               "Declared by: {declared_by}\n"
               "Target: {target}, account {account}\n"
               "Data held: {categories}\n"
               "Access open: {start} to {end} ({zone})\n"
               "Justification: {justification}\n"
               "Ticket: {ticket}\n"
               "Contract: {contract}\n"
               "Review to be closed by the DPO before: {deadline}\n\n"
               "Revoke the access if needed:\n{request_url}\n"
               "Break-glass review (DPO):\n{review_url}\n\n"
               "Automatic message from the DPI bastion; it holds no secret.\n"),
    "technician_itself": N_("the technician themself"),
    "none": N_("none"),
}


def review_url(core: Bastion, review_id: int) -> str:
    """The console's page of a break-glass review (web/blueprints/dpo.py)."""
    return f"{core.settings.web.public_url}/dpo/break-glass/{review_id}"


def recipients(session: Session, request: AccessRequest) -> list[StaffUser]:
    """Approvers (but not whoever declared) and every active DPO with an e-mail address,
    each once."""
    dpos = session.scalars(
        select(StaffUser).join(StaffRole, StaffRole.staff_id == StaffUser.id)
        .where(StaffRole.role == "dpo", StaffUser.active.is_(True),
               StaffUser.email.is_not(None))
        .order_by(StaffUser.id)).all()
    chosen: dict[int, StaffUser] = {}
    for staff in [*approvers_to_tell(session, request), *dpos]:
        if staff.email:
            chosen.setdefault(staff.id, staff)
    return list(chosen.values())


def email_text(core: Bastion, request: AccessRequest, grant: Grant, review: BreakGlassReview,
               *, staff_name: str, language: str, zone: str,
               declared_by: str | None) -> tuple[str, str]:
    _ = translator(language)
    text, names, where = _.table(_TEXT), _.table(CATEGORY_NAMES), reader_zone(zone)
    values = {
        "id": request.id, "staff": staff_name, "technician": request.technician.ident,
        "technician_name": request.technician.full_name,
        "vendor": request.technician.vendor.name,
        "declared_by": declared_by or text["technician_itself"],
        "target": request.target.name, "account": request.account_name,
        "categories": ", ".join(names.get(c, c) for c in sorted(request.target.data_categories
                                                                 or ())) or text["none"],
        "start": _.when(grant.not_before, where), "end": _.when(grant.not_after, where),
        "zone": zone, "justification": request.reason, "ticket": request.ticket or "-",
        "contract": (request.verdict or {}).get("contract_reference", "-"),
        "deadline": _.when(review.deadline, where),
        "request_url": request_url(core, request.id), "review_url": review_url(core, review.id),
    }
    return text["subject"].format(**values), text["body"].format(**values)


def webhook_payload(core: Bastion, request: AccessRequest, grant: Grant,
                    review: BreakGlassReview, declared_by: str | None) -> dict[str, Any]:
    return {
        "event": DECLARED,
        "urgent": True,
        "source": "dpi-bastion",
        "node": core.node,
        "break_glass": {
            "request_id": request.id,
            "grant_id": grant.id,
            "review_id": review.id,
            "technician": request.technician.ident,
            "technician_name": request.technician.full_name,
            "vendor": request.technician.vendor.slug,
            "declared_by": declared_by,
            "declared_from": request.source,
            "target": request.target.name,
            "data_categories": sorted(request.target.data_categories or ()),
            "account": request.account_name,
            "not_before": grant.not_before.isoformat(),
            "not_after": grant.not_after.isoformat(),
            "justification": request.reason,
            "ticket": request.ticket,
            "contract_reference": (request.verdict or {}).get("contract_reference"),
            "review_deadline": review.deadline.isoformat(),
            "request_url": request_url(core, request.id),
            "review_url": review_url(core, review.id),
        },
    }


def enqueue_declared(session: Session, core: Bastion, request: AccessRequest, grant: Grant,
                     review: BreakGlassReview, declared_by: str | None) -> list[str]:
    """Queue the urgent e-mails and webhook; returns who will be told (addresses, and the
    webhook's host only: its URL may hold a token)."""
    told: list[str] = []
    if core.settings.smtp.host:
        for staff in recipients(session, request):
            subject, body = email_text(core, request, grant, review, staff_name=staff.full_name,
                                       language=staff.language, zone=staff.time_zone,
                                       declared_by=declared_by)
            session.add(NotificationOutbox(
                kind=DECLARED, channel="email", recipient=staff.email or "",
                language=staff.language, subject=subject[:300], body=body,
                request_id=request.id))
            told.append(staff.email or "")
    if core.settings.webhook.url:
        session.add(NotificationOutbox(
            kind=DECLARED, channel="webhook", recipient=core.settings.webhook.url[:500],
            body=json.dumps(webhook_payload(core, request, grant, review, declared_by),
                            ensure_ascii=False, sort_keys=True), request_id=request.id))
        told.append("webhook")
    session.flush()
    return told

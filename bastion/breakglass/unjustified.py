"""What follows an emergency access the DPO judges unjustified: the technician is suspended
(the decision point refuses them from then on, giving this review as the reason, and
their live grants are revoked, closing their open sessions) and the
vendor's contract owner is told by e-mail. Runs in the transaction that closes the review,
so the verdict, the suspension, the queued e-mail and their audit events commit together.

Lifting the suspension is a deliberate act of the hospital's IT (the technician's row),
never a side effect: reloading the contract keeps it (see contracts.loading).
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy.orm import Session

from bastion.approvals import revoke_live_grants
from bastion.audit import Actor
from bastion.context import Bastion
from bastion.contracts.repository import ContractStoreError, current_contract_for_vendor
from bastion.i18n import N_
from bastion.i18n.catalogue import translator
from bastion.models import BreakGlassReview, NotificationOutbox

UNJUSTIFIED = "break_glass.unjustified"

# In the vendor's language (their contract's), times in the hospital's zone.
_SUBJECT = N_("[DPI bastion] Emergency access {id} judged unjustified: {technician} suspended")
_BODY = N_(
    "Hello,\n\n"
    "You are the contract owner named in contract {contract} with the hospital.\n"
    "An emergency (break-glass) access by your technician {name} ({technician}) on {target}\n"
    "from {start} was reviewed by the hospital's DPO and judged UNJUSTIFIED:\n\n"
    "{comment}\n\n"
    "The technician's access to the hospital's servers is suspended from now on. Contact\n"
    "the hospital's DPO about this review (number {review}).\n\n"
    "Automatic message from the DPI bastion.\n")


def suspend_after_unjustified(session: Session, core: Bastion, review: BreakGlassReview,
                              actor: Actor, now: datetime) -> None:
    request = review.request
    technician = request.technician
    reason = (f"break-glass review {review.id} judged unjustified by the DPO on "
              f"{now.date().isoformat()}: {review.comment or ''}")[:1000]
    technician.active = False
    technician.suspended_reason = reason
    subject = {"vendor": technician.vendor.slug, "technician": technician.ident,
               "target": request.target.name, "request_id": request.id}
    core.audit.append(session, action="technician.suspended", outcome="ok", actor=actor,
                      reasons=[reason], details={"review_id": review.id}, **subject)
    revoke_live_grants(session, core, [technician.id], reason=reason, actor=actor, now=now)
    try:
        current = current_contract_for_vendor(session, technician.vendor_id)
    except ContractStoreError:
        current = None
    contract = current[1] if current else None
    owner = contract.vendor.contract_owner_email if contract else None
    if owner is None or not core.settings.smtp.host:
        why = ("the contract names no contract_owner_email" if owner is None
               else "no SMTP server is configured (smtp.host)")
        core.audit.append(session, action="break_glass.owner_not_told", outcome="failed",
                          actor=actor, reasons=[f"vendor's contract owner not told: {why}"],
                          details={"review_id": review.id}, **subject)
        return
    _ = translator(contract.language)  # type: ignore[union-attr]
    values = {"id": request.id, "technician": technician.ident, "name": technician.full_name,
              "target": request.target.name, "contract": contract.reference,  # type: ignore[union-attr]
              "start": _.when(review.opened_at, core.settings.web.time_zone),
              "comment": review.comment or "", "review": review.id}
    session.add(NotificationOutbox(kind=UNJUSTIFIED, channel="email", recipient=owner,
                                   language=_.language, subject=_(_SUBJECT, **values)[:300],
                                   body=_(_BODY, **values), request_id=request.id))
    core.audit.append(session, action="break_glass.owner_told", outcome="ok", actor=actor,
                      details={"review_id": review.id, "queued_for": owner}, **subject)

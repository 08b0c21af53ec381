"""An emergency on health or INS data that opens once an on-call approver acknowledges it
(contract ``approval.break_glass.on_sensitive: acknowledged``).

Read-only emergencies (the default) open at once but only read. Some work cannot wait and
needs more (a stuck service to restart): the contract may then name approvers on call
(``on_call``), and the emergency waits for one of them. Who is on call is the contract's
list, not every approver: an emergency at 3 a.m. needs someone who knows they are on duty
for this vendor and answers their phone, and the hospital names them per vendor beside
the rest of that vendor's rules. Only those of them who are active approvers now count;
whoever declared (from the console) may not acknowledge their own declaration.

1. :func:`ask_acknowledgement` (called by the declaration, in its transaction): the
   request is stored as ``acknowledging``; each on-call approver gets a personal one-time
   link, e-mailed at once (urgent); ``break_glass.acknowledgement_asked`` is audited.
2. The approver opens the link signed in to the console; the page shows the emergency;
   they sign its exact content with their security key (the same bound-challenge
   ceremony as a role change: ``bastion.approvals.confirmation``).
3. :func:`acknowledge` re-asks the contracts engine (``acknowledged=True``), creates the
   grant with the contract's full channels, opens the DPO's review, tells approvers and
   the DPO (as any emergency) and audits ``break_glass.acknowledged`` with the approver
   and their key. Every link of that emergency is then used.
4. The technician's SSH session waits meanwhile (``bastion.proxy.waiting``); past
   ``acknowledgement_minutes`` :func:`give_up` refuses it (``break_glass.acknowledgement_expired``).
"""

from __future__ import annotations

import hashlib
import secrets
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session
from webauthn.helpers.structs import PublicKeyCredentialRequestOptions

from bastion.approvals import create_grant
from bastion.approvals.assertion import CredentialResponse
from bastion.approvals.attempts import run_audited
from bastion.approvals.confirmation import Attempt, confirmation_options, verify_confirmation
from bastion.approvals.errors import ApprovalError
from bastion.approvals.lookup import StaffRef, load_staff, staff_actor, staff_id_of, unknown_staff_actor
from bastion.approvals.notifications import reader_zone
from bastion.audit import Actor
from bastion.context import Bastion
from bastion.contracts import REQUEST, Constraints, decide_access
from bastion.i18n import N_
from bastion.i18n.catalogue import translator
from bastion.models import (
    AccessRequest,
    BreakGlassAcknowledgement,
    NotificationOutbox,
    StaffUser,
    utcnow,
)

ASKED = "break_glass.acknowledgement_asked"  # outbox kind: urgent e-mails with the links
CONTENT_KIND = "dpi-bastion.break-glass-acknowledgement"
PURPOSE = "break_glass_ack"
WAITING = "acknowledging"

_TEXT = {
    "subject": N_("[URGENT] [DPI bastion] Break-glass {id} to acknowledge: {technician} on "
                  "{target}"),
    "body": N_("Hello {staff},\n\n"
               "You are on call for {vendor}. {technician_name} ({technician}) declares "
               "an emergency on {target} (health data), account {account}.\n"
               "Justification: {justification}\nTicket: {ticket}\n\n"
               "Full access opens only if an on-call approver acknowledges it with their "
               "security key, before {until}. Personal one-time link:\n{link}\n\n"
               "Without an acknowledgement, the access is refused.\n"),
}


@dataclass(frozen=True)
class AcknowledgementAsked:
    """What a declaration returns when the emergency waits for an acknowledgement."""

    request_id: int
    on_call: tuple[str, ...]  # user names asked
    expires_at: datetime
    emails: tuple[str, ...]  # addresses the links were queued for


@dataclass(frozen=True)
class AcknowledgementInfo:
    """The emergency as the on-call approver's page shows it (and their key signs)."""

    request_id: int
    technician: str
    technician_name: str
    vendor: str
    target: str
    account: str
    data_categories: tuple[str, ...]
    justification: str
    ticket: str | None
    channels: tuple[str, ...]
    declared_at: datetime
    expires_at: datetime
    status: str
    acknowledged_by: str | None


def _hash(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def acknowledgement_path(token: str) -> str:
    """The console page of a link (web/blueprints/break_glass.py)."""
    return f"/break-glass/acknowledge/{token}"


def on_call_approvers(session: Session, names: tuple[str, ...],
                      declarer: StaffUser | None) -> list[StaffUser]:
    rows = session.scalars(select(StaffUser).where(StaffUser.username.in_(names))
                           .order_by(StaffUser.username)).all()
    return [s for s in rows if s.active and s.has_role("approver")
            and (declarer is None or s.id != declarer.id)]


def ask_acknowledgement(session: Session, core: Bastion, request: AccessRequest,
                        constraints: Constraints, declarer: StaffUser | None,
                        subject: dict[str, Any], minutes: int, now: datetime
                        ) -> AcknowledgementAsked | None:
    """Store the waiting emergency and queue the links; None when no on-call approver can
    be asked (the caller refuses: an emergency nobody can acknowledge must not wait)."""
    people = on_call_approvers(session, constraints.acknowledgement_by, declarer)
    reachable = [p for p in people if p.email] if core.settings.smtp.host else []
    if not reachable:
        return None
    expires = now + timedelta(minutes=minutes)
    request.status, request.expires_at = WAITING, expires
    session.add(request)
    session.flush()
    emails = []
    for person in reachable:
        token = secrets.token_urlsafe(32)
        session.add(BreakGlassAcknowledgement(request_id=request.id, staff_id=person.id,
                                              token_hash=_hash(token), created_at=now,
                                              expires_at=expires))
        _ = translator(person.language)
        text = _.table(_TEXT)
        values = {"id": request.id, "staff": person.full_name, "vendor": request.technician.vendor.name,
                  "technician": request.technician.ident,
                  "technician_name": request.technician.full_name, "target": request.target.name,
                  "account": request.account_name, "justification": request.reason,
                  "ticket": request.ticket or "-", "until": _.when(expires, reader_zone(person.time_zone)),
                  "link": core.settings.web.public_url + acknowledgement_path(token)}
        session.add(NotificationOutbox(kind=ASKED, channel="email", recipient=person.email or "",
                                       language=_.language,
                                       subject=text["subject"].format(**values)[:300],
                                       body=text["body"].format(**values), request_id=request.id))
        emails.append(person.email or "")
    session.flush()
    core.audit.append(session, action="break_glass.acknowledgement_asked", outcome="ok",
                      reasons=[f"target holds health data and contract "
                               f"{constraints.contract_reference} asks an on-call approver's "
                               "acknowledgement before the emergency opens"],
                      details={"on_call": [p.username for p in reachable], "emails": emails,
                               "expires_at": expires.isoformat(), "minutes": minutes},
                      request_id=request.id, **subject)
    return AcknowledgementAsked(request.id, tuple(p.username for p in reachable), expires,
                                tuple(emails))


def acknowledgement_content(request: AccessRequest) -> dict[str, Any]:
    """What the on-call approver signs: who, where, why, from when, which channels."""
    return {"kind": CONTENT_KIND, "v": 1, "request_id": request.id,
            "technician": request.technician.ident, "target": request.target.name,
            "account": request.account_name, "justification": request.reason,
            "ticket": request.ticket, "channels": sorted(request.channels or []),
            "declared_at": request.created_at.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
            "contract_version_id": request.contract_version_id}


def _link(session: Session, token: str, person: StaffUser, now: datetime,
          *, lock: bool = False) -> BreakGlassAcknowledgement:
    link = session.scalar(select(BreakGlassAcknowledgement)
                          .where(BreakGlassAcknowledgement.token_hash == _hash(token)))
    if link is None or link.staff_id != person.id:
        # Someone else's link is as unknown as a made-up one: it is personal.
        raise ApprovalError("acknowledgement_link_invalid",
                            "this acknowledgement link is unknown or is not yours")
    query = select(AccessRequest).where(AccessRequest.id == link.request_id)
    request = session.scalar(query.with_for_update() if lock else query)
    assert request is not None
    if link.used_at is not None or request.status != WAITING:
        raise ApprovalError("acknowledgement_closed",
                            f"emergency {request.id} is no longer waiting (it is "
                            f"{request.status})")
    if now >= link.expires_at:
        raise ApprovalError("acknowledgement_closed",
                            f"emergency {request.id} waited too long: it is refused")
    if not person.has_role("approver"):
        raise ApprovalError("not_an_approver", f"{person.username} is not an approver now")
    return link


def _info(request: AccessRequest, acknowledged_by: str | None = None) -> AcknowledgementInfo:
    return AcknowledgementInfo(
        request.id, request.technician.ident, request.technician.full_name,
        request.technician.vendor.name, request.target.name, request.account_name,
        tuple(sorted(request.target.data_categories or ())), request.reason, request.ticket,
        tuple(sorted(request.channels or [])), request.created_at,
        request.expires_at or request.created_at, request.status, acknowledged_by)


def _refused(core: Bastion, token: str, staff_id: int, stage: str, attempt: Attempt,
             now: datetime):  # noqa: ANN202
    def refused(session: Session, exc: ApprovalError) -> None:
        attempt.settle(session, core, exc, now)
        person = session.get(StaffUser, staff_id)
        actor = staff_actor(person, "approver") if person else unknown_staff_actor(staff_id)
        link = session.scalar(select(BreakGlassAcknowledgement)
                              .where(BreakGlassAcknowledgement.token_hash == _hash(token)))
        core.audit.append(session, action="break_glass.acknowledgement_refused",
                          outcome="denied", actor=actor, reasons=[exc.message, *exc.reasons],
                          details={"code": exc.code, "stage": stage},
                          request_id=link.request_id if link is not None else None)
    return refused


def acknowledgement_page(core: Bastion, token: str, staff: StaffRef,
                         *, now: datetime | None = None) -> AcknowledgementInfo:
    now = now or utcnow()
    with core.db.session() as session:
        person = load_staff(session, staff)
        link = _link(session, token, person, now)
        return _info(link.request)


def acknowledgement_options(core: Bastion, token: str, staff: StaffRef, *,
                            now: datetime | None = None) -> PublicKeyCredentialRequestOptions:
    now = now or utcnow()
    staff_id = staff_id_of(staff)
    attempt = Attempt()

    def work(session: Session) -> PublicKeyCredentialRequestOptions:
        person = load_staff(session, staff_id)
        link = _link(session, token, person, now)
        return confirmation_options(session, core, person, purpose=PURPOSE,
                                    content=acknowledgement_content(link.request), now=now)

    return run_audited(core, work, _refused(core, token, staff_id, "options", attempt, now))


def acknowledge(core: Bastion, token: str, staff: StaffRef, response: CredentialResponse, *,
                now: datetime | None = None) -> AcknowledgementInfo:
    """Verify the on-call approver's assertion over the emergency and open it."""
    from .declare import open_review_and_tell  # the declaration's own last step

    now = (now or utcnow()).replace(microsecond=0)
    staff_id = staff_id_of(staff)
    attempt = Attempt()

    def work(session: Session) -> AcknowledgementInfo:
        person = load_staff(session, staff_id)
        link = _link(session, token, person, now, lock=True)
        request = link.request
        key, row = verify_confirmation(session, core, person, response, purpose=PURPOSE,
                                       content=acknowledgement_content(request),
                                       subject=f"emergency {request.id}", now=now,
                                       attempt=attempt)
        end = now + timedelta(minutes=core.settings.breakglass.max_minutes)
        decision, _version = decide_access(
            session, technician=request.technician.ident, target=request.target.name,
            account=request.account_name or None, channel=REQUEST, at=now, window_end=end,
            break_glass=True, acknowledged=True)
        if not decision.allowed or decision.constraints is None:
            raise ApprovalError("request_changed",
                                f"the contract no longer allows emergency {request.id}: "
                                f"{decision.headline}", reasons=tuple(decision.reasons))
        for other in session.scalars(select(BreakGlassAcknowledgement).where(
                BreakGlassAcknowledgement.request_id == request.id)):
            other.used_at = now
        link.acknowledged_at, link.credential_id, link.challenge = now, key.id, row.challenge
        request.status, request.decided_at, request.updated_at = "approved", now, now
        request.window_start, request.window_end = now, end
        actor = staff_actor(person, "approver")
        subject = {"vendor": request.technician.vendor.slug,
                   "technician": request.technician.ident, "target": request.target.name,
                   "account": request.account_name or None}
        core.audit.append(session, action="break_glass.acknowledged", outcome="allowed",
                          actor=actor,
                          reasons=[f"acknowledged by on-call approver {person.username} "
                                   "with a security key",
                                   "WebAuthn assertion verified (origin, RP id, user "
                                   "verification, signature, counter)",
                                   *decision.reasons],
                          details={"approver": person.username, "credential": key.name,
                                   "challenge": row.challenge,
                                   "waited_seconds": int((now - request.created_at)
                                                         .total_seconds())},
                          request_id=request.id, **subject)
        grant = create_grant(session, core, request, decision.constraints,
                             contract_version_id=request.contract_version_id, now=now,
                             actor=actor)
        declarer = (session.get(StaffUser, request.declared_by_staff_id)
                    if request.declared_by_staff_id else None)
        open_review_and_tell(session, core, request, grant, declarer,
                             {"actor": actor, **subject})
        return _info(request, person.username)

    return run_audited(core, work, _refused(core, token, staff_id, "confirm", attempt, now))


def acknowledgement_state(core: Bastion, request_id: int) -> tuple[str, bool]:
    """The waiting emergency's status, and whether its time is up (the stored deadline:
    every node waiting on it agrees), for the technician's waiting session."""
    with core.db.session() as session:
        request = session.get(AccessRequest, request_id)
        if request is None:
            return "missing", True
        return request.status, request.expires_at is not None and utcnow() >= request.expires_at


def give_up(core: Bastion, request_id: int, *, why: str, actor: Actor) -> bool:
    """End a waiting emergency (time out, or the technician left). False if it was
    acknowledged meanwhile (the caller goes on with the access)."""
    now = utcnow()
    with core.db.session() as session:
        request = session.scalar(select(AccessRequest).where(AccessRequest.id == request_id)
                                 .with_for_update())
        if request is None or request.status != WAITING:
            return request is None or request.status != "approved"
        request.status, request.decided_at, request.updated_at = "expired", now, now
        for link in session.scalars(select(BreakGlassAcknowledgement).where(
                BreakGlassAcknowledgement.request_id == request_id)):
            link.used_at = link.used_at or now
        core.audit.append(session, action="break_glass.acknowledgement_expired",
                          outcome="denied", actor=actor, reasons=[why],
                          details={"waited_seconds": int((now - request.created_at)
                                                         .total_seconds())},
                          request_id=request.id, vendor=request.technician.vendor.slug,
                          technician=request.technician.ident, target=request.target.name,
                          account=request.account_name or None)
        return True

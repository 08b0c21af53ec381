"""Declaring an emergency access (*bris de glace*): access opens at once, for a short fixed
time, without approval; approvers and the DPO are told; a review is opened.

The contracts engine still decides (``break_glass=True``: the contract must allow
break-glass, and its maintenance windows apply unless ``outside_windows``); the grant is an
ordinary grant with ``break_glass`` set, so the proxy records and limits the session like
any other. Everything happens in one transaction: the stored request, the grant, the
review, the queued notifications and their audit events commit together or not at all.
Refusals are audited (``break_glass.refused``) in a transaction of their own, then raised.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from bastion.approvals import LIVE_STATES, create_grant
from bastion.approvals.lookup import StaffRef, staff_id_of
from bastion.approvals.views import grant_info
from bastion.audit import Actor
from bastion.context import Bastion
from bastion.contracts import REQUEST, Decision, decide_access
from bastion.i18n.marker import N_, Phrase
from bastion.models import (
    AccessRequest,
    BreakGlassReview,
    ContractVersion,
    Grant,
    StaffUser,
    Target,
    Technician,
    utcnow,
)

from .acknowledge import AcknowledgementAsked, ask_acknowledgement
from .errors import (
    AlreadyOpen,
    BreakGlassError,
    BreakGlassRefused,
    InvalidInput,
    JustificationTooShort,
    NotAllowedToDeclare,
    UnknownTarget,
    UnknownTechnician,
)
from .notify import enqueue_declared
from .views import BreakGlassAccess

SOURCES = ("ssh", "console")
DECLARING_ROLES = ("approver", "admin")  # staff who may declare for a technician
MAX_JUSTIFICATION = 2000
MAX_TICKET = 100


def declare_break_glass(core: Bastion, *, technician: str, target: str,
                        account: str | None = None, justification: str,
                        ticket: str | None = None, declared_by_staff: StaffRef | None = None,
                        source: str = "ssh", channels: Sequence[str] | None = None,
                        now: datetime | None = None) -> BreakGlassAccess | AcknowledgementAsked:
    """Open an emergency access and return it (its grant, request and review); or, on
    health data under ``on_sensitive: acknowledged``, the emergency waiting for an on-call
    approver's acknowledgement (``bastion.breakglass.acknowledge``).

    ``declared_by_staff``: the approver or admin declaring from the console on the
    technician's behalf (``None``: the technician declares, over SSH). ``channels``:
    default, every channel the contract allows. Blocking: from an event loop, call it
    through ``asyncio.to_thread``. Raises a :class:`BreakGlassError` subclass, whose
    ``message`` is one line to show, after auditing the refusal.
    """
    now = (now or utcnow()).replace(microsecond=0)
    if source not in SOURCES:
        raise InvalidInput(f"source must be one of {', '.join(SOURCES)}")
    justification = (justification or "").strip()
    ticket = (ticket or "").strip() or None
    refusal: BreakGlassRefused
    try:
        _check_text(core, justification, ticket)
        with core.db.session() as session:
            try:
                return _open(session, core, technician=technician, target=target,
                             account=account, justification=justification, ticket=ticket,
                             declared_by_staff=declared_by_staff, source=source,
                             channels=channels, now=now)
            except BreakGlassRefused as stored:
                # The denied request and its audit event commit with the block.
                refusal = stored
    except BreakGlassError as early:
        # Refused before anything was written (input, people, an access already open).
        _audit_refusal(core, early, technician=technician, target=target, source=source,
                       declared_by_staff=declared_by_staff)
        raise
    raise refusal


def _check_text(core: Bastion, justification: str, ticket: str | None) -> None:
    least = core.settings.breakglass.min_justification_chars
    if len(justification) < least:
        raise JustificationTooShort.phrased(Phrase.of(N_(
            "the justification is too short: say in at least {least} characters what is "
            "broken and why it cannot wait"), least=least))
    if len(justification) > MAX_JUSTIFICATION:
        raise InvalidInput.phrased(Phrase.of(
            N_("the justification is longer than {most} characters"), most=MAX_JUSTIFICATION))
    if ticket is not None and len(ticket) > MAX_TICKET:
        raise InvalidInput.phrased(Phrase.of(
            N_("the ticket is longer than {most} characters"), most=MAX_TICKET))


def _declarer(session: Session, staff: StaffRef | None) -> StaffUser | None:
    if staff is None:
        return None
    row = session.get(StaffUser, staff_id_of(staff))
    if row is None or not row.active or not (row.role_names & set(DECLARING_ROLES)):
        raise NotAllowedToDeclare("only an active approver or administrator may declare an "
                                  "emergency access for a technician")
    return row


def actor_for(technician: str, declarer: StaffUser | None) -> Actor:
    if declarer is None:
        return Actor(f"technician:{technician}", "technician")
    # The roles it acts in; a refused declarer (a DPO alone) is named by all of theirs.
    held = declarer.role_names & set(DECLARING_ROLES) or declarer.role_names
    return Actor(f"staff:{declarer.username}", ",".join(sorted(held)) or "staff")


def _open(session: Session, core: Bastion, *, technician: str, target: str,
          account: str | None, justification: str, ticket: str | None,
          declared_by_staff: StaffRef | None, source: str, channels: Sequence[str] | None,
          now: datetime) -> BreakGlassAccess:
    declarer = _declarer(session, declared_by_staff)
    # Locking the technician serialises two declarations for them (two nodes, two
    # consoles): the "already open" check below cannot be raced.
    person = session.scalar(select(Technician).where(Technician.ident == technician)
                            .with_for_update())
    if person is None:
        raise UnknownTechnician(f"unknown technician {technician}")
    place = session.scalar(select(Target).where(Target.name == target))
    if place is None:
        raise UnknownTarget(f"unknown target {target}")
    actor = actor_for(person.ident, declarer)
    open_grant = session.scalar(
        select(Grant).where(Grant.technician_id == person.id, Grant.target_id == place.id,
                            Grant.break_glass.is_(True), Grant.status.in_(LIVE_STATES),
                            Grant.not_before <= now, Grant.not_after > now))
    if open_grant is not None:
        opened = Phrase.of(N_("an emergency access to {target} is already open (grant "
                              "{grant}, until {until})"), target=target, grant=open_grant.id,
                           until=open_grant.not_after)
        raise AlreadyOpen(f"an emergency access to {target} is already open (grant "
                          f"{open_grant.id}, until {open_grant.not_after:%Y-%m-%d %H:%M} UTC)",
                          phrase=opened)

    cap = core.settings.breakglass.max_minutes
    end = now + timedelta(minutes=cap)
    decision, version = decide_access(session, technician=person.ident, target=place.name,
                                      account=account, channel=REQUEST, at=now,
                                      window_end=end, break_glass=True)
    wanted, refused_channels = _channels(decision, channels)
    request = AccessRequest(
        technician_id=person.id, target_id=place.id,
        account_name=(decision.constraints.account if decision.constraints else account or ""),
        window_start=now, window_end=end, channels=wanted, reason=justification, ticket=ticket,
        source=source, break_glass=True, approvals_required=0,
        contract_version_id=version.id if version is not None else None,
        verdict=_verdict(decision, version, now, wanted),
        declared_by_staff_id=declarer.id if declarer is not None else None,
        decided_at=now, created_at=now, updated_at=now)
    request.technician, request.target = person, place
    subject = {"actor": actor, "vendor": person.vendor.slug, "technician": person.ident,
               "target": place.name, "account": request.account_name or None}
    facts = {"justification": justification, "ticket": ticket, "source": source,
             "declared_by": declarer.username if declarer is not None else None,
             "window_start": now.isoformat(), "window_end": end.isoformat(),
             "channels": wanted, "max_minutes_setting": cap,
             "contract_version_id": request.contract_version_id}

    if not decision.allowed or decision.constraints is None or refused_channels:
        reasons = list(decision.reasons) if not decision.allowed else [
            f"channel {name} is not allowed by contract {decision.contract_reference}"
            for name in refused_channels]
        request.status = "denied"
        session.add(request)
        session.flush()
        core.audit.append(session, action="break_glass.refused", outcome="denied",
                          reasons=reasons, details={**facts, "codes": list(decision.codes)},
                          request_id=request.id, **subject)
        headline = decision.headline if not decision.allowed else reasons[0]
        line = (decision.phrase if not decision.allowed and decision.phrase else
                Phrase.of(N_("channel {channel} is not allowed by contract {contract}"),
                          channel=refused_channels[0] if refused_channels else "-",
                          contract=decision.contract_reference))
        raise BreakGlassRefused(f"emergency access refused: {headline}", reasons=tuple(reasons),
                                request_id=request.id,
                                phrase=Phrase.of(N_("emergency access refused: {reason}"),
                                                 reason=line))

    on_call = decision.constraints.acknowledgement_by
    request.status = "approved" if not on_call else "acknowledging"
    session.add(request)
    session.flush()
    core.audit.append(session, action="break_glass.declared", outcome="allowed",
                      reasons=list(decision.reasons) + (
                          [f"opens once one of {', '.join(on_call)} (on call) acknowledges it"]
                          if on_call else []),
                      details={**facts, "on_call": list(on_call)}, request_id=request.id,
                      **subject)
    if on_call:
        minutes = decision.constraints.acknowledgement_minutes
        asked = ask_acknowledgement(session, core, request, decision.constraints, declarer,
                                    subject, minutes, now)
        if asked is None:
            why = (f"none of the on-call approvers of contract {decision.contract_reference} "
                   f"({', '.join(on_call)}) can be asked: each must be an active approver "
                   "with an e-mail address, other than the declarer, and smtp.host set")
            request.status = "denied"
            core.audit.append(session, action="break_glass.refused", outcome="denied",
                              reasons=[why], details={**facts, "codes": ["no_one_on_call"]},
                              request_id=request.id, **subject)
            raise BreakGlassRefused("emergency access refused: no on-call approver can be "
                                    "asked to acknowledge it; call the hospital's IT on-call "
                                    "line now", reasons=(why,), request_id=request.id)
        return asked
    grant = create_grant(session, core, request, decision.constraints,
                         contract_version_id=request.contract_version_id, now=now, actor=actor)
    return open_review_and_tell(session, core, request, grant, declarer, subject)


def open_review_and_tell(session: Session, core: Bastion, request: AccessRequest, grant: Grant,
                         declarer: StaffUser | None, subject: dict[str, Any]) -> BreakGlassAccess:
    """Open the DPO's review and queue the urgent notifications, in the same transaction."""
    review = BreakGlassReview(
        request_id=request.id, grant_id=grant.id, justification=request.reason,
        opened_at=request.created_at,
        deadline=request.created_at + timedelta(hours=core.settings.breakglass.review_hours))
    review.request = request
    session.add(review)
    session.flush()
    core.audit.append(session, action="break_glass.review_opened", outcome="ok",
                      reasons=[f"review due by {review.deadline.isoformat()}"],
                      details={"review_id": review.id, "deadline": review.deadline.isoformat()},
                      request_id=request.id, grant_id=grant.id, **subject)
    told = enqueue_declared(session, core, request, grant, review,
                            declarer.username if declarer is not None else None)
    # Nobody to tell is not a reason to keep an emergency shut (the DPO's dashboard shows
    # it regardless), but it is a misconfiguration the trail must show.
    core.audit.append(session, action="break_glass.notified",
                      outcome="ok" if told else "failed",
                      reasons=[] if told else ["no notification channel is configured "
                                               "(smtp.host, webhook.url)"],
                      details={"queued_for": told, "urgent": True}, request_id=request.id,
                      grant_id=grant.id, **subject)
    return BreakGlassAccess(grant_info(grant), request.id, review.id, review.deadline, len(told))


def _channels(decision: Decision, asked: Sequence[str] | None) -> tuple[list[str], list[str]]:
    """(channels to grant, channels asked that the contract does not allow)."""
    allowed = decision.constraints.channels if decision.constraints is not None else frozenset()
    if asked is None:
        return sorted(allowed), []
    wanted = sorted(set(asked))
    return wanted, [name for name in wanted if name not in allowed]


def _verdict(decision: Decision, version: ContractVersion | None, now: datetime,
             channels: list[str]) -> dict[str, object]:
    verdict: dict[str, object] = decision.to_dict()
    verdict.update(checked_at=now.isoformat(), break_glass=True, channels_requested=channels,
                   contract_version=version.version if version is not None else None)
    return verdict


def _audit_refusal(core: Bastion, refusal: BreakGlassError, *, technician: str, target: str,
                   source: str, declared_by_staff: StaffRef | None) -> None:
    """A refusal before anything could be stored (bad input, unknown people): on record."""
    with core.db.session() as session:
        actor = Actor(f"technician:{technician[:64]}", "technician")
        if declared_by_staff is not None:
            staff_id = staff_id_of(declared_by_staff)
            row = session.get(StaffUser, staff_id)
            actor = actor_for(technician, row) if row is not None else Actor(
                f"staff:#{staff_id}", "unknown")
        core.audit.append(session, action="break_glass.refused", outcome="denied", actor=actor,
                          technician=technician[:64], target=target[:100],
                          reasons=[refusal.message],
                          details={"code": refusal.code, "source": source})

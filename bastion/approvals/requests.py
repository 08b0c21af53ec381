"""Access requests: filing, amending, cancelling, expiring, listing.

States: pending -> approved | denied | cancelled | expired. Approving and denying are in
``review``. Every transition is an audit event with its actor and reason, written in the
same transaction as the change.

An out-of-contract request is stored (status ``denied``, with the engine's reasons, no
reviewer) and then :class:`OutOfContract` is raised: the refusal is on record, and no
caller can mistake it for a request waiting for approval.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime, timedelta

from sqlalchemy import select
from sqlalchemy.orm import Session

from bastion.audit import Actor
from bastion.context import Bastion
from bastion.i18n.marker import N_, Phrase
from bastion.models import AccessRequest, Target, Technician, utcnow

from .errors import ApprovalError, OutOfContract
from .identity import is_requester
from .lookup import StaffRef, load_request, load_staff
from .notifications import enqueue_new_request
from .verdict import Assessment, assess, verdict_phrase
from .views import RequestInfo, request_info

SOURCES = ("ssh", "portal", "api", "console")
CHANNELS = ("shell", "exec", "sftp", "forward")
MAX_REASON = 2000
MAX_TICKET = 100
# Planned work is asked for at most this far ahead. Beyond it a date is a typo or an
# attack (year 9999 overflowed every page that shows the request in local time).
MAX_DAYS_AHEAD = 366


def _seconds(value: datetime) -> datetime:
    return value.replace(microsecond=0)


def _check_window(start: datetime, end: datetime, now: datetime) -> None:
    if start.tzinfo is None or end.tzinfo is None:
        raise ApprovalError("invalid_input", "the window's times must carry a time zone")
    if end <= start:
        raise ApprovalError.phrased("invalid_input", Phrase.of(N_("the window must end after it starts")))
    if end > now + timedelta(days=MAX_DAYS_AHEAD):
        raise ApprovalError.phrased("invalid_input", Phrase.of(
            N_("the window must end within {days} days from now; ask again for a nearer window"),
            days=MAX_DAYS_AHEAD))


def _clean_text(reason: str, ticket: str | None) -> tuple[str, str | None]:
    reason = (reason or "").strip()
    if not reason:
        raise ApprovalError.phrased("reason_required", Phrase.of(N_("say why the access is needed")))
    if len(reason) > MAX_REASON:
        raise ApprovalError.phrased("invalid_input", Phrase.of(
            N_("the reason is longer than {most} characters"), most=MAX_REASON))
    ticket = (ticket or "").strip() or None
    if ticket is not None and len(ticket) > MAX_TICKET:
        raise ApprovalError.phrased("invalid_input", Phrase.of(
            N_("the ticket is longer than {most} characters"), most=MAX_TICKET))
    return reason, ticket


def _clean_channels(channels: Sequence[str]) -> list[str]:
    wanted = sorted(set(channels))
    unknown = [name for name in wanted if name not in CHANNELS]
    if unknown or not wanted:
        raise ApprovalError("invalid_input",
                            f"channels must be among {', '.join(CHANNELS)} "
                            f"(got {', '.join(unknown) or 'none'})")
    return wanted


def _expiry(core: Bastion, start: datetime, end: datetime) -> datetime:
    # Nobody answering within pending_expiry_minutes of the window's start (of now, for
    # an immediate request) expires it; a request never waits past its own window.
    waiting = timedelta(minutes=core.settings.approvals.pending_expiry_minutes)
    return min(start + waiting, end)


def _apply_assessment(request: AccessRequest, found: Assessment, now: datetime) -> None:
    request.verdict = found.verdict
    request.contract_version_id = found.version.id if found.version is not None else None
    if found.allowed and found.constraints is not None:
        request.account_name = found.constraints.account
        request.approvals_required = max(1, found.constraints.approvers_required)
    else:
        request.status = "denied"
        request.decided_at = now


def file_request(core: Bastion, *, technician: str, target: str, account: str | None = None,
                 window_start: datetime | None = None, window_end: datetime,
                 channels: Sequence[str], reason: str, ticket: str | None = None, source: str,
                 actor: Actor, declared_by: StaffRef | None = None,
                 fit_to_contract: bool = False, now: datetime | None = None) -> RequestInfo:
    """File a request; returns it pending. Raises :class:`OutOfContract` (after storing it
    as denied) when the contracts engine refuses, ApprovalError for unusable input.

    A window that ends after the contract's ceiling is refused. ``fit_to_contract``: the
    caller chose no end (an SSH login asks for "now"), so the end is the earlier of
    ``window_end`` and the ceiling, and the request records it: approvers see, sign and
    grant exactly that window."""
    now = _seconds(now or utcnow())
    if source not in SOURCES:
        raise ApprovalError("invalid_input", f"source must be one of {', '.join(SOURCES)}")
    start = _seconds(max(window_start or now, now))
    end = _seconds(window_end)
    _check_window(start, end, now)
    reason, ticket = _clean_text(reason, ticket)
    wanted = _clean_channels(channels)
    refusal: OutOfContract | None = None
    with core.db.session() as session:
        person = session.scalar(select(Technician).where(Technician.ident == technician))
        if person is None:
            raise ApprovalError("unknown_technician", f"unknown technician {technician}")
        place = session.scalar(select(Target).where(Target.name == target))
        if place is None:
            raise ApprovalError("unknown_target", f"unknown target {target}")
        declarer = load_staff(session, declared_by) if declared_by is not None else None
        if fit_to_contract:
            ceiling = assess(session, technician=technician, target=target, account=account,
                             start=start, end=None, channels=wanted, now=now)
            if ceiling.constraints is not None:
                end = min(end, _seconds(ceiling.constraints.latest_end))
        found = assess(session, technician=technician, target=target, account=account,
                       start=start, end=end, channels=wanted, now=now)
        request = AccessRequest(
            technician_id=person.id, target_id=place.id, account_name=account or "",
            window_start=start, window_end=end, channels=wanted, reason=reason, ticket=ticket,
            source=source, break_glass=False, status="pending",
            declared_by_staff_id=declarer.id if declarer is not None else None,
            expires_at=_expiry(core, start, end), created_at=now, updated_at=now)
        request.technician, request.target = person, place
        _apply_assessment(request, found, now)
        session.add(request)
        session.flush()
        facts = {"window_start": start.isoformat(), "window_end": end.isoformat(),
                 "channels": wanted, "ticket": ticket, "source": source,
                 "approvals_required": request.approvals_required,
                 "declared_by": declarer.username if declarer is not None else None,
                 "contract_version_id": request.contract_version_id,
                 "data_categories": sorted(place.data_categories or ())}
        common = {"actor": actor, "vendor": person.vendor.slug, "technician": person.ident,
                  "target": place.name, "account": request.account_name or None,
                  "request_id": request.id}
        if request.status == "denied":
            core.audit.append(session, action="request.refused", outcome="denied",
                              reasons=found.reasons, details=facts, **common)
            refusal = OutOfContract(f"request {request.id} is outside the contract: "
                                    f"{found.headline}", reasons=found.reasons,
                                    request_id=request.id, phrase=verdict_phrase(found),
                                    verdict=found.verdict)
        else:
            core.audit.append(session, action="request.filed", outcome="ok",
                              reasons=[f"waiting for {request.approvals_required} approval(s)",
                                       found.verdict.get("summary", "")],
                              details={**facts, "reason": reason}, **common)
            enqueue_new_request(session, core, request)
        info = request_info(session, request)
    if refusal is not None:
        raise refusal
    return info


def amend_request(core: Bastion, request_id: int, *, actor: Actor,
                  window_start: datetime | None = None, window_end: datetime | None = None,
                  channels: Sequence[str] | None = None, reason: str | None = None,
                  ticket: str | None = None, now: datetime | None = None) -> RequestInfo:
    """Change a pending request before anyone approved it. The content changes, so every
    challenge issued for it stops working; the contracts engine is asked again."""
    now = _seconds(now or utcnow())
    refusal: OutOfContract | None = None
    with core.db.session() as session:
        request = load_request(session, request_id, lock=True)
        _check_owner(request, actor)
        if request.status != "pending":
            raise ApprovalError("request_not_pending",
                                f"request {request_id} is {request.status}; file a new one",
                                request_id=request_id)
        if any(r.decision == "approve" for r in request.reviews):
            raise ApprovalError("request_not_pending",
                                f"request {request_id} already has an approval; cancel it and "
                                "file a new one", request_id=request_id)
        start = _seconds(max(window_start or request.window_start, now))
        end = _seconds(window_end or request.window_end)
        _check_window(start, end, now)
        new_reason, new_ticket = _clean_text(reason if reason is not None else request.reason,
                                             ticket if ticket is not None else request.ticket)
        wanted = _clean_channels(channels if channels is not None else request.channels)
        before = {"window_start": request.window_start.isoformat(),
                  "window_end": request.window_end.isoformat(), "channels": request.channels,
                  "reason": request.reason, "ticket": request.ticket}
        found = assess(session, technician=request.technician.ident, target=request.target.name,
                       account=request.account_name or None, start=start, end=end,
                       channels=wanted, now=now)
        request.window_start, request.window_end = start, end
        request.channels, request.reason, request.ticket = wanted, new_reason, new_ticket
        request.expires_at = _expiry(core, start, end)
        request.updated_at = now
        _apply_assessment(request, found, now)
        after = {"window_start": start.isoformat(), "window_end": end.isoformat(),
                 "channels": wanted, "reason": new_reason, "ticket": new_ticket}
        denied = request.status == "denied"
        core.audit.append(session, action="request.amended",
                          outcome="denied" if denied else "ok", actor=actor,
                          reasons=found.reasons if denied else ["amended while pending"],
                          details={"before": before, "after": after},
                          **_subject(request))
        if denied:
            refusal = OutOfContract(f"request {request.id} is now outside the contract: "
                                    f"{found.headline}", reasons=found.reasons,
                                    request_id=request.id, phrase=verdict_phrase(found),
                                    verdict=found.verdict)
        info = request_info(session, request)
    if refusal is not None:
        raise refusal
    return info


def _subject(request: AccessRequest) -> dict[str, object]:
    return {"vendor": request.technician.vendor.slug, "technician": request.technician.ident,
            "target": request.target.name, "account": request.account_name or None,
            "request_id": request.id}


def _check_owner(request: AccessRequest, actor: Actor) -> None:
    # A technician acts only on their own requests; staff permissions are the console's.
    if actor.role == "technician" and actor.name != f"technician:{request.technician.ident}":
        raise ApprovalError.phrased("not_your_request", Phrase.of(
            N_("request {request} is not yours"), request=request.id), request_id=request.id)


def cancel_request(core: Bastion, request_id: int, *, actor: Actor, reason: str,
                   now: datetime | None = None) -> RequestInfo:
    """pending -> cancelled (the technician pressed Ctrl-C, changed their mind, or staff
    withdrew it)."""
    now = now or utcnow()
    reason = (reason or "").strip()
    if not reason:
        raise ApprovalError.phrased("reason_required", Phrase.of(N_("say why the request is cancelled")))
    with core.db.session() as session:
        request = load_request(session, request_id, lock=True)
        _check_owner(request, actor)
        if request.status != "pending":
            raise ApprovalError.phrased("request_not_pending", Phrase.of(
                N_("request {request} is {status}, it cannot be cancelled"),
                request=request_id, status=request.status), request_id=request_id)
        request.status, request.decided_at, request.updated_at = "cancelled", now, now
        core.audit.append(session, action="request.cancelled", outcome="ok", actor=actor,
                          reasons=[reason], **_subject(request))
        return request_info(session, request)


def expire_request(session: Session, core: Bastion, request: AccessRequest,
                   now: datetime) -> None:
    request.status, request.decided_at, request.updated_at = "expired", now, now
    when = request.expires_at.isoformat() if request.expires_at else "its deadline"
    core.audit.append(session, action="request.expired", outcome="ok", actor=Actor.system(),
                      reasons=[f"no decision before {when}"],
                      details={"approvals": sum(r.decision == "approve" for r in request.reviews),
                               "approvals_required": request.approvals_required},
                      **_subject(request))


def expire_pending_requests(core: Bastion, now: datetime | None = None) -> list[int]:
    """pending (or acknowledging) past ``expires_at`` -> expired; returns their ids."""
    now = now or utcnow()
    with core.db.session() as session:
        rows = session.scalars(
            select(AccessRequest)
            # An emergency left waiting for an acknowledgement (its node stopped) too.
            .where(AccessRequest.status.in_(("pending", "acknowledging")),
                   AccessRequest.expires_at <= now)
            .order_by(AccessRequest.id).with_for_update()).all()
        for request in rows:
            expire_request(session, core, request, now)
        return [request.id for request in rows]


def get_request(core: Bastion, request_id: int) -> RequestInfo:
    with core.db.session() as session:
        return request_info(session, load_request(session, request_id))


def list_requests(core: Bastion, *, status: str | None = None, technician: str | None = None,
                  target: str | None = None, limit: int = 200) -> list[RequestInfo]:
    """Newest first."""
    with core.db.session() as session:
        query = select(AccessRequest).order_by(AccessRequest.id.desc()).limit(limit)
        if status is not None:
            query = query.where(AccessRequest.status == status)
        if technician is not None:
            query = query.join(Technician, Technician.id == AccessRequest.technician_id).where(
                Technician.ident == technician)
        if target is not None:
            query = query.join(Target, Target.id == AccessRequest.target_id).where(
                Target.name == target)
        return [request_info(session, row) for row in session.scalars(query)]


def pending_requests(core: Bastion, *, now: datetime | None = None,
                     technician: str | None = None,
                     for_staff: StaffRef | None = None) -> list[RequestInfo]:
    """Requests waiting for a decision (and not past their deadline), oldest first: the
    approvers' queue. ``for_staff``: only those this person may still review (not filed
    by them, not yet reviewed by them), for the console's badge."""
    now = now or utcnow()
    with core.db.session() as session:
        query = (select(AccessRequest)
                 .where(AccessRequest.status == "pending", AccessRequest.expires_at > now)
                 .order_by(AccessRequest.id))
        if technician is not None:
            query = query.join(Technician, Technician.id == AccessRequest.technician_id).where(
                Technician.ident == technician)
        rows = list(session.scalars(query))
        if for_staff is not None:
            person = load_staff(session, for_staff, active=False)
            rows = [row for row in rows if not is_requester(person, row)
                    and all(review.staff_id != person.id for review in row.reviews)]
        return [request_info(session, row) for row in rows]

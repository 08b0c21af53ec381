"""Reviewing a request: WebAuthn-signed approvals, and denials with a reason.

An approval is a WebAuthn assertion over a challenge derived from the request's canonical
content, issued to this approver for this request, unexpired and unused. The approver is
never the requester, holds the ``approver`` role, reviews a request once; a request
needs as many approvals, each by a different person, as its contract demands; only a
pending, unexpired, in-contract request can be approved. When the last approval needed
arrives, the request becomes ``approved`` and its grant is created.

Every refusal raises :class:`ApprovalError` with a stable code, after the attempt's
changes are rolled back and the refusal is committed to the audit log (see ``attempts``).
A challenge that reached the checks of its own request and approver is burnt by a refused
attempt: ask for a new one. A challenge presented for another request or by another
approver is left alone: it still works where it belongs.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime

from sqlalchemy import func, select
from sqlalchemy.orm import Session
from webauthn import generate_authentication_options
from webauthn.helpers.structs import (
    PublicKeyCredentialRequestOptions,
    UserVerificationRequirement,
)

from bastion.audit import Actor
from bastion.context import Bastion
from bastion.models import (
    AccessRequest,
    Review,
    StaffUser,
    WebAuthnChallenge,
    utcnow,
)

from .assertion import CredentialResponse, parse_assertion, usable_credential, verify_assertion
from .attempts import run_audited
from .challenge import (
    burn,
    check_binding,
    check_content,
    check_fresh,
    consume,
    find_challenge,
    issue_approval_challenge,
)
from .clone_suspicion import suspend_if_cloned
from .content import request_digest
from .errors import ApprovalError
from .grants import create_grant, grant_window
from .identity import is_requester
from .lookup import (
    StaffRef,
    load_request,
    load_staff,
    staff_actor,
    staff_id_of,
    unknown_staff_actor,
)
from .probation import probation_ends
from .registration import descriptors
from .relying_party import relying_party
from .requests import expire_request
from .ungrantable import mark_ungrantable, still_grantable, why_ungrantable
from .views import GrantInfo, RequestInfo, grant_info, request_info


@dataclass(frozen=True)
class ApprovalResult:
    request: RequestInfo
    grant: GrantInfo | None  # set when this approval was the last one needed
    approvals: int
    approvals_required: int


@dataclass
class _Attempt:
    """What a refused attempt's audit event names (filled as the checks go)."""

    stage: str  # options | approve | deny
    request_id: int
    staff_id: int
    request: AccessRequest | None = None
    staff: StaffUser | None = None
    challenge_id: int | None = None
    credential_id: int | None = None
    details: dict[str, object] = field(default_factory=dict)


def _check_reviewer(request: AccessRequest, staff: StaffUser, now: datetime, *,
                    approving: bool, probation_hours: int = 0) -> None:
    rid = request.id
    if not staff.has_role("approver"):
        raise ApprovalError("not_an_approver",
                            f"{staff.username} does not hold the approver role", request_id=rid)
    if approving and request.approvals_required > 1:
        until = probation_ends(staff, probation_hours)
        if until is not None and until > now:
            raise ApprovalError("approver_on_probation",
                                f"{staff.username} became an approver recently: until "
                                f"{until:%Y-%m-%d %H:%M} UTC, or until the DPO confirms them, "
                                "their approval cannot count towards a two-person approval; "
                                "ask another approver", request_id=rid)
    if is_requester(staff, request):
        raise ApprovalError("approver_is_requester",
                            f"{staff.username} filed or is the subject of request {rid}; "
                            "another approver must review it", request_id=rid)
    if any(review.staff_id == staff.id for review in request.reviews):
        raise ApprovalError("already_reviewed",
                            f"{staff.username} has already reviewed request {rid}; a second "
                            "approval must come from someone else", request_id=rid)
    if approving and not (request.verdict or {}).get("allowed"):
        # A request refused while pending keeps the code approve() would have given.
        raise ApprovalError((request.verdict or {}).get("refusal_code", "out_of_contract"),
                            f"request {rid} is outside the contract and cannot be approved",
                            reasons=(request.verdict or {}).get("reasons", []), request_id=rid)
    if request.status == "expired" or (
            request.status == "pending" and request.expires_at is not None
            and request.expires_at <= now):
        raise ApprovalError("request_expired",
                            f"request {rid} expired without a decision; the technician must "
                            "file a new one", request_id=rid)
    if request.status != "pending":
        raise ApprovalError("request_not_pending", f"request {rid} is already {request.status}",
                            request_id=rid)


# Refusals that mean the engine no longer allows the request.
UNGRANTABLE = ("out_of_contract", "contract_changed")


def _record_refusal(session: Session, core: Bastion, attempt: _Attempt, exc: ApprovalError,
                    now: datetime) -> None:
    burn(session, attempt.challenge_id, now=now, outcome=exc.code)
    suspend_if_cloned(session, core, exc, attempt.credential_id, now=now)
    request = session.get(AccessRequest, attempt.request_id)
    staff = session.get(StaffUser, attempt.staff_id)
    if exc.code == "request_expired" and request is not None and request.status == "pending":
        expire_request(session, core, request, now)
    if exc.code in UNGRANTABLE and request is not None and request.status == "pending":
        # What the engine refused leaves the queue now, not at the next approver's try.
        found, reasons = why_ungrantable(session, request, now)
        if reasons:
            mark_ungrantable(session, core.audit, request, found, reasons,
                             trigger=f"{attempt.stage} refused", actor=Actor.system(), now=now)
    subject: dict[str, object] = {"request_id": request.id} if request is not None else {}
    if request is not None:
        subject.update(vendor=request.technician.vendor.slug,
                       technician=request.technician.ident, target=request.target.name,
                       account=request.account_name or None)
    actor = staff_actor(staff) if staff is not None else unknown_staff_actor(attempt.staff_id)
    action = "request.denial_refused" if attempt.stage == "deny" else "request.approval_refused"
    core.audit.append(session, action=action, outcome="denied", actor=actor,
                      reasons=[exc.message, *exc.reasons],
                      details={"code": exc.code, "stage": attempt.stage, **attempt.details},
                      **subject)


def approval_options(core: Bastion, request_id: int, staff: StaffRef, *,
                     now: datetime | None = None) -> PublicKeyCredentialRequestOptions:
    """WebAuthn request options for approving ``request_id``: a challenge bound to the
    request's current content, to this approver and this request; allowCredentials = the
    approver's keys; user verification required. Send ``webauthn.options_to_json(...)``
    to the browser."""
    now = (now or utcnow()).replace(microsecond=0)
    attempt = _Attempt("options", request_id, staff_id_of(staff))

    def work(session: Session) -> PublicKeyCredentialRequestOptions:
        request = load_request(session, request_id)
        person = load_staff(session, attempt.staff_id)
        _check_reviewer(request, person, now, approving=True,
                        probation_hours=core.settings.approvals.new_approver_hours)
        # Before anyone touches a key: the engine still allows it (fail closed).
        still_grantable(session, request, now)
        keys = person.usable_credentials
        if not keys:
            raise ApprovalError("no_credential",
                                f"{person.username} has no usable security key; register "
                                "one first", request_id=request_id)
        challenge = issue_approval_challenge(session, core, request_id=request.id,
                                             staff_id=person.id,
                                             digest=request_digest(session, request), now=now)
        return generate_authentication_options(
            rp_id=relying_party(core).rp_id, challenge=challenge,
            timeout=core.settings.approvals.challenge_seconds * 1000,
            allow_credentials=descriptors(keys),
            user_verification=UserVerificationRequirement.REQUIRED)

    return run_audited(core, work, lambda s, exc: _record_refusal(s, core, attempt, exc, now))


def _valid_approvals(session: Session, request: AccessRequest, digest: str) -> int:
    """Approvals whose signed challenge was derived from the request's current content:
    an approval of an earlier version of the request does not count."""
    return int(session.scalar(
        select(func.count(Review.id))
        .join(WebAuthnChallenge, WebAuthnChallenge.challenge == Review.challenge_digest)
        .where(Review.request_id == request.id, Review.decision == "approve",
               WebAuthnChallenge.content_digest == digest)) or 0)


def approve(core: Bastion, request_id: int, staff: StaffRef,
            credential_response: CredentialResponse, *,
            now: datetime | None = None) -> ApprovalResult:
    """Verify the approver's assertion (the browser's JSON from navigator.credentials.get())
    and record the approval; the last approval needed approves the request and creates
    its grant."""
    now = (now or utcnow()).replace(microsecond=0)
    attempt = _Attempt("approve", request_id, staff_id_of(staff))

    def work(session: Session) -> ApprovalResult:
        assertion = parse_assertion(credential_response)
        request = load_request(session, request_id, lock=True)
        person = load_staff(session, attempt.staff_id)
        row = check_binding(find_challenge(session, assertion.challenge), purpose="approval",
                            staff_id=person.id, request_id=request.id)
        attempt.challenge_id = row.id
        _check_reviewer(request, person, now, approving=True,
                        probation_hours=core.settings.approvals.new_approver_hours)
        check_fresh(row, now)
        digest = request_digest(session, request)
        check_content(row, digest)
        found = still_grantable(session, request, now)
        assert found.constraints is not None  # still_grantable raised otherwise
        not_before, not_after = grant_window(request, found.constraints, now)
        if not_after <= not_before:
            raise ApprovalError("out_of_contract",
                                f"nothing is left of request {request.id}'s window",
                                request_id=request.id)
        stored = usable_credential(session, assertion.credential_id, owner=person.id)
        attempt.credential_id = stored.id
        attempt.details["credential"] = stored.name
        new_count = verify_assertion(assertion, stored, rp=relying_party(core),
                                     expected_challenge=bytes.fromhex(row.challenge),
                                     require_user_verification=True)
        # Every check passed: record.
        stored.sign_count, stored.last_used_at = new_count, now
        consume(row, now=now, outcome="ok", assertion=assertion.proof)
        review = Review(request_id=request.id, staff_id=person.id, decision="approve",
                        credential_id=stored.id, challenge_digest=row.challenge, created_at=now)
        request.reviews.append(review)
        session.flush()
        actor = staff_actor(person)
        subject = {"vendor": request.technician.vendor.slug,
                   "technician": request.technician.ident, "target": request.target.name,
                   "account": request.account_name, "request_id": request.id}
        count = _valid_approvals(session, request, digest)
        core.audit.append(session, action="request.approval", outcome="ok", actor=actor,
                          reasons=[f"approval {count} of {request.approvals_required}",
                                   "WebAuthn assertion verified (origin, RP id, user "
                                   "verification, signature, counter)"],
                          details={"credential": stored.name, "sign_count": new_count,
                                   "content_digest": digest, "challenge": row.challenge},
                          **subject)
        grant = None
        if count >= request.approvals_required:
            request.status, request.decided_at, request.updated_at = "approved", now, now
            approvers = sorted(r.staff.username for r in request.reviews
                               if r.decision == "approve")
            core.audit.append(session, action="request.approved", outcome="allowed", actor=actor,
                              reasons=[f"{count} approval(s) of {request.approvals_required} "
                                       "required", found.headline],
                              details={"approvers": approvers,
                                       "contract_version_id": request.contract_version_id},
                              **subject)
            grant = grant_info(create_grant(session, core, request, found.constraints,
                                            contract_version_id=request.contract_version_id,
                                            now=now, actor=actor))
        return ApprovalResult(request_info(session, request), grant, count,
                              request.approvals_required)

    return run_audited(core, work, lambda s, exc: _record_refusal(s, core, attempt, exc, now))


def deny(core: Bastion, request_id: int, staff: StaffRef, reason: str, *,
         now: datetime | None = None) -> RequestInfo:
    """One approver's denial ends the request (pending -> denied); a reason is required."""
    now = (now or utcnow()).replace(microsecond=0)
    attempt = _Attempt("deny", request_id, staff_id_of(staff))
    reason = (reason or "").strip()

    def work(session: Session) -> RequestInfo:
        if not reason:
            raise ApprovalError("reason_required", "say why the request is denied",
                                request_id=request_id)
        request = load_request(session, request_id, lock=True)
        person = load_staff(session, attempt.staff_id)
        _check_reviewer(request, person, now, approving=False)
        request.reviews.append(Review(request_id=request.id, staff_id=person.id,
                                      decision="deny", reason=reason, created_at=now))
        request.status, request.decided_at, request.updated_at = "denied", now, now
        session.flush()
        core.audit.append(session, action="request.denied", outcome="denied",
                          actor=staff_actor(person), reasons=[reason],
                          vendor=request.technician.vendor.slug,
                          technician=request.technician.ident, target=request.target.name,
                          account=request.account_name, request_id=request.id)
        return request_info(session, request)

    return run_audited(core, work, lambda s, exc: _record_refusal(s, core, attempt, exc, now))

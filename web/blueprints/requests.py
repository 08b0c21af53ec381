"""Access requests for approvers: the queue, one request's page, approving with a security
key (a WebAuthn assertion over the request's content) and denying with a reason.

The e-mail telling approvers of a new request links to ``/requests/<id>``
(``bastion.approvals.notifications.request_url``). All policy is the approvals core's:
this module only decides what to *offer* (never an approve button to the requester or to
someone without the approver role) and says in the visitor's language why the core
refused.
"""

from __future__ import annotations

import json
from datetime import datetime
from typing import Any

from flask import Blueprint, abort, flash, jsonify, redirect, render_template, request, url_for
from flask.typing import ResponseReturnValue
from flask_babel import gettext, lazy_gettext
from flask_wtf import FlaskForm
from webauthn import options_to_json
from wtforms import TextAreaField
from wtforms.validators import DataRequired, Length

from bastion.approvals import (
    ApprovalError,
    RequestInfo,
    approval_options,
    approve,
    deny,
    get_grant,
    get_request,
    is_requester,
    list_requests,
    pending_requests,
)
from bastion.models import AccessRequest, StaffUser, utcnow

from .. import ceremonies
from ..access import requires
from ..i18n import verdict_details
from ..identity import Principal, core, signed_in_principal

blueprint = Blueprint("requests", __name__, url_prefix="/requests")

# Who reads requests; only approvers review them (the core refuses anyone else anyway).
READERS = ("approver", "admin", "dpo")
RECENT = 30


class DenyForm(FlaskForm):
    reason = TextAreaField(lazy_gettext("Reason for the denial"),
                           validators=[DataRequired(), Length(max=2000)],
                           description=lazy_gettext("The technician and the audit log keep it."))


def _refusals() -> dict[str, str]:
    """What an approver reads when the core refuses; codes the sign-in ceremonies share
    (expired or replayed challenge, wrong origin...) fall back to ``web.ceremonies``."""
    return {
        "not_an_approver": gettext("Only approvers review requests, and you do not hold the approver role."),
        "approver_is_requester": gettext(
            "You filed this request or it is about you: another approver must review it."),
        "already_reviewed": gettext(
            "You have already reviewed this request: another approval must come from someone else."),
        "out_of_contract": gettext("This request is outside the vendor's contract: it cannot be approved."),
        "contract_changed": gettext(
            "The vendor's contract changed since the request was filed: the technician must file a "
            "new request."),
        "request_expired": gettext(
            "This request expired without a decision: the technician must file a new one."),
        "request_not_pending": gettext("This request has already been decided. Reload the page."),
        "request_changed": gettext(
            "The request changed after your security key was asked. Read it again, then approve."),
        "request_not_found": gettext("This request does not exist."),
        "reason_required": gettext("Say why the request is denied."),
        "challenge_for_other_request": gettext(
            "This security-key answer was made for another request. Try again."),
        "challenge_for_other_staff": gettext(
            "This security-key answer was made for someone else. Try again."),
        "challenge_wrong_purpose": gettext("This security-key answer was not made for an approval."),
        "wrong_rp_id": gettext("The security key answered for another site."),
        "bad_signature": gettext("The security key's signature does not verify."),
        "user_not_present": gettext("The security key was not touched. Try again."),
        "staff_inactive": gettext("Your account is disabled."),
        "approver_on_probation": gettext(
            "Your approver role is new: until the DPO confirms it or its probation ends, your "
            "approval cannot count towards a two-person approval. Ask another approver."),
    }


def refusal_body(error: ApprovalError) -> dict[str, Any]:
    message = _refusals().get(error.code) or ceremonies.error_body(error)["message"]
    if error.reasons:
        # The contracts engine's reasons say exactly what does not fit (in the reader's
        # words where the engine gave them as phrases).
        reasons = verdict_details(error.verdict) if error.verdict else list(error.reasons)
        message = f"{message} ({'; '.join(reasons)})"
    return {"code": error.code, "message": message}


def _refusal_response(error: ApprovalError) -> ResponseReturnValue:
    return jsonify(error=refusal_body(error)), error.status


def _request_or_404(request_id: int) -> RequestInfo:
    try:
        return get_request(core(), request_id)
    except ApprovalError as error:
        if error.code == "request_not_found":
            abort(404)
        raise


def waiting_minutes(info: RequestInfo, now: datetime) -> int:
    return max(0, int((now - info.created_at).total_seconds() // 60))


def why_not_reviewable(info: RequestInfo, me: Principal, now: datetime) -> str | None:
    """None when ``me`` may approve or deny ``info`` now; else the reason, for the page.
    The same checks as the core's, so the page never offers what would be refused."""
    if not me.has_role("approver"):
        return gettext("You do not hold the approver role: you can read this request, not review it.")
    if info.status != "pending":
        return gettext("This request is no longer waiting for a decision.")
    if info.expires_at is not None and info.expires_at <= now:
        return _refusals()["request_expired"]
    if any(review.staff_id == me.db_id for review in info.reviews):
        return _refusals()["already_reviewed"]
    with core().db.session() as db:
        staff, row = db.get(StaffUser, me.db_id), db.get(AccessRequest, info.id)
        if staff is None or row is None:
            abort(404)
        if is_requester(staff, row):
            return _refusals()["approver_is_requester"]
    if not info.in_contract:
        return _refusals()["out_of_contract"]
    return None


@blueprint.get("")
@requires(*READERS)
def index() -> ResponseReturnValue:
    me = signed_in_principal()
    now = utcnow()
    pending = pending_requests(core(), now=now)
    # Requests this person may still review (not theirs, not reviewed by them yet).
    mine = ({info.id for info in pending_requests(core(), now=now, for_staff=me.db_id)}
            if me.has_role("approver") else set())
    decided = [info for info in list_requests(core(), limit=RECENT + len(pending))
               if info.status != "pending"][:RECENT]
    return render_template("requests/index.html", pending=pending, reviewable=mine,
                           decided=decided, waiting={i.id: waiting_minutes(i, now) for i in pending})


@blueprint.get("/<int:request_id>")
@requires(*READERS)
def show(request_id: int) -> ResponseReturnValue:
    info = _request_or_404(request_id)
    me = signed_in_principal()
    now = utcnow()
    grant = get_grant(core(), info.grant_id) if info.grant_id is not None else None
    return render_template("requests/show.html", request_info=info, grant=grant,
                           why_not=why_not_reviewable(info, me, now), deny_form=DenyForm(),
                           waiting=waiting_minutes(info, now), now=now)


@blueprint.post("/<int:request_id>/approve/options")
@requires("approver")
def approve_options(request_id: int) -> ResponseReturnValue:
    """A challenge bound to this request's content and to this approver (the core's)."""
    try:
        options = approval_options(core(), request_id, signed_in_principal().db_id)
    except ApprovalError as error:
        return _refusal_response(error)
    return jsonify(options=json.loads(options_to_json(options)))


@blueprint.post("/<int:request_id>/approve")
@requires("approver")
def approve_verify(request_id: int) -> ResponseReturnValue:
    credential = ceremonies.credential_from_body(request.get_json(silent=True))
    if credential is None:
        return ceremonies.missing_credential()
    try:
        result = approve(core(), request_id, signed_in_principal().db_id, credential)
    except ApprovalError as error:
        return _refusal_response(error)
    if result.grant is not None:
        flash(gettext("Request %(id)d approved: grant %(grant)d is created.",
                      id=request_id, grant=result.grant.id), "success")
    else:
        flash(gettext("Your approval is recorded (%(n)d of %(m)d): another approver must approve too.",
                      n=result.approvals, m=result.approvals_required), "success")
    return jsonify(redirect=url_for("requests.show", request_id=request_id))


@blueprint.post("/<int:request_id>/deny")
@requires("approver")
def deny_request(request_id: int) -> ResponseReturnValue:
    _request_or_404(request_id)
    form = DenyForm()
    if not form.validate_on_submit():
        flash(_refusals()["reason_required"], "error")
        return redirect(url_for("requests.show", request_id=request_id))
    try:
        deny(core(), request_id, signed_in_principal().db_id, form.reason.data)
    except ApprovalError as error:
        flash(refusal_body(error)["message"], "error")
    else:
        flash(gettext("Request %(id)d denied.", id=request_id), "success")
    return redirect(url_for("requests.show", request_id=request_id))

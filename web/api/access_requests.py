"""Access requests: list, file, show, cancel.

Technicians file and follow their own requests (as on the vendor pages). Approvers and
admins may file one on a technician's behalf (a ticketing integration, say): they are
then its declarer, and the core never lets them approve it.
"""

from __future__ import annotations

from flask import Blueprint, jsonify, request, url_for
from flask.typing import ResponseReturnValue

from bastion.approvals import cancel_request, file_request, list_requests
from bastion.models import REQUEST_STATES

from ..access import requires
from ..identity import core
from .bodies import NewRequest, Reason, parse
from .common import caller, is_technician, query_choices, query_limit, technician_filter, visible_request
from .errors import ApiError
from .views import request_view

blueprint = Blueprint("requests", __name__)


@blueprint.get("/requests")
@requires("approver", "admin", "dpo", "technician")
def index() -> ResponseReturnValue:
    principal = caller()
    statuses = query_choices("status", REQUEST_STATES)
    if statuses is not None and len(statuses) > 1:
        raise ApiError("invalid_input", "give at most one status")
    rows = list_requests(core(), status=statuses[0] if statuses else None,
                         technician=technician_filter(principal),
                         target=request.args.get("target") or None, limit=query_limit())
    return jsonify(requests=[request_view(row, principal) for row in rows])


@blueprint.post("/requests")
@requires("approver", "admin", "technician")
def create() -> ResponseReturnValue:
    principal = caller()
    body = parse(NewRequest)
    if is_technician(principal):
        if body.technician not in (None, principal.username):
            raise ApiError("forbidden", "a technician files requests for themselves only")
        technician, declared_by = principal.username, None
    else:
        if not body.technician:
            raise ApiError("invalid_input", "say which technician the request is for")
        technician, declared_by = body.technician, principal.db_id
    info = file_request(core(), technician=technician, target=body.target, account=body.account,
                        window_start=body.window_start, window_end=body.window_end,
                        channels=body.channels, reason=body.reason, ticket=body.ticket,
                        source="api", actor=principal.actor(), declared_by=declared_by)
    location = url_for(".show", request_id=info.id)
    return jsonify(request=request_view(info, principal)), 201, {"Location": location}


@blueprint.get("/requests/<int:request_id>")
@requires("approver", "admin", "dpo", "technician")
def show(request_id: int) -> ResponseReturnValue:
    principal = caller()
    return jsonify(request=request_view(visible_request(principal, request_id), principal))


@blueprint.post("/requests/<int:request_id>/cancel")
@requires("approver", "admin", "technician")
def cancel(request_id: int) -> ResponseReturnValue:
    principal = caller()
    visible_request(principal, request_id)
    body = parse(Reason)
    info = cancel_request(core(), request_id, actor=principal.actor(), reason=body.reason)
    return jsonify(request=request_view(info, principal))

"""Reviews: the WebAuthn options for approving a request, the approval itself (the
browser's or a software authenticator's assertion), and denials with a reason.

Everything that matters (approver is not the requester, challenge bound to the request's
content and used once, origin, RP id, user verification, counter, number of approvers)
is the core's (``bastion.approvals.review``); its refusals come back with their codes.
"""

from __future__ import annotations

import json

from flask import Blueprint, jsonify
from flask.typing import ResponseReturnValue
from webauthn import options_to_json

from bastion.approvals import approval_options, approve, deny

from ..access import requires
from ..identity import core
from .bodies import Assertion, Reason, parse
from .common import caller
from .views import grant_view, request_view

blueprint = Blueprint("reviews", __name__)


@blueprint.post("/requests/<int:request_id>/approval-options")
@requires("approver")
def options(request_id: int) -> ResponseReturnValue:
    found = approval_options(core(), request_id, caller().db_id)
    # The same shape as the console's ceremonies: {"options": PublicKeyCredentialRequestOptionsJSON}
    return jsonify(options=json.loads(options_to_json(found)))


@blueprint.post("/requests/<int:request_id>/approve")
@requires("approver")
def approve_(request_id: int) -> ResponseReturnValue:
    principal = caller()
    body = parse(Assertion)
    result = approve(core(), request_id, principal.db_id, body.credential)
    return jsonify(request=request_view(result.request, principal),
                   grant=grant_view(result.grant, principal) if result.grant else None,
                   approvals=result.approvals, approvals_required=result.approvals_required)


@blueprint.post("/requests/<int:request_id>/deny")
@requires("approver")
def deny_(request_id: int) -> ResponseReturnValue:
    principal = caller()
    body = parse(Reason)
    return jsonify(request=request_view(deny(core(), request_id, principal.db_id, body.reason),
                                        principal))

"""An on-call approver acknowledging an emergency on health data (the link in their
urgent e-mail): the page shows the emergency, their security key signs its exact content,
and the access opens (bastion.breakglass.acknowledge). The link is personal and usable
once; a refusal is audited by the core."""

from __future__ import annotations

from flask import Blueprint, flash, jsonify, render_template, request, url_for
from flask.typing import ResponseReturnValue
from flask_babel import gettext

from bastion import breakglass
from bastion.approvals import ApprovalError

from .. import ceremonies
from ..access import requires
from ..identity import core, signed_in_principal

blueprint = Blueprint("break_glass_ack", __name__, url_prefix="/break-glass/acknowledge")


def _refusals() -> dict[str, str]:
    return {
        "acknowledgement_link_invalid": gettext(
            "This acknowledgement link is unknown or is not yours: sign in as the approver "
            "it was sent to."),
        "acknowledgement_closed": gettext(
            "This emergency is no longer waiting: it was acknowledged, cancelled or waited "
            "too long."),
        "not_an_approver": gettext("Only an approver acknowledges an emergency."),
        "request_changed": gettext(
            "The contract no longer allows this emergency: it stays closed."),
    }


def _message(error: ApprovalError) -> str:
    return _refusals().get(error.code) or ceremonies.error_body(error)["message"]


def _refusal(error: ApprovalError) -> ResponseReturnValue:
    return jsonify(error={"code": error.code, "message": _message(error)}), error.status


@blueprint.get("/<token>")
@requires("approver")
def show(token: str) -> ResponseReturnValue:
    try:
        info = breakglass.acknowledgement_page(core(), token, signed_in_principal().db_id)
    except ApprovalError as error:
        return render_template("error.html", status=error.status,
                               message=_message(error)), error.status
    return render_template("break_glass/acknowledge.html", e=info, token=token)


@blueprint.post("/<token>/options")
@requires("approver")
def options(token: str) -> ResponseReturnValue:
    """A challenge bound to this emergency's content and to this approver."""
    try:
        made = breakglass.acknowledgement_options(core(), token, signed_in_principal().db_id)
    except ApprovalError as error:
        return _refusal(error)
    return ceremonies.options_response(lambda: made)


@blueprint.post("/<token>/confirm")
@requires("approver")
def confirm(token: str) -> ResponseReturnValue:
    credential = ceremonies.credential_from_body(request.get_json(silent=True))
    if credential is None:
        return ceremonies.missing_credential()
    try:
        info = breakglass.acknowledge(core(), token, signed_in_principal().db_id, credential)
    except ApprovalError as error:
        return _refusal(error)
    flash(gettext("Emergency %(id)d acknowledged: %(technician)s's access to %(target)s is "
                  "open. The DPO will review it.", id=info.request_id,
                  technician=info.technician_name, target=info.target), "success")
    return jsonify(redirect=url_for("requests.show", request_id=info.request_id))

"""Grants: the ones in force now and the upcoming ones, the recently ended, and revoking
one with a reason.

Revoking is the approvals core's (``revoke_grant``): it takes effect at once for new
connections, and live sessions under the grant are closed by their proxy node within
2 seconds; it is an audit event with the reason.
"""

from __future__ import annotations

from flask import Blueprint, abort, flash, redirect, render_template, url_for
from flask.typing import ResponseReturnValue
from flask_babel import gettext, lazy_gettext
from flask_wtf import FlaskForm
from wtforms import StringField
from wtforms.validators import DataRequired, Length

from bastion.approvals import LIVE_STATES, ApprovalError, list_grants, revoke_grant
from bastion.models import utcnow

from ..access import requires
from ..identity import core, signed_in_principal
from .requests import refusal_body

blueprint = Blueprint("grants", __name__, url_prefix="/grants")

READERS = ("approver", "admin", "dpo")
REVOKERS = ("approver", "admin")
RECENT = 20


class RevokeForm(FlaskForm):
    reason = StringField(lazy_gettext("Reason"), validators=[DataRequired(), Length(max=500)])


def revoke_form(grant_id: int) -> RevokeForm:
    return RevokeForm(prefix=f"g{grant_id}")  # one form per row: field ids must differ


@blueprint.get("")
@requires(*READERS)
def index() -> ResponseReturnValue:
    now = utcnow()
    live = sorted(list_grants(core(), statuses=LIVE_STATES), key=lambda g: g.not_before)
    current = [g for g in live if g.not_before <= now]
    upcoming = [g for g in live if g.not_before > now]
    finished = list_grants(core(), statuses=("ended", "revoked"), limit=RECENT)
    return render_template("grants/index.html", current=current, upcoming=upcoming,
                           finished=finished, forms={g.id: revoke_form(g.id) for g in live})


@blueprint.post("/<int:grant_id>/revoke")
@requires(*REVOKERS)
def revoke(grant_id: int) -> ResponseReturnValue:
    form = revoke_form(grant_id)
    if not form.validate_on_submit():
        flash(gettext("Say why the grant is revoked."), "error")
        return redirect(url_for("grants.index"))
    try:
        result = revoke_grant(core(), grant_id, actor=signed_in_principal().actor(),
                              reason=form.reason.data)
    except ApprovalError as error:
        if error.code == "grant_not_found":
            abort(404)
        messages = {"grant_not_revocable": gettext("This grant has already ended or been revoked.")}
        flash(messages.get(error.code) or refusal_body(error)["message"], "error")
        return redirect(url_for("grants.index"))
    if result.sessions:
        flash(gettext("Grant %(id)d revoked: %(n)d live session(s) will be closed within 2 seconds.",
                      id=grant_id, n=len(result.sessions)), "success")
    else:
        flash(gettext("Grant %(id)d revoked.", id=grant_id), "success")
    return redirect(url_for("grants.index"))

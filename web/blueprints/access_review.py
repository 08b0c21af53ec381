"""Yearly access reviews in the console (admins and the DPO): campaigns due and overdue,
opening one for a vendor with a deadline, and confirming or revoking each technician's
access line by line. The rules are ``bastion.access_review``'s; every change is audited
there. A small block on the home page lists the campaigns that need attention.
"""

from __future__ import annotations

from collections.abc import Callable

from flask import Blueprint, abort, flash, g, redirect, render_template, request, url_for
from flask.typing import ResponseReturnValue
from flask_babel import gettext, lazy_gettext
from flask_wtf import FlaskForm
from sqlalchemy import select
from wtforms import DateField, SelectField, StringField
from wtforms.validators import DataRequired, Length, Optional

from bastion.access_review import (
    LineInfo,
    ReviewError,
    close_overdue_campaigns,
    confirm_line,
    get_campaign,
    list_campaigns,
    needing_attention,
    open_campaign,
    revoke_line,
)
from bastion.audit import Actor
from bastion.models import Vendor, utcnow

from ..access import requires
from ..forms import DateBounds, choices
from ..identity import core, current_identity, signed_in_principal

blueprint = Blueprint("access_review", __name__, url_prefix="/access-reviews")

REVIEWERS = ("admin", "dpo")


class OpenForm(FlaskForm):
    vendor = SelectField(lazy_gettext("Vendor"), validators=[DataRequired()])
    deadline = DateField(lazy_gettext("Deadline (last day to confirm)"),
                         validators=[DataRequired(), DateBounds()])
    note = StringField(lazy_gettext("Note"), validators=[Optional(), Length(max=500)])

    def __init__(self, *args: object, **kwargs: object) -> None:
        super().__init__(*args, **kwargs)  # type: ignore[arg-type]
        with core().db.session() as db:
            vendors = [(v.slug, v.name) for v in db.scalars(select(Vendor).order_by(Vendor.name))]
        self.vendor.choices = choices(vendors)


class ConfirmForm(FlaskForm):
    comment = StringField(lazy_gettext("Comment"), validators=[Optional(), Length(max=500)])


class RevokeForm(FlaskForm):
    reason = StringField(lazy_gettext("Reason"), validators=[DataRequired(), Length(max=500)])


# One form per line: field ids must differ on the page.
def confirm_form(line_id: int) -> ConfirmForm:
    return ConfirmForm(prefix=f"c{line_id}")


def revoke_form(line_id: int) -> RevokeForm:
    return RevokeForm(prefix=f"r{line_id}")


DECISIONS = {
    "pending": lazy_gettext("to confirm"),
    "confirmed": lazy_gettext("confirmed"),
    "revoked": lazy_gettext("revoked by the review"),
    "suspended": lazy_gettext("suspended"),
}
DECISION_TONES = {"confirmed": "allowed", "revoked": "denied", "suspended": "denied"}
STATES = {
    "open": lazy_gettext("open"),
    "overdue": lazy_gettext("overdue"),
    "closed": lazy_gettext("closed"),
}

ERRORS = {
    "vendor_unknown": lazy_gettext("This vendor is unknown."),
    "deadline_past": lazy_gettext("The deadline is already past."),
    "already_open": lazy_gettext("A campaign of this vendor is still open: finish it first."),
    "no_contract": lazy_gettext("This vendor has no current contract."),
    "contract_unreadable": lazy_gettext("This vendor's contract cannot be read."),
    "nothing_to_review": lazy_gettext("The contract allows no access to a target of the "
                                      "inventory: nothing to review."),
    "line_already_decided": lazy_gettext("This line has already been decided."),
    "reason_required": lazy_gettext("Say why the access is revoked."),
}


def _message(error: ReviewError) -> str:
    return str(ERRORS.get(error.code, error.message))


@blueprint.before_app_request
def attention_for_home() -> None:
    """For the home page's block: computed before the view (which renders inside its own
    transaction: on SQLite a second one opened while rendering would wait for it)."""
    if request.endpoint != "home.index":
        return
    principal = current_identity().principal
    if principal is None or principal.kind != "staff" or not principal.has_role(*REVIEWERS):
        return
    g.access_review_attention = needing_attention(core())


@blueprint.get("")
@requires(*REVIEWERS)
def index() -> ResponseReturnValue:
    return _index(OpenForm())


def _index(form: OpenForm, status: int = 200) -> ResponseReturnValue:
    now = utcnow()
    campaigns = list_campaigns(core())
    attention = needing_attention(core(), now)
    closed = [c for c in campaigns if c.status == "closed"]
    return render_template("access_review/index.html", form=form, attention=attention,
                           closed=closed, moment=now, decisions=DECISIONS,
                           tones=DECISION_TONES, states=STATES, closer=FlaskForm()), status


@blueprint.post("")
@requires(*REVIEWERS)
def open_() -> ResponseReturnValue:
    form = OpenForm()
    if not form.validate_on_submit():
        return _index(form, 400)
    try:
        info = open_campaign(core(), vendor=form.vendor.data, deadline=form.deadline.data,
                             actor=signed_in_principal().actor(), note=form.note.data)
    except ReviewError as error:
        flash(_message(error), "error")
        return _index(form, 400)
    flash(gettext("Access review %(id)d opened: %(n)d access(es) to confirm.", id=info.id,
                  n=info.total), "success")
    return redirect(url_for("access_review.show", campaign_id=info.id))


@blueprint.get("/<int:campaign_id>")
@requires(*REVIEWERS)
def show(campaign_id: int) -> ResponseReturnValue:
    try:
        detail = get_campaign(core(), campaign_id)
    except ReviewError:
        abort(404)
    forms = {line.id: (confirm_form(line.id), revoke_form(line.id)) for line in detail.lines}
    return render_template("access_review/show.html", detail=detail, c=detail.campaign,
                           forms=forms, moment=utcnow(), decisions=DECISIONS, tones=DECISION_TONES,
                           states=STATES)


@blueprint.post("/lines/<int:line_id>/confirm")
@requires(*REVIEWERS)
def confirm(line_id: int) -> ResponseReturnValue:
    form = confirm_form(line_id)
    if not form.validate_on_submit():
        abort(400)
    return _decide(line_id, lambda actor: confirm_line(core(), line_id, actor=actor,
                                                       comment=form.comment.data))


@blueprint.post("/lines/<int:line_id>/revoke")
@requires(*REVIEWERS)
def revoke(line_id: int) -> ResponseReturnValue:
    form = revoke_form(line_id)
    if not form.validate_on_submit():
        flash(gettext("Say why the access is revoked."), "error")
        return redirect(request.referrer or url_for("access_review.index"))
    return _decide(line_id, lambda actor: revoke_line(core(), line_id, actor=actor,
                                                      reason=form.reason.data))


def _decide(line_id: int, act: Callable[[Actor], LineInfo]) -> ResponseReturnValue:
    try:
        line = act(signed_in_principal().actor())
    except ReviewError as error:
        if error.code == "line_not_found":
            abort(404)
        flash(_message(error), "error")
        return redirect(request.referrer or url_for("access_review.index"))
    if line.decision == "confirmed":
        flash(gettext("%(who)s's access to %(where)s confirmed.", who=line.technician_name,
                      where=f"{line.account}@{line.target}"), "success")
    else:
        flash(gettext("%(who)s's access to %(where)s revoked.", who=line.technician_name,
                      where=f"{line.account}@{line.target}"), "success")
    return redirect(url_for("access_review.show", campaign_id=line.campaign_id,
                            _anchor=f"line-{line.id}"))


@blueprint.post("/close-overdue")
@requires(*REVIEWERS)
def close_overdue() -> ResponseReturnValue:
    """Apply the suspensions now rather than at the server's next housekeeping run."""
    form = FlaskForm()
    if not form.validate_on_submit():
        abort(400)
    report = close_overdue_campaigns(core(), actor=signed_in_principal().actor())
    flash(gettext("%(c)d campaign(s) closed, %(n)d access(es) suspended.",
                  c=len(report.campaigns), n=len(report.suspended)), "success")
    return redirect(url_for("access_review.index"))

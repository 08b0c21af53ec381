"""Declaring an emergency access from the console, for a technician who cannot declare it
over SSH themself (an approver or an admin on the phone with them). The access opens at
once; approvers and the DPO are told; the DPO's review is opened (bastion.breakglass).
Whoever declared is told who actually heard of it, as the technician is over SSH."""

from __future__ import annotations

from typing import Any

from flask import Blueprint, flash, redirect, render_template, url_for
from flask.typing import ResponseReturnValue
from flask_babel import gettext, lazy_gettext
from flask_wtf import FlaskForm
from sqlalchemy import select
from wtforms import SelectField, StringField, TextAreaField
from wtforms.validators import DataRequired, Length, Optional

from bastion import breakglass
from bastion.breakglass.channels import Delivery, Told, deliver_declared
from bastion.models import Target, Technician, Vendor

from ..access import requires
from ..forms import choices
from ..i18n import refusal_text, when
from ..identity import core, signed_in_principal

blueprint = Blueprint("break_glass", __name__, url_prefix="/break-glass")


class DeclareForm(FlaskForm):
    technician = SelectField(lazy_gettext("Technician"), validators=[DataRequired()])
    target = SelectField(lazy_gettext("Target"), validators=[DataRequired()])
    account = StringField(lazy_gettext("Account (optional)"),
                          validators=[Optional(), Length(max=64)],
                          description=lazy_gettext("Only when the contract allows several "
                                                   "accounts on the target."))
    justification = TextAreaField(
        lazy_gettext("Justification"), validators=[DataRequired(), Length(max=2000)],
        description=lazy_gettext("What is broken, why it cannot wait for an approval. The DPO "
                                 "reviews every emergency access."))
    ticket = StringField(lazy_gettext("Ticket (optional)"), validators=[Optional(), Length(max=100)])

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        with core().db.session() as db:
            people = db.execute(select(Technician.ident, Technician.full_name, Vendor.name)
                                .join(Vendor, Vendor.id == Technician.vendor_id)
                                .where(Technician.active.is_(True))
                                .order_by(Vendor.name, Technician.full_name)).all()
            targets = db.scalars(select(Target.name).where(Target.enabled.is_(True))
                                 .order_by(Target.name)).all()
        self.technician.choices = choices([("", "")] + [
            (ident, f"{name} ({ident}), {vendor}") for ident, name, vendor in people])
        self.target.choices = choices([("", "")] + [(name, name) for name in targets])


@blueprint.get("/declare")
@requires("approver", "admin")
def declare_form() -> ResponseReturnValue:
    return render_template("break_glass/declare.html", form=DeclareForm())


@blueprint.post("/declare")
@requires("approver", "admin")
def declare() -> ResponseReturnValue:
    form = DeclareForm()
    if not form.validate():
        return render_template("break_glass/declare.html", form=form), 400
    try:
        access = breakglass.declare_break_glass(
            core(), technician=form.technician.data or "", target=form.target.data or "",
            account=(form.account.data or "").strip() or None,
            justification=form.justification.data or "", ticket=form.ticket.data,
            declared_by_staff=signed_in_principal().db_id, source="console")
    except breakglass.BreakGlassError as refusal:
        flash(refusal_text(refusal), "error")
        return render_template("break_glass/declare.html", form=form), refusal.status
    if isinstance(access, breakglass.AcknowledgementAsked):
        flash(gettext("Emergency %(id)d declared: the target holds health data, so it opens "
                      "once an on-call approver (%(names)s) acknowledges it, before %(end)s.",
                      id=access.request_id, names=", ".join(access.on_call),
                      end=when(access.expires_at)), "success")
        return redirect(url_for("home.index"))
    opened = gettext("Emergency access open for %(technician)s on %(target)s until %(end)s.",
                     technician=access.grant.technician, target=access.grant.target,
                     end=when(access.not_after))
    told, everyone = told_line(deliver_declared(core(), access.request_id))
    flash(f"{opened} {told}", "success" if everyone else "error")
    return redirect(url_for("home.index"))


def _listed(deliveries: list[Delivery]) -> str:
    parts = []
    for delivery in deliveries:
        what = (gettext("e-mail to %(address)s", address=delivery.recipient)
                if delivery.channel == "email"
                else gettext("webhook %(host)s", host=delivery.recipient))
        problem = gettext("being sent") if delivery.sending else delivery.problem
        parts.append(f"{what} ({problem})" if problem else what)
    return ", ".join(parts)


def told_line(told: Told) -> tuple[str, bool]:
    """Who heard of the emergency, only the truth (as bastion.breakglass.channels.notice
    says it over SSH), and whether every notification went out."""
    if told.delivered and not told.not_delivered:
        return gettext("Told: %(who)s. The DPO will review it.",
                       who=_listed(told.delivered)), True
    if told.delivered:
        return gettext("Told: %(who)s; NOT delivered yet: %(missing)s.",
                       who=_listed(told.delivered), missing=_listed(told.not_delivered)), False
    if told.not_delivered:
        return gettext("NOBODY could be told yet (%(missing)s): call the approvers and the DPO "
                       "yourself now.", missing=_listed(told.not_delivered)), False
    if not told.channels_configured:
        return gettext("NOBODY was told: no notification channel is configured ([smtp] host, "
                       "[webhook] url). Call the approvers and the DPO yourself now."), False
    return gettext("NOBODY was told: no approver or DPO has an e-mail address and no webhook "
                   "is set. Call them yourself now."), False

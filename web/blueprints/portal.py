"""The vendor pages: a technician's own requests (file, follow, cancel) and grants
(certificate download). Another technician's request or grant is a 404, exactly as one
that does not exist."""

from __future__ import annotations

from datetime import datetime, timedelta
from urllib.parse import urlsplit
from zoneinfo import ZoneInfo

from flask import Blueprint, Response, abort, flash, redirect, render_template, url_for
from flask.typing import ResponseReturnValue
from flask_babel import get_timezone, gettext, lazy_gettext
from flask_wtf import FlaskForm
from sqlalchemy import select
from wtforms import DateTimeLocalField, SelectField, StringField, TextAreaField
from wtforms.validators import DataRequired, Length, Optional

from bastion.approvals import (
    LIVE_STATES,
    ApprovalError,
    GrantInfo,
    OutOfContract,
    RequestInfo,
    cancel_request,
    certificate_of,
    file_request,
    get_grant,
    get_request,
    list_grants,
    list_requests,
)
from bastion.contracts.engine import matching_rules
from bastion.contracts.repository import ContractStoreError, current_contract_for_technician, target_facts
from bastion.models import Target, utcnow

from ..access import requires
from ..forms import ActionForm, CheckboxesField, DateBounds, choices
from ..i18n import refusal_text
from ..identity import Principal, core, signed_in_principal

blueprint = Blueprint("portal", __name__)

CHANNELS = ("shell", "exec", "sftp", "forward")
LOCAL_FORMAT = "%Y-%m-%dT%H:%M"


class RequestForm(FlaskForm):
    place = SelectField(lazy_gettext("Target and account"), validators=[DataRequired()])
    window_start = DateTimeLocalField(lazy_gettext("From"), format=LOCAL_FORMAT,
                                      validators=[DataRequired(), DateBounds()])
    window_end = DateTimeLocalField(lazy_gettext("Until"), format=LOCAL_FORMAT,
                                    validators=[DataRequired(), DateBounds()])
    channels = CheckboxesField(lazy_gettext("Channels"), validators=[DataRequired()],
                               choices=choices((c, c) for c in CHANNELS))
    reason = TextAreaField(lazy_gettext("Reason"), validators=[DataRequired(), Length(max=2000)])
    ticket = StringField(lazy_gettext("Ticket"), validators=[Optional(), Length(max=100)])


def allowed_places(ident: str) -> list[tuple[str, str]]:
    """(target, account) pairs the technician's current contract names, enabled targets only."""
    with core().db.session() as db:
        try:
            found = current_contract_for_technician(db, ident)
        except ContractStoreError:
            return []
        if found is None:
            return []
        contract = found[1]
        places = []
        for target in db.scalars(select(Target).where(Target.enabled.is_(True)).order_by(Target.name)):
            facts = target_facts(target)
            accounts = {a for rule in matching_rules(contract, facts) for a in rule.accounts}
            places += [(target.name, a) for a in sorted(accounts & set(facts.accounts))]
        return places


def _zone() -> ZoneInfo:
    return ZoneInfo(str(get_timezone()))


def _to_utc(local: datetime) -> datetime:
    return local.replace(tzinfo=_zone()).astimezone(ZoneInfo("UTC"))


def _new_form(principal: Principal) -> RequestForm:
    form = RequestForm()
    form.place.choices = choices((f"{t}|{a}", f"{t} / {a}") for t, a in allowed_places(principal.username))
    if not form.is_submitted():
        start = (utcnow() + timedelta(minutes=5)).astimezone(_zone()).replace(second=0, microsecond=0)
        form.window_start.data, form.window_end.data = start.replace(tzinfo=None), \
            (start + timedelta(hours=2)).replace(tzinfo=None)
        form.channels.data = ["shell"]
    return form


def _render(form: RequestForm, principal: Principal, status: int = 200,
            refusal: OutOfContract | None = None) -> ResponseReturnValue:
    rows = list_requests(core(), technician=principal.username, limit=100)
    return render_template("portal/requests.html", form=form, rows=rows, refusal=refusal,
                           action_form=ActionForm()), status


@blueprint.get("/portal/requests")
@requires("technician")
def my_requests() -> ResponseReturnValue:
    principal = signed_in_principal()
    return _render(_new_form(principal), principal)


@blueprint.post("/portal/requests")
@requires("technician")
def file() -> ResponseReturnValue:
    principal = signed_in_principal()
    form = _new_form(principal)
    if not form.validate_on_submit():
        return _render(form, principal, 400)
    target, _, account = form.place.data.partition("|")
    try:
        info = file_request(core(), technician=principal.username, target=target, account=account,
                            window_start=_to_utc(form.window_start.data),
                            window_end=_to_utc(form.window_end.data), channels=form.channels.data,
                            reason=form.reason.data, ticket=form.ticket.data or None,
                            source="portal", actor=principal.actor("technician"))
    except OutOfContract as refusal:
        flash(gettext("The request is outside your contract and was refused."), "error")
        return _render(form, principal, 422, refusal)
    except ApprovalError as error:
        flash(refusal_text(error), "error")
        return _render(form, principal, 400)
    flash(gettext("Request %(id)d filed: it waits for the hospital's approval.", id=info.id), "success")
    return redirect(url_for("portal.my_requests"))


def own_request(principal: Principal, request_id: int) -> RequestInfo:
    try:
        info = get_request(core(), request_id)
    except ApprovalError:
        abort(404)
    if info.technician != principal.username:
        abort(404)  # as if it did not exist: no enumeration across technicians
    return info


def own_grant(principal: Principal, grant_id: int) -> GrantInfo:
    try:
        info = get_grant(core(), grant_id)
    except ApprovalError:
        abort(404)
    if info.technician != principal.username:
        abort(404)
    return info


@blueprint.get("/portal/requests/<int:request_id>")
@requires("technician")
def show_request(request_id: int) -> ResponseReturnValue:
    info = own_request(signed_in_principal(), request_id)
    return render_template("portal/request.html", r=info, action_form=ActionForm())


@blueprint.post("/portal/requests/<int:request_id>/cancel")
@requires("technician")
def cancel(request_id: int) -> ResponseReturnValue:
    principal = signed_in_principal()
    own_request(principal, request_id)
    if not ActionForm().validate_on_submit():
        abort(400)
    try:
        cancel_request(core(), request_id, actor=principal.actor("technician"),
                       reason="cancelled by the technician on the vendor pages")
        flash(gettext("Request %(id)d cancelled.", id=request_id), "success")
    except ApprovalError as error:
        flash(refusal_text(error), "error")
    return redirect(url_for("portal.my_requests"))


def ssh_line(principal: Principal, grant: GrantInfo) -> str:
    host = urlsplit(core().settings.web.public_url).hostname or "bastion"
    user = f"{principal.username}+{grant.target}" + (f"+{grant.account}" if grant.account else "")
    return (f"ssh -p {core().settings.ssh.listen_port} -o CertificateFile=grant-{grant.id}-cert.pub "
            f"{user}@{host}")


@blueprint.get("/portal/grants")
@requires("technician")
def my_grants() -> ResponseReturnValue:
    principal = signed_in_principal()
    now = utcnow()
    grants = [g for g in list_grants(core(), technician=principal.username, statuses=LIVE_STATES)
              if g.not_after > now]
    return render_template("portal/grants.html",
                           grants=[(g, ssh_line(principal, g)) for g in grants])


@blueprint.get("/portal/grants/<int:grant_id>/certificate")
@requires("technician")
def certificate(grant_id: int) -> ResponseReturnValue:
    principal = signed_in_principal()
    grant = own_grant(principal, grant_id)
    text = certificate_of(core(), grant_id) if grant.status in LIVE_STATES and \
        grant.not_after > utcnow() else None
    if text is None:
        flash(gettext("No certificate can be downloaded for this grant (ended, revoked, or "
                      "not issued yet: ask the hospital IT department)."), "error")
        return redirect(url_for("portal.my_grants"))
    bastion = core()
    with bastion.db.session() as db:
        bastion.audit.append(db, action="grant.certificate_downloaded", outcome="ok",
                             actor=principal.actor("technician"), technician=grant.technician,
                             target=grant.target, account=grant.account, grant_id=grant.id,
                             request_id=grant.request_id, details={"via": "portal"})
    return Response(text.strip() + "\n", mimetype="text/plain", headers={
        "Content-Disposition": f'attachment; filename="grant-{grant_id}-cert.pub"'})

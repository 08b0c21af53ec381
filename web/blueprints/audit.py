"""The audit log browser (filters, newest first, pages by id) and the chain check."""

from __future__ import annotations

from datetime import datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from flask import Blueprint, current_app, render_template, request
from flask.typing import ResponseReturnValue
from flask_babel import get_timezone, lazy_gettext
from flask_wtf import FlaskForm
from sqlalchemy import Select, select
from wtforms import DateField, SelectField, StringField
from wtforms.validators import Length, Optional

from bastion.audit.log import OUTCOMES
from bastion.audit.service import verify as verify_audit_log
from bastion.models import AuditEvent

from ..access import requires
from ..forms import DateBounds, choices
from ..identity import core, signed_in_principal
from ..trace_reading import audit_page_details

blueprint = Blueprint("audit", __name__, url_prefix="/audit")

class AuditFilterForm(FlaskForm):
    class Meta:
        csrf = False  # a GET search form: it changes nothing

    start = DateField(lazy_gettext("From"), validators=[Optional(), DateBounds()])
    end = DateField(lazy_gettext("To (included)"), validators=[Optional(), DateBounds()])
    actor = StringField(lazy_gettext("Actor"), validators=[Optional(), Length(max=100)])
    action = StringField(lazy_gettext("Action"), validators=[Optional(), Length(max=64)],
                         description=lazy_gettext("An action or its beginning, e.g. auth."))
    technician = StringField(lazy_gettext("Technician"), validators=[Optional(), Length(max=64)])
    target = StringField(lazy_gettext("Target"), validators=[Optional(), Length(max=100)])
    outcome = SelectField(lazy_gettext("Outcome"), validators=[Optional()])

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.outcome.choices = choices([("", lazy_gettext("Any")), *[(o, o) for o in OUTCOMES]])


def _day_start(day: Any, zone: ZoneInfo) -> datetime:
    """Midnight of ``day`` in the viewer's zone: 'from 3 March' means their 3 March."""
    return datetime.combine(day, time.min, tzinfo=zone)


def _escape_like(text: str) -> str:
    return text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")


def filtered(form: AuditFilterForm) -> Select[tuple[AuditEvent]]:
    query = select(AuditEvent)
    zone = ZoneInfo(str(get_timezone()))
    if form.start.data:
        query = query.where(AuditEvent.at >= _day_start(form.start.data, zone))
    if form.end.data:
        query = query.where(AuditEvent.at < _day_start(form.end.data + timedelta(days=1), zone))
    if form.actor.data:
        query = query.where(AuditEvent.actor.ilike(f"%{_escape_like(form.actor.data.strip())}%",
                                                   escape="\\"))
    if form.action.data:
        query = query.where(AuditEvent.action.like(f"{_escape_like(form.action.data.strip())}%",
                                                   escape="\\"))
    if form.technician.data:
        query = query.where(AuditEvent.technician == form.technician.data.strip())
    if form.target.data:
        query = query.where(AuditEvent.target == form.target.data.strip())
    if form.outcome.data:
        query = query.where(AuditEvent.outcome == form.outcome.data)
    return query


@blueprint.get("")
@requires("dpo", "admin")
def events() -> ResponseReturnValue:
    form = AuditFilterForm(request.args)
    page_size = current_app.config["AUDIT_PAGE_SIZE"]
    before = request.args.get("before", type=int)
    with core().db.session() as db:
        rows: list[AuditEvent] = []
        if form.validate():
            query = filtered(form)
            if before:
                query = query.where(AuditEvent.id < before)
            rows = list(db.scalars(query.order_by(AuditEvent.id.desc()).limit(page_size + 1)))
        more = len(rows) > page_size
        rows = rows[:page_size]
        actions = list(db.scalars(select(AuditEvent.action).distinct().order_by(AuditEvent.action)))
        details = {e.id: audit_page_details(db, e.details) for e in rows}
    older = {**request.args.to_dict(), "before": rows[-1].id} if more and rows else None
    return render_template("audit/events.html", form=form, events=rows, older=older,
                           details=details,
                           actions=actions, status=200 if not form.errors else 400)


@blueprint.get("/integrity")
@requires("dpo", "admin")
def integrity() -> ResponseReturnValue:
    # The same verification as `bastion audit verify`: the hash chain from its genesis or
    # last purge anchor, and every signed checkpoint; the check itself is audited.
    report = verify_audit_log(core(), actor=signed_in_principal().actor())
    return render_template("audit/integrity.html", report=report)


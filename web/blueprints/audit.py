"""The audit log browser (filters, newest first, pages by id; each action as a sentence and
its details as labelled fields) and the chain check, explained."""

from __future__ import annotations

from datetime import datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from flask import Blueprint, current_app, render_template, request
from flask.typing import ResponseReturnValue
from flask_babel import get_timezone, lazy_gettext
from flask_wtf import FlaskForm
from sqlalchemy import Select, select
from sqlalchemy.orm import Session
from wtforms import DateField, SelectField, StringField
from wtforms.validators import Length, Optional

from bastion.audit.log import OUTCOMES
from bastion.audit.service import verify as verify_audit_log
from bastion.models import AuditEvent

from ..access import requires
from ..audit_actions import sentence
from ..audit_details import Field, fields
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


@blueprint.app_template_filter("audit_sentence")
def audit_sentence(action: str) -> str | None:
    return sentence(action)


@blueprint.app_template_filter("audit_fields")
def audit_fields(details: dict[str, Any] | None) -> list[Field]:
    return fields(details)


def _cursor(name: str) -> int | None:
    """An event number from the query, or None (the newest page) for anything else: a
    hand-edited link is not worth an error page, nor a number the database cannot hold."""
    value = request.args.get(name, type=int)
    return value if value is not None and 0 < value < 2**63 else None


@blueprint.get("")
@requires("dpo", "admin")
def events() -> ResponseReturnValue:
    """Newest first, a page at a time, by id (keyset): ``before=N`` is the page of events
    older than N, ``after=N`` the page newer than N. A page's events stay the same
    whatever is written meanwhile, and the filters ride along in every link."""
    form = AuditFilterForm(request.args)
    page_size = current_app.config["AUDIT_PAGE_SIZE"]
    before, after = _cursor("before"), _cursor("after")
    newer = older = False
    with core().db.session() as db:
        rows: list[AuditEvent] = []
        if form.validate():
            query = filtered(form)
            if after is not None and before is None:
                rows = list(db.scalars(query.where(AuditEvent.id > after)
                                       .order_by(AuditEvent.id).limit(page_size + 1)))
                newer = len(rows) > page_size
                rows = rows[:page_size][::-1]
                older = bool(rows) and _exists(db, query.where(AuditEvent.id < rows[-1].id))
            if not rows:
                # The page older than `before`, or else the newest page (also when nothing
                # is newer than `after` any more).
                if before is not None:
                    query = query.where(AuditEvent.id < before)
                rows = list(db.scalars(query.order_by(AuditEvent.id.desc()).limit(page_size + 1)))
                older = len(rows) > page_size
                rows = rows[:page_size]
                newer = bool(rows) and before is not None and _exists(
                    db, filtered(form).where(AuditEvent.id > rows[0].id))
        # What was run or touched is sealed at rest: opened here for the DPO only.
        details = {e.id: audit_page_details(db, e.details) for e in rows}
    filters = {k: v for k, v in request.args.to_dict().items() if k not in ("before", "after")}
    links = {"older": {**filters, "before": rows[-1].id} if older else None,
             "newer": {**filters, "after": rows[0].id} if newer else None,
             "newest": filters if newer else None}
    return render_template("audit/events.html", form=form, events=rows, links=links,
                           details=details,
                           status=200 if not form.errors else 400)


def _exists(db: Session, query: Select[tuple[AuditEvent]]) -> bool:
    return db.scalar(query.with_only_columns(AuditEvent.id).limit(1)) is not None


@blueprint.get("/integrity")
@requires("dpo", "admin")
def integrity() -> ResponseReturnValue:
    # The same verification as `bastion audit verify`: the hash chain from its genesis or
    # last purge anchor, and every signed checkpoint; the check itself is audited.
    report = verify_audit_log(core(), actor=signed_in_principal().actor())
    return render_template("audit/integrity.html", report=report)


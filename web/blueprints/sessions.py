"""Sessions history (filters by vendor, technician, target, dates, state and flags), one
session's page (its recordings, commands and policy events), and a search across every
session's commands. Read-only: the DPO's as much as the approvers' and admins'.

Commands come from the index the recording service builds when a recording closes
(``recorded_commands``); policy events from the audit log. Neither reads a recording:
replaying one is ``web.blueprints.replay``, audited.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import timedelta
from typing import Any
from zoneinfo import ZoneInfo

from flask import Blueprint, render_template, request
from flask.typing import ResponseReturnValue
from flask_babel import get_timezone, lazy_gettext
from flask_wtf import FlaskForm
from sqlalchemy import Select, false, select
from sqlalchemy.orm import Session, joinedload
from wtforms import DateField, SelectField, StringField
from wtforms.validators import Length, Optional

from bastion.models import (
    AccessRequest,
    AuditEvent,
    Grant,
    RecordedCommand,
    Recording,
    SshSession,
    Target,
    Technician,
    Vendor,
)
from bastion.models.sessions import SESSION_STATES

from ..access import requires
from ..forms import DateBounds, choices
from ..identity import core
from ..lookup import get_or_404
from ..statuses import status_name
from ..trace_reading import command_text, event_details, may_read
from .audit import _day_start

blueprint = Blueprint("sessions", __name__, url_prefix="/sessions")

READERS = ("approver", "admin", "dpo")
PAGE = 50

FLAGS = {
    "flagged": lazy_gettext("a command flagged by a contract rule"),
    "refused": lazy_gettext("something refused during the session"),
    "emergency": lazy_gettext("emergency access (break-glass)"),
    "terminated": lazy_gettext("terminated by staff or revoked"),
}


class _Filters(FlaskForm):
    class Meta:
        csrf = False  # GET search forms: they change nothing

    start = DateField(lazy_gettext("From"), validators=[Optional(), DateBounds()])
    end = DateField(lazy_gettext("To (included)"), validators=[Optional(), DateBounds()])
    technician = StringField(lazy_gettext("Technician"), validators=[Optional(), Length(max=64)])
    target = StringField(lazy_gettext("Target"), validators=[Optional(), Length(max=100)])


class HistoryForm(_Filters):
    vendor = SelectField(lazy_gettext("Vendor"), validators=[Optional()])
    status = SelectField(lazy_gettext("State"), validators=[Optional()])
    flag = SelectField(lazy_gettext("Flag"), validators=[Optional()])

    def __init__(self, vendors: Iterable[tuple[str, str]], *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.vendor.choices = choices([("", lazy_gettext("Any")), *vendors])
        self.status.choices = choices([("", lazy_gettext("Any")),
                                       *[(s, status_name(s)) for s in SESSION_STATES]])
        self.flag.choices = choices([("", lazy_gettext("Any")), *FLAGS.items()])


class CommandSearchForm(_Filters):
    q = StringField(lazy_gettext("Command contains"), validators=[Optional(), Length(max=200)])
    kind = SelectField(lazy_gettext("Kind"), validators=[Optional()])

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.kind.choices = choices([("", lazy_gettext("Any")), ("shell", lazy_gettext("shell")),
                                     ("exec", lazy_gettext("exec")), ("sftp", lazy_gettext("SFTP"))])


def _common(query: Select[Any], form: _Filters, at: Any) -> Select[Any]:
    """Dates in the viewer's zone; technician and target by exact name."""
    zone = ZoneInfo(str(get_timezone()))
    if form.start.data:
        query = query.where(at >= _day_start(form.start.data, zone))
    if form.end.data:
        query = query.where(at < _day_start(form.end.data + timedelta(days=1), zone))
    if form.technician.data:
        query = query.where(Technician.ident == form.technician.data.strip())
    if form.target.data:
        query = query.where(Target.name == form.target.data.strip())
    return query


def _session_ids_with(*where: Any) -> Select[Any]:
    return select(AuditEvent.session_id).where(AuditEvent.session_id.is_not(None), *where)


def history_query(form: HistoryForm) -> Select[tuple[SshSession]]:
    query = (select(SshSession).join(Technician, Technician.id == SshSession.technician_id)
             .join(Vendor, Vendor.id == Technician.vendor_id)
             .join(Target, Target.id == SshSession.target_id))
    query = _common(query, form, SshSession.started_at)
    if form.vendor.data:
        query = query.where(Vendor.slug == form.vendor.data)
    if form.status.data:
        query = query.where(SshSession.status == form.status.data)
    flag = form.flag.data
    if flag == "flagged":
        query = query.where(SshSession.id.in_(_session_ids_with(AuditEvent.action == "command.flagged")))
    elif flag == "refused":
        query = query.where(SshSession.id.in_(_session_ids_with(AuditEvent.outcome == "denied")))
    elif flag == "emergency":
        query = query.where(SshSession.grant_id.in_(select(Grant.id).where(Grant.break_glass.is_(True))))
    elif flag == "terminated":
        query = query.where(SshSession.status == "terminated")
    return query


def flags_of(db: Session, sessions: list[SshSession]) -> dict[int, list[str]]:
    """The flags of each listed session, in two queries for the whole page."""
    ids = [row.id for row in sessions]
    flagged = set(db.scalars(_session_ids_with(AuditEvent.session_id.in_(ids),
                                               AuditEvent.action == "command.flagged")))
    refused = set(db.scalars(_session_ids_with(AuditEvent.session_id.in_(ids),
                                               AuditEvent.outcome == "denied")))
    grant_ids = [row.grant_id for row in sessions if row.grant_id is not None]
    emergency = set(db.scalars(select(Grant.id).where(Grant.id.in_(grant_ids),
                                                      Grant.break_glass.is_(True))))
    found: dict[int, list[str]] = {}
    for row in sessions:
        found[row.id] = [name for name, hit in (("flagged", row.id in flagged),
                                                ("refused", row.id in refused),
                                                ("emergency", row.grant_id in emergency),
                                                ("terminated", row.status == "terminated")) if hit]
    return found


def _with_people() -> tuple[Any, ...]:
    """The technician, vendor and target a listed session shows, loaded with the page
    rather than one query per row."""
    return (joinedload(SshSession.technician).joinedload(Technician.vendor),
            joinedload(SshSession.target))


def _older(rows: list[Any], more: bool) -> dict[str, Any] | None:
    return {**request.args.to_dict(), "before": rows[-1].id} if more and rows else None


@blueprint.get("")
@requires(*READERS)
def history() -> ResponseReturnValue:
    before = request.args.get("before", type=int)
    with core().db.session() as db:
        vendors = [(v.slug, v.name) for v in db.scalars(select(Vendor).order_by(Vendor.name))]
        form = HistoryForm(vendors, request.args)
        rows: list[SshSession] = []
        if form.validate():
            query = history_query(form)
            if before:
                query = query.where(SshSession.id < before)
            rows = list(db.scalars(query.options(*_with_people())
                                   .order_by(SshSession.id.desc()).limit(PAGE + 1)))
        more, rows = len(rows) > PAGE, rows[:PAGE]
        # Rendered inside the transaction: the template follows relationships.
        return render_template("sessions/history.html", form=form, sessions=rows,
                               flags=flags_of(db, rows), flag_names=FLAGS,
                               older=_older(rows, more)), 400 if form.errors else 200


@blueprint.get("/<int:session_id>")
@requires(*READERS)
def show(session_id: int) -> ResponseReturnValue:
    with core().db.session() as db:
        row = get_or_404(db, SshSession, session_id)
        grant = db.get(Grant, row.grant_id) if row.grant_id is not None else None
        access = db.get(AccessRequest, grant.request_id) if grant is not None else None
        recordings = list(db.scalars(select(Recording).where(Recording.session_id == row.id)
                                     .order_by(Recording.id)))
        commands = list(db.scalars(select(RecordedCommand).where(RecordedCommand.session_id == row.id)
                                   .order_by(RecordedCommand.at, RecordedCommand.id)))
        events = list(db.scalars(select(AuditEvent).where(AuditEvent.session_id == row.id)
                                 .order_by(AuditEvent.id)))
        # Sealed at rest: opened here, for this viewer (web.trace_reading).
        texts = {c.id: command_text(db, c, row) for c in commands}
        details = {e.id: event_details(db, e.details, row) for e in events}
        return render_template("sessions/show.html", s=row, grant=grant, access=access,
                               recordings=recordings, commands=commands, events=events,
                               texts=texts, details=details,
                               flags=flags_of(db, [row])[row.id], flag_names=FLAGS)


@blueprint.get("/commands")
@requires(*READERS)
def commands() -> ResponseReturnValue:
    """Every session's commands: shell lines, exec commands, SFTP operations."""
    form = CommandSearchForm(request.args)
    before = request.args.get("before", type=int)
    searched = any(request.args.get(name) for name in ("q", "kind", "technician", "target",
                                                       "start", "end"))
    with core().db.session() as db:
        rows: list[RecordedCommand] = []
        if searched and form.validate():
            query = (select(RecordedCommand)
                     .join(SshSession, SshSession.id == RecordedCommand.session_id)
                     .join(Technician, Technician.id == SshSession.technician_id)
                     .join(Target, Target.id == SshSession.target_id))
            query = _common(query, form, RecordedCommand.at)
            if form.q.data:
                # The text is sealed: its words' keyed hashes are searched (every word of
                # the query, as a word or a word's start: bastion.trace_sealing).
                terms = core().traces.query_terms(db, form.q.data)
                if terms is None:
                    query = query.where(false())
                for term in terms or ():
                    query = query.where(RecordedCommand.search_terms.like(f"% {term} %"))
            if form.kind.data:
                query = query.where(RecordedCommand.kind == form.kind.data)
            if before:
                query = query.where(RecordedCommand.id < before)
            rows = list(db.scalars(query.order_by(RecordedCommand.id.desc()).limit(PAGE + 1)))
        more, rows = len(rows) > PAGE, rows[:PAGE]
        sessions = {s.id: s for s in db.scalars(select(SshSession).options(*_with_people()).where(
            SshSession.id.in_({r.session_id for r in rows})))}
        older = _older(rows, more)
        # Sessions on health data this viewer may not read are left out (web.trace_reading).
        rows = [r for r in rows if may_read(sessions.get(r.session_id))]
        texts = {r.id: core().traces.command_text(db, r) for r in rows}
        return render_template("sessions/commands.html", form=form, commands=rows,
                               sessions=sessions, searched=searched, texts=texts,
                               older=older), 400 if form.errors else 200

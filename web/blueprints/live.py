"""Live sessions: who is connected where, since and until when; watching one as it happens;
terminating one with a reason.

Watching asks first for a purpose, as a replay does (``web/blueprints/replay.py``): it is
the reason of the ``recording.viewed`` event (purpose ``live``). Sessions on servers holding
health or INS data are watched by the DPO, or by approvers while the session is live;
never by admins (``bastion.replay_access``); a refusal is audited. The DPO watches but
does not terminate: their role is read-only.

Terminating only asks: it sets ``terminate_requested_*`` on the session row, and the proxy
node serving the session (whichever it is) closes it within 2 seconds and records why.
The request itself is an audit event. Watching reads the recording as the proxy writes it
(``web.live_feed``); each watcher's first read of each recording is audited as a
``recording.viewed`` with the purpose ``live`` and the watcher's reason (invariant 9).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from flask import Blueprint, abort, flash, jsonify, redirect, render_template, request, session, url_for
from flask.typing import ResponseReturnValue
from flask_babel import gettext, lazy_gettext
from flask_wtf import FlaskForm
from sqlalchemy import select
from wtforms import StringField
from wtforms.validators import DataRequired, Length

from bastion.models import AuditEvent, Grant, Recording, SshSession, utcnow
from bastion.recording import RecordingError, RecordingReader, RecordingService
from bastion.recording.catalog import session_audit_fields
from bastion.replay_access import replay_refusal
from bastion.sessions import request_termination

from ..access import requires
from ..identity import core, signed_in_principal
from ..live_feed import Feed, choose_recording, plain_reader, read_feed
from ..lookup import get_or_404
from ..player import with_player

blueprint = Blueprint("live", __name__, url_prefix="/sessions")

SUPERVISORS = ("approver", "admin")
WATCHERS = (*SUPERVISORS, "dpo")
PURPOSE_MIN, PURPOSE_MAX = 10, 300
# Commands the contract's rules caught: the proxy audits each as it happens, typed lines
# included, so the watcher sees them while the session is live.
RULE_ACTIONS = ("command.refused", "command.flagged")
# Recordings this browser session already read (so already audited), in the signed cookie.
WATCHED_KEY = "watched_recordings"
WATCHED_MAX = 50


class TerminateForm(FlaskForm):
    reason = StringField(lazy_gettext("Reason"), validators=[DataRequired(), Length(max=500)],
                         description=lazy_gettext("The technician is shown it when the session closes."))


def terminate_form(session_id: int) -> TerminateForm:
    # Prefixed: the list shows one form per session, each needs its own field ids.
    return TerminateForm(prefix=f"s{session_id}")


@dataclass(frozen=True)
class LiveRow:
    id: int
    technician: str
    technician_name: str
    vendor: str
    target: str
    account: str
    client_address: str | None
    node: str
    started_at: datetime
    until: datetime | None  # the grant's end: the proxy closes the session then
    terminate_requested_at: datetime | None
    status: str
    end_reason: str | None
    ended_at: datetime | None


def live_row(row: SshSession, grant: Grant | None) -> LiveRow:
    return LiveRow(row.id, row.technician.ident, row.technician.full_name,
                   row.technician.vendor.slug, row.target.name, row.account_name,
                   row.client_address, row.node, row.started_at,
                   grant.not_after if grant is not None else None, row.terminate_requested_at,
                   row.status, row.end_reason, row.ended_at)


def _rows(where: Any) -> list[LiveRow]:
    with core().db.session() as db:
        sessions = list(db.scalars(select(SshSession).where(where).order_by(SshSession.started_at)))
        grant_ids = {row.grant_id for row in sessions if row.grant_id is not None}
        grants = {g.id: g for g in db.scalars(select(Grant).where(Grant.id.in_(grant_ids)))}
        return [live_row(row, grants.get(row.grant_id or 0)) for row in sessions]


def _one(session_id: int) -> LiveRow:
    rows = _rows(SshSession.id == session_id)
    if not rows:
        abort(404)
    return rows[0]


@blueprint.get("/live")
@requires(*SUPERVISORS)
def index() -> ResponseReturnValue:
    rows = _rows(SshSession.status == "live")
    return render_template("live/index.html", sessions=rows,
                           forms={row.id: terminate_form(row.id) for row in rows}, now=utcnow())


def _rule_hits(session_id: int) -> list[AuditEvent]:
    with core().db.session() as db:
        hits = list(db.scalars(select(AuditEvent).where(AuditEvent.session_id == session_id,
                                                        AuditEvent.action.in_(RULE_ACTIONS))
                               .order_by(AuditEvent.id)))
        db.expunge_all()
        # Opened for the page only: detached rows, never written back.
        for hit in hits:
            hit.details = core().traces.open_details(db, hit.details)
        return hits


def _purpose() -> str | None:
    """The watcher's stated purpose, if long enough to say something."""
    text = " ".join(request.args.get("purpose", "").split())
    return text if PURPOSE_MIN <= len(text) <= PURPOSE_MAX else None


def _refused_line() -> str:
    return gettext("This session reaches health or INS data: it is watched by the DPO, or "
                   "by an approver while it is live. Ask the DPO.")


def _refusal(session_id: int) -> str | None:
    """Least privilege on health-data sessions, as for replays; a refusal is audited."""
    principal = signed_in_principal()
    with core().db.session() as db:
        row = get_or_404(db, SshSession, session_id)
        refusal = replay_refusal(principal.roles, row.target.data_categories or (),
                                 live=row.status == "live")
        if refusal is not None:
            core().audit.append(db, action="recording.view_refused", outcome="denied",
                                actor=principal.actor(), reasons=[refusal],
                                details={"purpose": "live"}, **session_audit_fields(row))
    return refusal


@blueprint.get("/<int:session_id>/watch")
@requires(*WATCHERS)
def watch(session_id: int) -> ResponseReturnValue:
    row = _one(session_id)
    if _refusal(session_id) is not None:
        return render_template("error.html", status=403, message=_refused_line()), 403
    purpose = _purpose()
    if purpose is None:
        # Least privilege on the traces: say why before seeing (and the audit keeps it).
        given = "purpose" in request.args
        return render_template("live/purpose.html", s=row,
                               given=request.args.get("purpose", "")[:PURPOSE_MAX],
                               minimum=PURPOSE_MIN), 400 if given else 200
    return with_player(render_template("live/watch.html", s=row, form=terminate_form(row.id),
                                       hits=_rule_hits(row.id), now=utcnow(), purpose=purpose))


def _reader_for(recording: Recording, purpose: str) -> RecordingReader:
    service = RecordingService(core())
    watched: list[int] = list(session.get(WATCHED_KEY) or [])
    if recording.id in watched:
        return plain_reader(service, recording)
    # First look at this recording from this browser session: audited before reading.
    reader = service.open_reader(recording.id, signed_in_principal().actor(), purpose="live",
                                 reason=purpose)
    session[WATCHED_KEY] = [*watched, recording.id][-WATCHED_MAX:]
    return reader


@blueprint.get("/<int:session_id>/feed")
@requires(*WATCHERS)
def feed(session_id: int) -> ResponseReturnValue:
    """What the live page polls: the events after ``after`` of the recording being watched
    (``recording``; chosen here on the first poll), with the watcher's ``purpose``."""
    if _refusal(session_id) is not None:
        return jsonify(error={"code": "watch_not_allowed", "message": _refused_line()}), 403
    purpose = _purpose()
    if purpose is None:
        return jsonify(error={"code": "purpose_missing", "message": gettext(
            "Say why you watch this session (%(n)d characters at least): it is recorded in "
            "the audit log.", n=PURPOSE_MIN)}), 400
    wanted = request.args.get("recording", type=int)
    after = max(0, request.args.get("after", 0, type=int))
    known_size = request.args.get("size", type=int)
    # Loaded, then the transaction ends: the audited read below opens its own.
    with core().db.session() as db:
        row = get_or_404(db, SshSession, session_id)
        recording = choose_recording(db, row, wanted)
    if recording is None:
        if wanted is not None:
            abort(404)
        return jsonify(Feed(None, row.status == "live", False, row.end_reason).to_json())
    if recording.id != wanted:
        after, known_size = 0, None  # a recording the page has not seen: from its start
    try:
        answer = read_feed(RecordingService(core()), row, recording,
                           lambda: _reader_for(recording, purpose), after=after, known_size=known_size)
    except RecordingError as error:
        return jsonify(error={"code": "recording_unreadable", "message": gettext(
            "The recording cannot be read: %(problem)s", problem=str(error))}), 409
    return jsonify(answer.to_json())


@blueprint.post("/<int:session_id>/terminate")
@requires(*SUPERVISORS)
def terminate(session_id: int) -> ResponseReturnValue:
    form = terminate_form(session_id)
    me = signed_in_principal()
    bastion = core()
    with bastion.db.session() as db:
        row = get_or_404(db, SshSession, session_id)
        if not form.validate_on_submit():
            flash(gettext("Say why the session is terminated."), "error")
        elif row.status != "live":
            flash(gettext("Session %(id)d has already ended.", id=session_id), "info")
        elif row.terminate_requested_at is not None:
            flash(gettext("Session %(id)d is already being closed.", id=session_id), "info")
        else:
            request_termination(db, bastion.audit, row, actor=me.actor(),
                                reason=form.reason.data.strip(), via="console")
            flash(gettext("Session %(id)d will be closed within 2 seconds.", id=session_id), "success")
    # Back to the page watched, with the purpose already stated for it (not asked again).
    purpose = _purpose()
    return redirect(url_for("live.watch", session_id=session_id, purpose=purpose)
                    if purpose else url_for("live.watch", session_id=session_id))

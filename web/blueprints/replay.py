"""Replaying a recording in the browser: the asciinema player, and beside it a timeline of
commands, SFTP operations and policy events where a click seeks the player there.

The player loads an asciicast export of the recording from ``/recordings/<id>/cast``.
That read is audited before any byte is read (``RecordingService.open_reader``: a
``recording.viewed`` event with the viewer and the purpose ``replay``, invariant 9), and
only verified data is sent: a recording that fails verification is refused with the
problem its check names. Typed input is left out of the export (it may hold a password).
Sessions on servers holding health or INS data are replayed by the DPO only (approvers
while the session is live): ``bastion.replay_access``; a refusal is audited.
"""

from __future__ import annotations

import io
import math

from flask import Blueprint, Response, jsonify, render_template, request
from flask.typing import ResponseReturnValue
from flask_babel import gettext
from sqlalchemy.orm import Session

from bastion.models import Recording, SshSession
from bastion.recording import (
    RecordingCorrupted,
    RecordingNotFound,
    RecordingService,
    RecordingTruncated,
)
from bastion.recording.catalog import session_audit_fields
from bastion.recording.export import export_recording
from bastion.replay_access import replay_refusal

from ..access import requires
from ..identity import core, signed_in_principal
from ..lookup import get_or_404
from ..player import with_player
from ..timeline import build_timeline

blueprint = Blueprint("replay", __name__, url_prefix="/recordings")

READERS = ("approver", "admin", "dpo")
PURPOSE_MIN, PURPOSE_MAX = 10, 300


@blueprint.get("/<int:recording_id>")
@requires(*READERS)
def show(recording_id: int) -> ResponseReturnValue:
    start = request.args.get("t", 0.0, type=float)
    start = start if math.isfinite(start) and start > 0 else 0.0  # "nan", "inf": from the start
    with core().db.session() as db:
        recording = get_or_404(db, Recording, recording_id)
        session_row = db.get(SshSession, recording.session_id)
        if _refusal(db, recording) is not None:
            return render_template("error.html", status=403, message=_refused_line()), 403
        purpose = _purpose()
        if purpose is None:
            # Least privilege on the traces: say why before seeing (and the audit keeps it).
            given = "purpose" in request.args
            return render_template("replay/purpose.html", recording=recording, s=session_row,
                                   start=start, given=request.args.get("purpose", "")[:PURPOSE_MAX],
                                   minimum=PURPOSE_MIN), 400 if given else 200
        page = render_template("replay/show.html", recording=recording, s=session_row,
                               timeline=build_timeline(db, recording), start=start,
                               purpose=purpose)
    return with_player(page)


def _purpose() -> str | None:
    """The viewer's stated purpose, if long enough to say something."""
    text = " ".join(request.args.get("purpose", "").split())
    return text if PURPOSE_MIN <= len(text) <= PURPOSE_MAX else None


def _refused_line() -> str:
    return gettext("This session reached health or INS data: its replay is for the DPO "
                   "(approvers: only while the session is live). Ask the DPO.")


def _refusal(db: Session, recording: Recording) -> str | None:
    """Least privilege on health-data sessions; a refusal is an audit event."""
    session_row = db.get(SshSession, recording.session_id)
    if session_row is None:
        return None
    principal = signed_in_principal()
    refusal = replay_refusal(principal.roles, session_row.target.data_categories or (),
                             live=session_row.status == "live")
    if refusal is not None:
        core().audit.append(db, action="recording.view_refused", outcome="denied",
                            actor=principal.actor(), reasons=[refusal],
                            details={"recording_id": recording.id},
                            **session_audit_fields(session_row))
    return refusal


def _error(code: str, message: str, status: int) -> ResponseReturnValue:
    return jsonify(error={"code": code, "message": message}), status


@blueprint.get("/<int:recording_id>/cast")
@requires(*READERS)
def cast(recording_id: int) -> ResponseReturnValue:
    with core().db.session() as db:
        recording = get_or_404(db, Recording, recording_id)
        still_open = recording.status == "open"
        refusal = _refusal(db, recording)
    if refusal is not None:
        return _error("replay_not_allowed", _refused_line(), 403)
    purpose = _purpose()
    if purpose is None:
        return _error("purpose_missing", gettext(
            "Say why you replay this recording (%(n)d characters at least): it is recorded "
            "in the audit log.", n=PURPOSE_MIN), 400)
    service = RecordingService(core())
    try:
        reader = service.open_reader(recording_id, signed_in_principal().actor(), purpose="replay",
                                     reason=purpose)
    except RecordingNotFound:
        return _error("recording_purged", gettext("This recording was purged (retention period over)."), 410)
    out = io.StringIO()
    try:
        export_recording(reader, out)
    except RecordingTruncated:
        if not still_open:
            return _error("recording_corrupted", gettext(
                "The recording does not verify: it is truncated. Nothing of it is shown."), 409)
        # Still being written: what is shown is everything up to its last complete chunk.
    except RecordingCorrupted as error:
        return _error("recording_corrupted", gettext(
            "The recording does not verify (%(problem)s). Nothing of it is shown.",
            problem=error.problem), 409)
    # Held in memory rather than streamed: a failed check part-way must not leave the
    # browser with a partial replay it would take for the whole. Sessions are bounded by
    # the recording budget (recording.session_budget_mb).
    return Response(out.getvalue(), mimetype="application/x-asciicast")

"""SSH sessions through the bastion: list, show, terminate (staff only).

Terminating sets ``terminate_requested_*`` on the session row; the proxy node serving it
polls those and closes the session within 2 seconds, whichever node the request came to.
The API answers 202: asked, not yet done.
"""

from __future__ import annotations

from flask import Blueprint, jsonify, request
from flask.typing import ResponseReturnValue
from sqlalchemy import select
from sqlalchemy.orm import Session, joinedload, selectinload

from bastion.models import SESSION_STATES, SshSession, Target, Technician
from bastion.sessions import request_termination

from ..access import requires
from ..identity import core
from .bodies import Reason, parse
from .common import caller, query_choices, query_limit
from .errors import ApiError
from .views import session_view

blueprint = Blueprint("sessions", __name__)


@blueprint.get("/sessions")
@requires("approver", "admin", "dpo")
def index() -> ResponseReturnValue:
    # Everything session_view reads, loaded with the page (one query per relation, not
    # per row): 500 sessions in 3 queries instead of 3 per session.
    query = (select(SshSession)
             .options(joinedload(SshSession.technician).joinedload(Technician.vendor),
                      joinedload(SshSession.target), selectinload(SshSession.recordings))
             .order_by(SshSession.id.desc()).limit(query_limit()))
    statuses = query_choices("status", SESSION_STATES)
    if statuses is not None:
        query = query.where(SshSession.status.in_(statuses))
    if technician := request.args.get("technician"):
        query = query.join(Technician, Technician.id == SshSession.technician_id).where(
            Technician.ident == technician)
    if target := request.args.get("target"):
        query = query.join(Target, Target.id == SshSession.target_id).where(Target.name == target)
    with core().db.session() as db:
        return jsonify(sessions=[session_view(row) for row in db.scalars(query)])


def _load(db: Session, session_id: int, *, lock: bool = False) -> SshSession:
    query = select(SshSession).where(SshSession.id == session_id)
    row = db.scalar(query.with_for_update() if lock else query)
    if row is None:
        raise ApiError("session_not_found", f"there is no session {session_id}")
    return row


@blueprint.get("/sessions/<int:session_id>")
@requires("approver", "admin", "dpo")
def show(session_id: int) -> ResponseReturnValue:
    with core().db.session() as db:
        return jsonify(session=session_view(_load(db, session_id)))


@blueprint.post("/sessions/<int:session_id>/terminate")
@requires("approver", "admin")
def terminate(session_id: int) -> ResponseReturnValue:
    principal = caller()
    reason = parse(Reason).reason.strip()
    if not reason:
        raise ApiError("reason_required", "say why the session is terminated")
    with core().db.session() as db:
        row = _load(db, session_id, lock=True)
        if row.status != "live":
            raise ApiError("session_not_live", f"session {session_id} is already {row.status}")
        # Asking twice changes nothing: the first order (and its reason) stands.
        request_termination(db, core().audit, row, actor=principal.actor(), reason=reason,
                            via="api")
        return jsonify(session=session_view(row)), 202



"""Liveness for load balancers and the demo: answers only when the database answers."""

from __future__ import annotations

from flask import Blueprint, current_app, jsonify
from flask.typing import ResponseReturnValue
from sqlalchemy import text

from ..access import public

blueprint = Blueprint("health", __name__)


@blueprint.get("/healthz")
@public()
def healthz() -> ResponseReturnValue:
    core = current_app.extensions["bastion"]
    try:
        with core.db.session() as session:
            session.execute(text("SELECT 1"))
    except Exception:  # noqa: BLE001 - any failure means "not healthy"
        return jsonify(status="unavailable", node=core.node), 503
    return jsonify(status="ok", node=core.node)

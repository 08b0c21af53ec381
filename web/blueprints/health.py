"""What load balancers and monitoring ask a node: is it alive (/healthz), can it take
sessions (/readyz), and its Prometheus metrics (/metrics)."""

from __future__ import annotations

import hmac
import ipaddress
import os
from pathlib import Path

from flask import Blueprint, Response, abort, current_app, jsonify, request
from flask.typing import ResponseReturnValue
from sqlalchemy import text

from bastion.context import Bastion
from bastion.db import DatabaseError
from bastion.keys import KeyStoreError

from ..access import public

blueprint = Blueprint("health", __name__)


def _core() -> Bastion:
    return current_app.extensions["bastion"]


@blueprint.get("/healthz")
@public()
def healthz() -> ResponseReturnValue:
    """Alive: answers only while the database does."""
    core = _core()
    try:
        with core.db.session() as session:
            session.execute(text("SELECT 1"))
    except Exception:  # noqa: BLE001 - any failure means "not healthy"
        return jsonify(status="unavailable", node=core.node), 503
    return jsonify(status="ok", node=core.node)


@blueprint.get("/readyz")
@public()
def readyz() -> ResponseReturnValue:
    """Ready for sessions: the schema is this release's, the keys open, the recordings
    folder takes writes. A node that is not ready is taken out of the load balancer rather
    than accepting technicians it would then refuse. Failures are named, never detailed
    (no paths or errors to an anonymous caller)."""
    core = _core()
    failed = []
    try:
        core.db.require_current_schema()
    except DatabaseError:
        failed.append("database")
    try:
        core.keys.master_key  # noqa: B018 - reading it is the check
        core.keys.audit_signing_key_pem()
    except KeyStoreError:
        failed.append("keys")
    if core.settings.recording.storage == "local":
        folder = core.settings.recordings_dir
        if not (folder.is_dir() and _writable(folder)):
            failed.append("recordings")
    if failed:
        return jsonify(status="not ready", node=core.node, failed=failed), 503
    return jsonify(status="ready", node=core.node)


def _writable(folder: Path) -> bool:
    return os.access(folder, os.W_OK | os.X_OK)


def _scraper_allowed() -> bool:
    token = _core().settings.web.metrics_token
    if token:
        offered = request.headers.get("Authorization", "").removeprefix("Bearer ").strip()
        return hmac.compare_digest(offered.encode(), token.encode())
    # Without a token, only this host (a local Prometheus or node exporter's proxy): counts
    # of refusals and sessions are not for anyone on the network.
    try:
        return ipaddress.ip_address(request.remote_addr or "").is_loopback
    except ValueError:
        return False


@blueprint.get("/metrics")
@public()
def metrics() -> ResponseReturnValue:
    if not _scraper_allowed():
        abort(403, description="metrics need the bearer token of [web] metrics_token "
                               "(or a request from this host)")
    return Response(_core().metrics.exposition(),
                    mimetype="text/plain; version=0.0.4; charset=utf-8")

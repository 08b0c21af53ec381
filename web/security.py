"""Response headers every page carries, and the idle sign-out.

The Content-Security-Policy admits scripts and styles from our own origin only: no inline
script, no inline style, no ``eval``. Pages keep their behaviour in ``static/js/*.js``
files and read what they need from ``data-`` attributes.
"""

from __future__ import annotations

from flask import Flask, current_app, flash, redirect, request, url_for
from flask.typing import ResponseReturnValue
from flask_babel import gettext
from werkzeug.wrappers import Response

from . import signin_state
from .identity import core, current_identity, forget_identity

CONTENT_SECURITY_POLICY = "; ".join((
    "default-src 'none'",
    "script-src 'self'",
    "style-src 'self'",
    "img-src 'self' data:",
    "font-src 'self'",
    "connect-src 'self'",
    # The asciinema player decodes recordings in a worker served from our origin.
    "worker-src 'self'",
    "form-action 'self'",
    "frame-ancestors 'none'",
    "base-uri 'none'",
))

PERMISSIONS_POLICY = (
    "publickey-credentials-get=(self), publickey-credentials-create=(self), camera=(), "
    "microphone=(), geolocation=(), payment=(), usb=()"
)


def add_headers(response: Response) -> Response:
    headers = response.headers
    headers.setdefault("Content-Security-Policy", CONTENT_SECURITY_POLICY)
    headers["X-Frame-Options"] = "DENY"
    headers["X-Content-Type-Options"] = "nosniff"
    headers["Referrer-Policy"] = "same-origin"
    headers["Permissions-Policy"] = PERMISSIONS_POLICY
    headers["Cross-Origin-Opener-Policy"] = "same-origin"
    headers["Cross-Origin-Resource-Policy"] = "same-origin"
    if current_app.config["SESSION_COOKIE_SECURE"]:
        headers["Strict-Transport-Security"] = "max-age=31536000"
    if request.endpoint not in ("static", "assets.asciinema_player"):
        # Pages show patient-server inventory and audit data: never keep them in a cache
        # that the next person at the same desk could open.
        headers["Cache-Control"] = "no-store"
    return response


def end_idle_sessions() -> ResponseReturnValue | None:
    """``before_request``: sign out a visitor idle for longer than ``web.idle_minutes``."""
    if request.endpoint == "static":
        return None
    if signin_state.idle_expired(current_app.config["BASTION_IDLE_MINUTES"]):
        identity = current_identity()
        if identity.principal is not None:
            bastion = core()
            with bastion.db.session() as db:
                bastion.audit.append(
                    db, action="staff.signed_out", outcome="ok",
                    actor=identity.principal.actor(),
                    reasons=["idle"], details={"idle_minutes": current_app.config["BASTION_IDLE_MINUTES"]},
                )
        signin_state.sign_out()
        forget_identity()
        flash(gettext("You were signed out after a period without activity."), "info")
        if request.method == "GET":
            return redirect(url_for("auth.sign_in"))
        return None  # the access rule now refuses the request
    signin_state.touch()
    return None


def install(app: Flask) -> None:
    app.after_request(add_headers)

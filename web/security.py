"""Response headers every page carries, and the idle (or otherwise ended) sign-out.

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
from .access import wants_page
from .identity import Principal, core, current_identity, forget_identity, session_ended

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
    """``before_request``: sign out a visitor idle for longer than ``web.idle_minutes``
    (by the cookie's clock), or whose console session the server no longer accepts
    (revoked, idle or expired by the database row, account disabled, check failed)."""
    if request.endpoint == "static":
        return None
    idle_minutes = current_app.config["BASTION_IDLE_MINUTES"]
    if signin_state.idle_expired(idle_minutes):
        ended = session_ended() if current_identity().principal is None else None
        _audit_sign_out(current_identity().principal or (ended and ended.principal), "idle",
                        idle_minutes)
        return _signed_out("idle", gettext("You were signed out after a period without activity."))
    if signin_state.claims_sign_in():
        current_identity()  # loads the principal, which checks the console session
        ended = session_ended()
        if ended is not None:
            if ended.reason in ("idle", "expired"):
                _audit_sign_out(ended.principal, ended.reason, idle_minutes)
            message = (gettext("You were signed out after a period without activity.")
                       if ended.reason == "idle" else
                       gettext("Your session has ended. Sign in again to continue."))
            # The row's own reason stays if it has one; this one is for a live row (a
            # disabled account, say), so it cannot be used again.
            return _signed_out(ENDED_ROW_REASONS.get(ended.reason, ended.reason), message)
    signin_state.touch()
    return None


# Why the row is ended, when the loader refused a session still live in the database.
ENDED_ROW_REASONS = {"account": "account disabled or without a role",
                     "error": "session check failed"}


def _audit_sign_out(principal: Principal | None, why: str, idle_minutes: int) -> None:
    if principal is None:
        return
    bastion = core()
    with bastion.db.session() as db:
        bastion.audit.append(db, action="staff.signed_out", outcome="ok",
                             actor=principal.actor(), reasons=[why],
                             details={"idle_minutes": idle_minutes,
                                      "session": signin_state.current_session_ref()})


def _signed_out(reason: str, message: str) -> ResponseReturnValue | None:
    signin_state.sign_out(reason)
    forget_identity()
    flash(message, "info")
    if wants_page():
        return redirect(url_for("auth.sign_in"))
    return None  # the access rule now refuses the request


def install(app: Flask) -> None:
    app.after_request(add_headers)

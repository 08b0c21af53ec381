"""Technician sign-in on the vendor pages: a password (argon2), then a one-time code (TOTP).

After the password the visitor stays anonymous for the access rules; only this module's
own session entry (``portal_pending``, five minutes) lets them reach the code step. A
technician without a password or without a one-time-code secret is refused with a clear
line. Every success and failure is audited. Abuse: the staff sign-in's per-address limit
(``sign_in_throttle``) plus a lock-out per technician after repeated failures, kept in the
database so it holds on every node (``bastion.sign_in_lockout``).
"""

from __future__ import annotations

import time

from flask import Blueprint, current_app, flash, redirect, render_template, request, session, url_for
from flask.typing import ResponseReturnValue
from flask_babel import gettext, lazy_gettext
from flask_wtf import FlaskForm
from sqlalchemy import select
from werkzeug.exceptions import TooManyRequests
from wtforms import HiddenField, PasswordField, StringField
from wtforms.validators import DataRequired, Length

from bastion.audit import Actor
from bastion.models import Technician, utcnow
from bastion.passwords import verify_password
from bastion.sign_in_lockout import clear_failures, count_failure, is_locked
from bastion.totp import secret_of, use_code

from .. import signin_state
from ..access import public, safe_next
from ..identity import core, current_identity, principal_from_technician
from ..throttle import Verdict

blueprint = Blueprint("portal_auth", __name__)

PENDING_KEY = "portal_pending"
PENDING_SECONDS = 300


class PasswordForm(FlaskForm):
    ident = StringField(lazy_gettext("Technician identifier"),
                        validators=[DataRequired(), Length(max=64)],
                        render_kw={"autocomplete": "username", "autofocus": True})
    password = PasswordField(lazy_gettext("Password"), validators=[DataRequired(), Length(max=256)],
                             render_kw={"autocomplete": "current-password"})
    next = HiddenField()


class CodeForm(FlaskForm):
    code = StringField(lazy_gettext("One-time code"), validators=[DataRequired(), Length(max=12)],
                       render_kw={"autocomplete": "one-time-code", "inputmode": "numeric",
                                  "autofocus": True})


def _code_accepted(ident: str, secret: str, code: str) -> bool:
    """Once across every node and the SSH side too (bastion.totp.use_code)."""
    with core().db.session() as db:
        return use_code(db, ident, secret, code)


def _audit(action: str, outcome: str, ident: str, why: str, **details: object) -> None:
    bastion = core()
    with bastion.db.session() as db:
        bastion.audit.append(db, action=action, outcome=outcome,
                             actor=Actor(f"technician:{ident[:60]}", "technician"),
                             reasons=[why], details={"address": request.remote_addr, **details})


def _throttled(ident: str) -> bool:
    verdict = current_app.extensions["sign_in_throttle"].hit(request.remote_addr or "unknown")
    if verdict is Verdict.LIMITED_FIRST:
        _audit("technician.sign_in_rate_limited", "denied", ident,
               "too many sign-in attempts from this address")
    return verdict is not Verdict.OK


def _succeeded() -> None:
    """A step that succeeded does not count towards the per-address limit."""
    current_app.extensions["sign_in_throttle"].forgive(request.remote_addr or "unknown")


def _failed(ident: str, why: str, step: str) -> None:
    with core().db.session() as db:
        until = count_failure(db, Technician, Technician.ident == ident)
    if until is not None:
        why += f"; portal sign-in locked until {until.isoformat(timespec='seconds')}"
    _audit("technician.sign_in_refused", "denied", ident, why, step=step)



def _usable(tech: Technician | None) -> str | None:
    """Why this technician cannot sign in, or None."""
    if tech is None:
        return "unknown technician"
    if not tech.active:
        return "technician inactive"
    if tech.valid_until is not None and tech.valid_until <= utcnow():
        return "technician no longer valid"
    return None


FAILED = lazy_gettext("Wrong identifier or password, or the account is locked for a while "
                      "after repeated failures.")


@blueprint.route("/portal/sign-in", methods=["GET", "POST"])
@public()
def sign_in() -> ResponseReturnValue:
    if current_identity().principal is not None:
        return redirect(url_for("portal.my_requests"))
    form = PasswordForm()
    if request.method == "GET":
        form.next.data = safe_next(request.args.get("next"))
        return render_template("portal/sign_in.html", form=form)
    if not form.validate_on_submit():
        return render_template("portal/sign_in.html", form=form), 400
    ident = form.ident.data.strip().lower()
    if _throttled(ident):
        raise TooManyRequests()
    with core().db.session() as db:
        tech = db.scalar(select(Technician).where(Technician.ident == ident))
        refused = _usable(tech)
        hashed = tech.password_hash if tech else None
        has_code = bool(tech and tech.totp_secret_encrypted)
        tech_id = tech.id if tech else None
        locked = tech is not None and is_locked(tech)
    good = verify_password(hashed, form.password.data)
    if refused is None and locked:
        refused = "locked after repeated failures"
    elif refused is None and not good:
        refused = "wrong password" if hashed else "no password set"
    if refused is not None:
        _failed(ident, refused, "password")
        flash(str(FAILED), "error")
        return render_template("portal/sign_in.html", form=form), 401
    if not has_code:
        _audit("technician.sign_in_refused", "denied", ident, "no second factor enrolled",
               step="password")
        flash(gettext("Your account has no one-time code set up yet: ask the hospital IT "
                      "department to enrol one."), "error")
        return render_template("portal/sign_in.html", form=form), 403
    _succeeded()
    signin_state.sign_out()  # no fixation: a fresh session for the code step
    session[PENDING_KEY] = {"technician_id": tech_id, "since": time.time(),
                            "next": safe_next(form.next.data)}
    return redirect(url_for("portal_auth.code_step"))


def _pending_id() -> int | None:
    raw = session.get(PENDING_KEY)
    try:
        if isinstance(raw, dict) and time.time() - float(raw["since"]) <= PENDING_SECONDS:
            return int(raw["technician_id"])
    except (KeyError, TypeError, ValueError):
        pass
    return None


@blueprint.route("/portal/sign-in/code", methods=["GET", "POST"])
@public()
def code_step() -> ResponseReturnValue:
    tech_id = _pending_id()
    if tech_id is None:
        flash(gettext("Start again with your identifier and password."), "info")
        return redirect(url_for("portal_auth.sign_in"))
    form = CodeForm()
    if request.method == "GET" or not form.validate_on_submit():
        status = 200 if request.method == "GET" else 400
        return render_template("portal/code_step.html", form=form), status
    bastion = core()
    with bastion.db.session() as db:
        tech = db.get(Technician, tech_id)
        refused = _usable(tech)
        ident = tech.ident if tech else "?"
        secret = (secret_of(bastion.keys.master_key, ident, tech.totp_secret_encrypted)
                  if tech else None)
        principal = principal_from_technician(tech) if tech else None
        locked = tech is not None and is_locked(tech)
    if _throttled(ident):
        raise TooManyRequests()
    if refused is None and locked:
        refused = "locked after repeated failures"
    elif refused is None and (secret is None or not _code_accepted(ident, secret, form.code.data)):
        refused = "wrong or replayed one-time code"
    if refused is not None or principal is None:
        _failed(ident, refused or "unknown technician", "code")
        flash(gettext("Wrong or expired code."), "error")
        return render_template("portal/code_step.html", form=form), 401
    with bastion.db.session() as db:
        clear_failures(db, Technician, Technician.ident == ident)
    _succeeded()
    pending = session.get(PENDING_KEY)
    target = safe_next(pending.get("next")) if isinstance(pending, dict) else None
    signin_state.complete(principal, "password+totp")
    _audit("technician.signed_in", "ok", ident, "password and one-time code")
    return redirect(target or url_for("portal.my_requests"))

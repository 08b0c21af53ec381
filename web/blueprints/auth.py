"""Sign-in and sign-out for hospital staff.

Two ways in, both ending with a WebAuthn assertion: a password (argon2) then a security
key, or a passkey alone. After the password the visitor is only *pending*: the access
rules let them reach the key step (or, without any usable key, the enrolment of a key,
which also needs the one-time enrolment link an administrator issued: a password alone
never adds a key) and nothing else. The checks, the lock-out after repeated failures and their audit events
are ``bastion.approvals``' (check_password, verify_sign_in, register_credential); this
module adds the per-address rate limit and the session states.
"""

from __future__ import annotations

from flask import Blueprint, current_app, flash, jsonify, redirect, render_template, request, session, url_for
from flask.typing import ResponseReturnValue
from flask_babel import gettext, lazy_gettext
from flask_wtf import FlaskForm
from werkzeug.exceptions import TooManyRequests
from wtforms import HiddenField, PasswordField, StringField
from wtforms.validators import DataRequired, Length

from bastion.approvals import (
    ApprovalError,
    enrolment_options,
    list_credentials,
    register_credential,
    sign_in_options,
    verify_sign_in,
)
from bastion.approvals.enrolment_links import find_link
from bastion.audit import Actor
from bastion.directory.password_step import password_step
from bastion.models import StaffUser, utcnow

from .. import ceremonies, sign_in_refusals, signin_state
from ..access import enrol_pending, key_pending, public, safe_next
from ..identity import core, current_identity, principal_from_staff
from ..throttle import Verdict

blueprint = Blueprint("auth", __name__)

NEXT_KEY = "next_url"
ENROL_TOKEN_KEY = "enrol_token"  # noqa: S105 - a session key name. The one-time enrolment link's token, until it is used


class SignInForm(FlaskForm):
    username = StringField(lazy_gettext("User name"), validators=[DataRequired(), Length(max=64)],
                           render_kw={"autocomplete": "username webauthn", "autofocus": True})
    password = PasswordField(lazy_gettext("Password"), validators=[DataRequired(), Length(max=256)],
                             render_kw={"autocomplete": "current-password"})
    next = HiddenField()


class SignOutForm(FlaskForm):
    """Only a CSRF token: signing out is a POST so another site cannot sign people out."""


def client_address() -> str:
    return request.remote_addr or "unknown"


def throttled(who: str) -> bool:
    """Per-address limit on sign-in attempts; the first refusal in a window is audited."""
    verdict = current_app.extensions["sign_in_throttle"].hit(client_address())
    if verdict is Verdict.OK:
        return False
    if verdict is Verdict.LIMITED_FIRST:
        bastion = core()
        with bastion.db.session() as db:
            bastion.audit.append(
                db, action="staff.sign_in_rate_limited", outcome="denied",
                actor=Actor(f"staff:{who[:60]}", "staff"),
                reasons=["too many sign-in attempts from this address"],
                details={"address": client_address()},
            )
    return True


def succeeded() -> None:
    """A sign-in step that succeeded does not count towards the per-address limit."""
    current_app.extensions["sign_in_throttle"].forgive(client_address())


def render_sign_in(form: SignInForm, status: int) -> ResponseReturnValue:
    settings = core().settings
    return render_template("auth/sign_in.html", form=form, oidc_label=settings.oidc.label
                           if settings.oidc.issuer else None,
                           directory=settings.ldap.url is not None), status


@blueprint.route("/sign-in", methods=["GET", "POST"])
@public()
def sign_in() -> ResponseReturnValue:
    if current_identity().principal is not None:
        return redirect(url_for("home.index"))
    form = SignInForm()
    if request.method == "GET":
        form.next.data = safe_next(request.args.get("next"))
        return render_sign_in(form, 200)
    if not form.validate_on_submit():
        return render_sign_in(form, 400)
    username = form.username.data.strip().lower()
    if throttled(username):
        raise TooManyRequests()
    try:
        first = password_step(core(), username, form.password.data, address=client_address())
    except ApprovalError as error:
        flash(sign_in_refusals.message(error), "error")
        return render_sign_in(form, error.status)
    succeeded()
    step = begin_key_step(first.staff_id, first.source, form.next.data)
    if step is None:
        return render_sign_in(form, 403)
    return redirect(url_for(step))


def begin_key_step(staff_id: int, source: str, next_url: str | None) -> str | None:
    """The first step (a password, the directory, the identity provider) is done: the
    security-key step follows, or, without a usable key, the enrolment of one, only with
    an enrolment link for this person. Returns the step's endpoint; None (refusal flashed
    and audited) when neither may follow."""
    stage = "key" if any(key.usable for key in list_credentials(core(), staff_id)) else "enrol"
    token = session.get(ENROL_TOKEN_KEY)
    if stage == "enrol" and not _link_is_for(token, staff_id):
        _refuse_enrolment(staff_id)
        flash(gettext("This account has no usable security key. Ask an administrator for a "
                      "one-time enrolment link, then open it."), "error")
        return None
    signin_state.begin_pending(staff_id, stage, source)
    if stage == "enrol":
        session[ENROL_TOKEN_KEY] = token
    target = safe_next(next_url)
    if target:
        session[NEXT_KEY] = target
    return "auth.key_step" if stage == "key" else "auth.enrol"


def _link_is_for(token: object, staff_id: int) -> bool:
    if not isinstance(token, str):
        return False
    with core().db.session() as db:
        return find_link(db, token, staff_id=staff_id, now=utcnow()) is not None


def _refuse_enrolment(staff_id: int) -> None:
    bastion = core()
    with bastion.db.session() as db:
        user = db.get(StaffUser, staff_id)
        bastion.audit.append(db, action="staff.sign_in_refused", outcome="denied",
                             actor=Actor(f"staff:{user.username if user else staff_id}", "staff"),
                             reasons=["no usable security key and no enrolment link"],
                             details={"code": "enrolment_link_invalid", "step": "enrolment",
                                      "address": client_address()})


@blueprint.get("/enrol/<token>")
@public()
def enrolment_link(token: str) -> ResponseReturnValue:
    """The one-time link an administrator handed over: remember it for the sign-in that
    follows (it is checked again, and used up, when the key is registered)."""
    with core().db.session() as db:
        valid = find_link(db, token, staff_id=None, now=utcnow()) is not None
    if not valid:
        flash(gettext("This enrolment link is unknown, used or expired. Ask an administrator "
                      "for a new one."), "error")
        return redirect(url_for("auth.sign_in"))
    if current_identity().principal is not None:
        signin_state.sign_out("enrolment link opened")
    session[ENROL_TOKEN_KEY] = token
    flash(gettext("Sign in with your user name and password, then register your security key."),
          "info")
    return redirect(url_for("auth.sign_in"))


@blueprint.post("/sign-out")
@public()
def sign_out() -> ResponseReturnValue:
    valid = SignOutForm().validate_on_submit()  # before sign_out() clears the CSRF secret
    identity = current_identity()
    ref = signin_state.sign_out()  # also ends the session's database row
    if valid and identity.principal is not None:
        bastion = core()
        with bastion.db.session() as db:
            bastion.audit.append(db, action="staff.signed_out", outcome="ok",
                                 actor=identity.principal.actor(), reasons=["signed out"],
                                 details={"session": ref})
    flash(gettext("You are signed out."), "info")
    return redirect(url_for("auth.sign_in"))


# --- second step: a security key ---------------------------------------------------------

def _pending_staff_id() -> int:
    pending = signin_state.pending()
    if pending is None:  # the access rule admitted a pending visitor: fail closed anyway
        raise PermissionError("no sign-in in progress")
    return pending.staff_id


def _pending_name() -> str:
    with core().db.session() as db:
        user = db.get(StaffUser, _pending_staff_id())
        return user.full_name if user else ""


@blueprint.get("/sign-in/key")
@key_pending()
def key_step() -> ResponseReturnValue:
    return render_template("auth/key_step.html", full_name=_pending_name(), form=SignOutForm())


@blueprint.post("/sign-in/key/options")
@key_pending()
def key_options() -> ResponseReturnValue:
    staff_id = _pending_staff_id()
    return ceremonies.options_response(lambda: sign_in_options(core(), staff=staff_id))


@blueprint.post("/sign-in/key/verify")
@key_pending()
def key_verify() -> ResponseReturnValue:
    pending = signin_state.pending()
    return _finish_assertion(_pending_staff_id(),
                             pending.source if pending is not None else "local")


@blueprint.post("/sign-in/passkey/options")
@public()
def passkey_options() -> ResponseReturnValue:
    if throttled("(passkey)"):
        raise TooManyRequests()
    return ceremonies.options_response(lambda: sign_in_options(core()))


@blueprint.post("/sign-in/passkey/verify")
@public()
def passkey_verify() -> ResponseReturnValue:
    return _finish_assertion(None)


def _finish_assertion(staff_id: int | None, source: str = "local") -> ResponseReturnValue:
    """Verify the assertion (the core audits success and refusal), then sign in for real."""
    credential = ceremonies.credential_from_body(request.get_json(silent=True))
    if credential is None:
        return ceremonies.missing_credential()
    try:
        signed = verify_sign_in(core(), credential, staff=staff_id, address=client_address(),
                                first_factor="password" if source == "local" else source)
    except ApprovalError as error:
        return ceremonies.error_response(error)
    with core().db.session() as db:
        user = db.get(StaffUser, signed.staff_id)
        # A staff member without any role has nothing to do here (an admin removed them all).
        if user is None or not user.active or not user.role_names:
            return jsonify(error={"code": "sign_in_failed",
                                  "message": ceremonies.failure_message()}), 403
        principal = principal_from_staff(user)
    if staff_id is None:
        succeeded()  # the passkey options counted this attempt
    target = safe_next(session.get(NEXT_KEY))
    signin_state.complete(principal, signed.method)
    return jsonify(redirect=target or url_for("home.index"))


# --- first sign-in: register a first key ------------------------------------------------

@blueprint.get("/sign-in/enrol")
@enrol_pending()
def enrol() -> ResponseReturnValue:
    return render_template("auth/enrol.html", full_name=_pending_name(), form=SignOutForm())


@blueprint.post("/sign-in/enrol/options")
@enrol_pending()
def enrol_options() -> ResponseReturnValue:
    staff_id = _pending_staff_id()
    token = str(session.get(ENROL_TOKEN_KEY) or "")
    return ceremonies.options_response(lambda: enrolment_options(core(), staff_id, token))


@blueprint.post("/sign-in/enrol/verify")
@enrol_pending()
def enrol_verify() -> ResponseReturnValue:
    body = request.get_json(silent=True)
    credential = ceremonies.credential_from_body(body)
    if credential is None:
        return ceremonies.missing_credential()
    try:
        register_credential(core(), _pending_staff_id(), credential, name=str(body.get("name") or ""),
                            enrolment_token=str(session.get(ENROL_TOKEN_KEY) or ""))
    except ApprovalError as error:
        return ceremonies.error_response(error)
    session.pop(ENROL_TOKEN_KEY, None)
    # Sign in with the new key once: it shows the key works, the same way every later
    # sign-in will, before the console opens.
    signin_state.move_pending_to("key")
    flash(gettext("Your security key is registered. Now use it to finish signing in."), "success")
    return jsonify(redirect=url_for("auth.key_step"))

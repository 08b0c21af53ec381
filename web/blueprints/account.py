"""The signed-in staff member's own account: security keys, sessions, language and time zone."""

from __future__ import annotations

from zoneinfo import available_timezones

from flask import Blueprint, abort, flash, jsonify, redirect, render_template, request, session, url_for
from flask.typing import ResponseReturnValue
from flask_babel import gettext, lazy_gettext
from flask_wtf import FlaskForm
from sqlalchemy.orm import Session
from wtforms import HiddenField, SelectField, StringField
from wtforms.validators import DataRequired, Length

from bastion.approvals import (
    ApprovalError,
    key_change_options,
    list_credentials,
    register_credential,
    revoke_own_credential,
    start_key_addition,
)
from bastion.console_sessions import find_session, live_sessions, revoke_all, revoke_session
from bastion.models import StaffUser, WebAuthnCredential

from .. import ceremonies, signin_state
from ..access import public, safe_next, staff_only
from ..forms import ActionForm, choices
from ..i18n import LANGUAGES
from ..identity import core, current_identity, forget_identity, idle_limit, signed_in_principal

blueprint = Blueprint("account", __name__)

# The zones a French hospital's staff plausibly work in (metropolitan France and overseas),
# first; then every other zone.
COMMON_ZONES = ("Europe/Paris", "America/Guadeloupe", "America/Martinique", "America/Cayenne",
                "Indian/Reunion", "Indian/Mayotte", "Pacific/Noumea", "Pacific/Tahiti", "UTC")


class RenameForm(FlaskForm):
    name = StringField(lazy_gettext("Name of the key"), validators=[DataRequired(), Length(max=100)])


class PreferencesForm(FlaskForm):
    language = SelectField(lazy_gettext("Language"))
    time_zone = SelectField(lazy_gettext("Time zone"))

    def __init__(self, *args: object, **kwargs: object) -> None:
        super().__init__(*args, **kwargs)
        self.language.choices = choices(LANGUAGES.items())
        others = sorted(zone for zone in available_timezones() - set(COMMON_ZONES)
                        if "/" in zone and not zone.startswith(("Etc/", "SystemV/")))
        self.time_zone.choices = choices((zone, zone) for zone in (*COMMON_ZONES, *others))


class LanguageForm(FlaskForm):
    language = SelectField(lazy_gettext("Language"))
    next = HiddenField()

    def __init__(self, *args: object, **kwargs: object) -> None:
        # Prefixed: this form is on every page, beside forms with their own "next".
        kwargs.setdefault("prefix", "lang")
        super().__init__(*args, **kwargs)
        self.language.choices = choices(LANGUAGES.items())


@blueprint.get("/account/keys")
@staff_only()
def keys() -> ResponseReturnValue:
    rows = list_credentials(core(), signed_in_principal().db_id)
    return render_template("account/keys.html", keys=rows, action_form=ActionForm(),
                           usable_count=sum(1 for key in rows if key.usable),
                           rename_forms={key.id: RenameForm(prefix=f"k{key.id}", data={"name": key.name})
                                         for key in rows})


def _my_key_or_404(db: Session, key_id: int) -> WebAuthnCredential:
    key = db.get(WebAuthnCredential, key_id)
    # Someone else's key is reported as missing: ids of others' keys reveal nothing.
    if key is None or key.staff_id != signed_in_principal().db_id:
        abort(404)
    return key


@blueprint.post("/account/keys/<int:key_id>/rename")
@staff_only()
def key_rename(key_id: int) -> ResponseReturnValue:
    form = RenameForm(prefix=f"k{key_id}")
    bastion = core()
    with bastion.db.session() as db:
        key = _my_key_or_404(db, key_id)
        if form.validate_on_submit():
            before, key.name = key.name, form.name.data.strip()
            bastion.audit.append(db, action="staff.security_key_renamed", outcome="ok",
                                 actor=signed_in_principal().actor("staff"),
                                 details={"username": signed_in_principal().username,
                                          "before": before, "after": key.name})
            flash(gettext("Key renamed."), "success")
        else:
            flash(gettext("Give the key a name of at most 100 characters."), "error")
    return redirect(url_for("account.keys"))


# Removing (revoking) and adding a key both ask for an assertion of a usable key of the
# account, bound to exactly that change: a copied console cookie alone changes no key.
# The browser chains the steps (web/static/js/webauthn.js): each JSON answer holding
# "options" names the ceremony to run and where to send its answer.

@blueprint.post("/account/keys/<int:key_id>/remove/options")
@staff_only()
def key_remove_options(key_id: int) -> ResponseReturnValue:
    me = signed_in_principal()
    with core().db.session() as db:
        _my_key_or_404(db, key_id)
    return ceremonies.options_response(
        lambda: key_change_options(core(), me.db_id, action="revoke", credential=key_id))


@blueprint.post("/account/keys/<int:key_id>/remove")
@staff_only()
def key_remove(key_id: int) -> ResponseReturnValue:
    me = signed_in_principal()
    with core().db.session() as db:
        _my_key_or_404(db, key_id)
    credential = ceremonies.credential_from_body(request.get_json(silent=True))
    if credential is None:
        return ceremonies.missing_credential()
    try:
        # The core refuses the last usable key: without one nobody signs in nor approves.
        revoke_own_credential(core(), me.db_id, key_id, credential)
    except ApprovalError as error:
        return ceremonies.error_response(error)
    flash(gettext("Key revoked."), "success")
    return jsonify(redirect=url_for("account.keys"))


@blueprint.post("/account/keys/options")
@staff_only()
def key_add_options() -> ResponseReturnValue:
    """First step: confirm the addition with a key the account already holds."""
    me = signed_in_principal()
    reply = ceremonies.options_response(lambda: key_change_options(core(), me.db_id, action="add"))
    return ceremonies.then(reply, "get", url_for("account.key_add_confirm"))


@blueprint.post("/account/keys/confirm")
@staff_only()
def key_add_confirm() -> ResponseReturnValue:
    """Second step: the confirmation checked, the options to create the new key."""
    credential = ceremonies.credential_from_body(request.get_json(silent=True))
    if credential is None:
        return ceremonies.missing_credential()
    me = signed_in_principal()
    reply = ceremonies.options_response(lambda: start_key_addition(core(), me.db_id, credential))
    return ceremonies.then(reply, "register", url_for("account.key_add_verify"))


@blueprint.post("/account/keys/verify")
@staff_only()
def key_add_verify() -> ResponseReturnValue:
    body = request.get_json(silent=True)
    credential = ceremonies.credential_from_body(body)
    if credential is None:
        return ceremonies.missing_credential()
    try:
        register_credential(core(), signed_in_principal().db_id, credential,
                            name=str(body.get("name") or ""))
    except ApprovalError as error:
        return ceremonies.error_response(error)
    flash(gettext("Security key added."), "success")
    return jsonify(redirect=url_for("account.keys"))


@blueprint.get("/account/sessions")
@staff_only()
def sessions() -> ResponseReturnValue:
    me = signed_in_principal()
    with core().db.session() as db:
        rows = live_sessions(db, principal_kind=me.kind, principal_id=me.db_id, idle=idle_limit())
    return render_template("account/sessions.html", sessions=rows, action_form=ActionForm(),
                           current_id=signin_state.current_session_id())


@blueprint.post("/account/sessions/<ref>/revoke")
@staff_only()
def session_revoke(ref: str) -> ResponseReturnValue:
    if not ActionForm().validate_on_submit():
        abort(400)
    me = signed_in_principal()
    bastion = core()
    with bastion.db.session() as db:
        # Someone else's session is reported as missing, like someone else's key.
        found = find_session(db, principal_kind=me.kind, principal_id=me.db_id, ref=ref)
        if found is None:
            abort(404)
        revoke_session(db, bastion.audit, found.id, reason="signed out by its owner",
                       actor=me.actor("staff"))
    if found.id == signin_state.current_session_id():
        signin_state.sign_out("signed out by its owner")
        flash(gettext("You are signed out."), "info")
        return redirect(url_for("auth.sign_in"))
    flash(gettext("That session is signed out."), "success")
    return redirect(url_for("account.sessions"))


@blueprint.post("/account/sessions/revoke-others")
@staff_only()
def session_revoke_others() -> ResponseReturnValue:
    if not ActionForm().validate_on_submit():
        abort(400)
    me = signed_in_principal()
    bastion = core()
    with bastion.db.session() as db:
        count = revoke_all(db, bastion.audit, principal_kind=me.kind, principal_id=me.db_id,
                           reason="other sessions signed out by their owner",
                           actor=me.actor("staff"), keep=signin_state.current_session_id())
    flash(gettext("Other sessions signed out: %(n)d.", n=count), "success")
    return redirect(url_for("account.sessions"))


@blueprint.route("/account/preferences", methods=["GET", "POST"])
@staff_only()
def preferences() -> ResponseReturnValue:
    me = signed_in_principal()
    bastion = core()
    with bastion.db.session() as db:
        user = db.get(StaffUser, me.db_id)
        assert user is not None  # the principal was loaded from it on this request
        form = PreferencesForm()
        if request.method == "GET":  # (wtforms 3.3 lets data= override the posted values)
            form.language.data, form.time_zone.data = user.language, user.time_zone
        if form.validate_on_submit():
            user.language, user.time_zone = form.language.data, form.time_zone.data
            session[signin_state.LANGUAGE_KEY] = user.language
            forget_identity()
            flash(gettext("Preferences saved."), "success")
            return redirect(url_for("account.preferences"))
        return render_template("account/preferences.html", form=form)


@blueprint.post("/language")
@public()
def set_language() -> ResponseReturnValue:
    """The language switch in every page's footer; works before signing in too."""
    form = LanguageForm()
    if form.validate_on_submit():
        session[signin_state.LANGUAGE_KEY] = form.language.data
        principal = current_identity().principal
        if principal is not None and principal.kind == "staff":
            with core().db.session() as db:
                user = db.get(StaffUser, principal.db_id)
                if user is not None:
                    user.language = form.language.data
    return redirect(safe_next(form.next.data) or url_for("home.index"))


"""Admin: hospital staff accounts and their roles (create, change roles, disable, unlock,
end console sessions, issue enrolment links, revoke security keys).

Separation of duties (``bastion.approvals.role_changes``): nobody changes their own roles,
and a role is only granted when another admin or the DPO confirms it with their security
key, so a new account is created without roles plus a pending role change. Guards against
locking the hospital out of its own console: an admin cannot disable themselves and the
last active admin stays an admin. Disabling an account or taking a role away ends the
person's console sessions at once (the account is judged again at their next sign-in).
"""

from __future__ import annotations

from flask import Blueprint, abort, flash, redirect, render_template, request, url_for
from flask.typing import ResponseReturnValue
from flask_babel import gettext, lazy_gettext
from flask_wtf import FlaskForm
from sqlalchemy import func, select
from sqlalchemy.orm import Session
from wtforms import EmailField, PasswordField, StringField
from wtforms.validators import DataRequired, EqualTo, Length, Optional, ValidationError

from bastion.approvals import (
    ApprovalError,
    issue_link,
    link_url,
    list_role_changes,
    propose_role_change,
    revoke_credential,
)
from bastion.console_sessions import find_session, live_sessions, revoke_all, revoke_session
from bastion.models import StaffUser, WebAuthnCredential, utcnow
from bastion.passwords import MIN_LENGTH, WeakPasswordError, check_policy
from bastion.sign_in_lockout import clear_failures
from bastion.staff import StaffError, active_admins, add_staff

from .. import ceremonies, signin_state
from ..access import requires
from ..forms import ActionForm, CheckboxesField, choices
from ..i18n import ROLE_NAMES
from ..identity import Principal, core, idle_limit, signed_in_principal
from ..lookup import get_or_404

blueprint = Blueprint("admin_staff", __name__, url_prefix="/admin/staff")


def role_choices() -> list[tuple[str, str]]:
    return choices((role, ROLE_NAMES[role]) for role in ("approver", "admin", "dpo"))


def _password_policy(form: FlaskForm, field: PasswordField) -> None:
    try:
        check_policy(field.data or "")
    except WeakPasswordError:
        raise ValidationError(gettext("At least %(n)d characters, no space at either end.",
                                      n=MIN_LENGTH)) from None


class StaffCreateForm(FlaskForm):
    username = StringField(lazy_gettext("User name"), validators=[DataRequired(), Length(max=64)],
                           description=lazy_gettext("Lower-case letters, digits, '.', '_' or '-'."))
    full_name = StringField(lazy_gettext("Full name"), validators=[DataRequired(), Length(max=200)])
    email = EmailField(lazy_gettext("E-mail"), validators=[Optional(), Length(max=254)])
    roles = CheckboxesField(lazy_gettext("Roles"), validators=[DataRequired()])
    password = PasswordField(lazy_gettext("Initial password"), validators=[DataRequired(), _password_policy],
                             render_kw={"autocomplete": "new-password"})
    confirm = PasswordField(lazy_gettext("Initial password, again"),
                            validators=[EqualTo("password", lazy_gettext("The two passwords differ."))],
                            render_kw={"autocomplete": "new-password"})

    def __init__(self, *args: object, **kwargs: object) -> None:
        super().__init__(*args, **kwargs)
        self.roles.choices = role_choices()


class StaffRolesForm(FlaskForm):
    roles = CheckboxesField(lazy_gettext("Roles"), validators=[DataRequired()])

    def __init__(self, *args: object, **kwargs: object) -> None:
        super().__init__(*args, **kwargs)
        self.roles.choices = role_choices()


@blueprint.get("")
@requires("admin")
def staff_list() -> ResponseReturnValue:
    with core().db.session() as db:
        users = list(db.scalars(select(StaffUser).order_by(StaffUser.username)))
        keys = dict(db.execute(select(WebAuthnCredential.staff_id, func.count())
                               .where(WebAuthnCredential.staff_id.is_not(None),
                                      WebAuthnCredential.revoked_at.is_(None),
                                      WebAuthnCredential.suspended_at.is_(None))
                               .group_by(WebAuthnCredential.staff_id)).all())
        return render_template("admin/staff_list.html", users=users, keys=keys)


@blueprint.route("/new", methods=["GET", "POST"])
@requires("admin")
def staff_new() -> ResponseReturnValue:
    """The account is created without roles; the roles asked for wait for a second person."""
    form = StaffCreateForm()
    if form.validate_on_submit():
        bastion = core()
        me = signed_in_principal()
        try:
            with bastion.db.session() as db:
                user = add_staff(db, bastion.audit, username=form.username.data.strip(),
                                 full_name=form.full_name.data.strip(),
                                 email=(form.email.data or "").strip() or None,
                                 roles=list(form.roles.data), password=form.password.data,
                                 actor=me.actor("admin"), roles_pending=True,
                                 language=bastion.settings.web.default_language,
                                 time_zone=bastion.settings.web.time_zone)
                user_id = user.id
                token = issue_link(db, bastion, user, actor=me.actor("admin"), now=utcnow())
        except StaffError as error:
            form.username.errors = [*form.username.errors, str(error)]
        else:
            propose_role_change(bastion, user_id, list(form.roles.data), proposer=me.db_id)
            flash(gettext("Staff account %(name)s created. Its roles wait for another "
                          "administrator or the DPO to confirm them.",
                          name=form.username.data.strip()), "success")
            _flash_link(token)
            return redirect(url_for("admin_staff.staff_edit", staff_id=user_id))
    return render_template("admin/staff_new.html", form=form), 400 if form.errors else 200


def _flash_link(token: str) -> None:
    flash(gettext("One-time enrolment link, to hand to the person (it is shown only once): "
                  "%(url)s", url=link_url(core(), token)), "info")


def _role_change_message(error: ApprovalError) -> str:
    return {
        "confirmer_is_party": gettext("You cannot change your own roles: ask another "
                                      "administrator."),
        "role_change_not_pending": gettext("A role change for this account is already waiting "
                                           "for confirmation: have it confirmed or refused first."),
        "last_admin": gettext("This is the last active administrator."),
    }.get(error.code, gettext("No change to save."))


@blueprint.route("/<int:staff_id>", methods=["GET", "POST"])
@requires("admin")
def staff_edit(staff_id: int) -> ResponseReturnValue:
    """Show one account; POST asks for a change of its roles."""
    me = signed_in_principal()
    bastion = core()
    form = StaffRolesForm()
    if request.method == "POST" and form.validate_on_submit():
        with bastion.db.session() as db:
            get_or_404(db, StaffUser, staff_id)
        try:
            change = propose_role_change(bastion, staff_id, list(form.roles.data),
                                         proposer=me.db_id)
        except ApprovalError as error:
            form.roles.errors = [*form.roles.errors, _role_change_message(error)]
        else:
            if change.id is None:
                with bastion.db.session() as db:
                    _end_sessions(db, me, staff_id, "roles removed: " + ", ".join(change.removed))
                flash(gettext("Roles saved."), "success")
            else:
                flash(gettext("Role change filed: another administrator or the DPO must confirm "
                              "it with their security key."), "success")
            return redirect(url_for("admin_staff.staff_edit", staff_id=staff_id))
    changes = list_role_changes(bastion, staff=staff_id, limit=20)
    with bastion.db.session() as db:
        user = get_or_404(db, StaffUser, staff_id)
        if request.method == "GET":  # (wtforms 3.3 lets data= override the posted values)
            form.roles.data = sorted(user.granted_roles)
        keys = list(db.scalars(select(WebAuthnCredential).where(WebAuthnCredential.staff_id == user.id)
                               .order_by(WebAuthnCredential.created_at)))
        sessions = live_sessions(db, principal_kind="staff", principal_id=user.id,
                                 idle=idle_limit())
        return render_template("admin/staff_edit.html", user=user, form=form, keys=keys,
                               sessions=sessions, current_id=signin_state.current_session_id(),
                               action_form=ActionForm(), is_me=user.id == me.db_id,
                               changes=changes), \
            400 if form.errors else 200


def _end_sessions(db: Session, me: Principal, staff_id: int, reason: str) -> int:
    """End the staff member's console sessions; an admin acting on their own account keeps
    the session they are using (they chose the change; signing them out would only hide
    its result)."""
    keep = signin_state.current_session_id() if staff_id == me.db_id else None
    return revoke_all(db, core().audit, principal_kind="staff", principal_id=staff_id,
                      reason=reason, actor=me.actor("admin"), keep=keep)


@blueprint.post("/<int:staff_id>/active")
@requires("admin")
def staff_toggle_active(staff_id: int) -> ResponseReturnValue:
    if not ActionForm().validate_on_submit():
        abort(400)
    me = signed_in_principal()
    bastion = core()
    with bastion.db.session() as db:
        user = get_or_404(db, StaffUser, staff_id)
        if user.active and user.id == me.db_id:
            flash(gettext("You cannot disable your own account."), "error")
        elif user.active and "admin" in user.role_names and active_admins(db) <= 1:
            flash(gettext("This is the last active administrator."), "error")
        else:
            user.active = not user.active
            bastion.audit.append(db, action="staff.enabled" if user.active else "staff.disabled",
                                 outcome="ok", actor=me.actor("admin"),
                                 details={"username": user.username})
            if not user.active:
                _end_sessions(db, me, user.id, "account disabled")
            flash(gettext("Account enabled.") if user.active else gettext(
                "Account disabled: it can no longer sign in."), "success")
    return redirect(url_for("admin_staff.staff_edit", staff_id=staff_id))


@blueprint.post("/<int:staff_id>/unlock")
@requires("admin")
def staff_unlock(staff_id: int) -> ResponseReturnValue:
    if not ActionForm().validate_on_submit():
        abort(400)
    bastion = core()
    with bastion.db.session() as db:
        user = get_or_404(db, StaffUser, staff_id)
        clear_failures(db, StaffUser, StaffUser.id == user.id)
        bastion.audit.append(db, action="staff.unlocked", outcome="ok",
                             actor=signed_in_principal().actor("admin"),
                             details={"username": user.username})
    flash(gettext("Sign-in lock removed."), "success")
    return redirect(url_for("admin_staff.staff_edit", staff_id=staff_id))


@blueprint.post("/<int:staff_id>/sessions/<ref>/revoke")
@requires("admin")
def staff_session_revoke(staff_id: int, ref: str) -> ResponseReturnValue:
    if not ActionForm().validate_on_submit():
        abort(400)
    me = signed_in_principal()
    bastion = core()
    with bastion.db.session() as db:
        get_or_404(db, StaffUser, staff_id)
        found = find_session(db, principal_kind="staff", principal_id=staff_id, ref=ref)
        if found is None:
            abort(404)
        revoke_session(db, bastion.audit, found.id, reason="signed out by an administrator",
                       actor=me.actor("admin"))
    if found.id == signin_state.current_session_id():
        signin_state.sign_out("signed out by an administrator")
        return redirect(url_for("auth.sign_in"))
    flash(gettext("That session is signed out."), "success")
    return redirect(url_for("admin_staff.staff_edit", staff_id=staff_id))


@blueprint.post("/<int:staff_id>/sessions/revoke-all")
@requires("admin")
def staff_sessions_revoke_all(staff_id: int) -> ResponseReturnValue:
    if not ActionForm().validate_on_submit():
        abort(400)
    me = signed_in_principal()
    with core().db.session() as db:
        get_or_404(db, StaffUser, staff_id)
        count = _end_sessions(db, me, staff_id, "all sessions signed out by an administrator")
    flash(gettext("Sessions signed out: %(n)d.", n=count), "success")
    return redirect(url_for("admin_staff.staff_edit", staff_id=staff_id))


@blueprint.post("/<int:staff_id>/enrolment-link")
@requires("admin")
def staff_enrolment_link(staff_id: int) -> ResponseReturnValue:
    """A one-time link with which the person registers a security key without holding one
    (first key, or all keys lost, revoked or suspended)."""
    if not ActionForm().validate_on_submit():
        abort(400)
    me = signed_in_principal()
    bastion = core()
    with bastion.db.session() as db:
        user = get_or_404(db, StaffUser, staff_id)
        if user.id == me.db_id:
            # Else a stolen admin session could enrol its own key through a link.
            flash(gettext("You cannot issue an enrolment link for yourself: ask another "
                          "administrator."), "error")
            return redirect(url_for("admin_staff.staff_edit", staff_id=staff_id))
        token = issue_link(db, bastion, user, actor=me.actor("admin"), now=utcnow())
    _flash_link(token)
    return redirect(url_for("admin_staff.staff_edit", staff_id=staff_id))


@blueprint.post("/<int:staff_id>/keys/<int:key_id>/revoke")
@requires("admin")
def staff_key_revoke(staff_id: int, key_id: int) -> ResponseReturnValue:
    """Revoke someone's key (lost, or suspended as possibly cloned); it is kept, unusable,
    with the reviews it signed."""
    if not ActionForm().validate_on_submit():
        abort(400)
    me = signed_in_principal()
    with core().db.session() as db:
        key = db.get(WebAuthnCredential, key_id)
        if key is None or key.staff_id != staff_id:
            abort(404)
    try:
        revoke_credential(core(), staff_id, key_id, actor=me.actor("admin"),
                          reason="revoked by an administrator")
    except ApprovalError as error:
        flash(ceremonies.error_body(error)["message"], "error")
    else:
        flash(gettext("Key revoked."), "success")
    return redirect(url_for("admin_staff.staff_edit", staff_id=staff_id))

"""Admin: hospital staff accounts and their roles (create, change roles, disable, unlock).

Guards against locking the hospital out of its own console: an admin cannot disable
themselves or drop their own admin role, and the last active admin stays an admin.
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

from bastion.models import StaffRole, StaffUser, WebAuthnCredential
from bastion.passwords import MIN_LENGTH, WeakPasswordError, check_policy
from bastion.staff import StaffError, add_staff

from ..access import requires
from ..forms import ActionForm, CheckboxesField, choices
from ..i18n import ROLE_NAMES
from ..identity import Principal, core, signed_in_principal

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


def active_admins(db: Session) -> int:
    return db.scalar(select(func.count(func.distinct(StaffUser.id))).select_from(StaffUser)
                     .join(StaffRole).where(StaffRole.role == "admin",
                                            StaffUser.active.is_(True))) or 0


@blueprint.get("")
@requires("admin")
def staff_list() -> ResponseReturnValue:
    with core().db.session() as db:
        users = list(db.scalars(select(StaffUser).order_by(StaffUser.username)))
        keys = dict(db.execute(select(WebAuthnCredential.staff_id, func.count())
                               .where(WebAuthnCredential.staff_id.is_not(None))
                               .group_by(WebAuthnCredential.staff_id)).all())
        return render_template("admin/staff_list.html", users=users, keys=keys)


@blueprint.route("/new", methods=["GET", "POST"])
@requires("admin")
def staff_new() -> ResponseReturnValue:
    form = StaffCreateForm()
    if form.validate_on_submit():
        bastion = core()
        try:
            with bastion.db.session() as db:
                user = add_staff(db, bastion.audit, username=form.username.data.strip(),
                                 full_name=form.full_name.data.strip(),
                                 email=(form.email.data or "").strip() or None,
                                 roles=list(form.roles.data), password=form.password.data,
                                 actor=signed_in_principal().actor("admin"))
                user_id = user.id
        except StaffError as error:
            form.username.errors = [*form.username.errors, str(error)]
        else:
            flash(gettext("Staff account %(name)s created. They register a security key at "
                          "their first sign-in.", name=form.username.data.strip()), "success")
            return redirect(url_for("admin_staff.staff_edit", staff_id=user_id))
    return render_template("admin/staff_new.html", form=form), 400 if form.errors else 200


def _user_or_404(db: Session, staff_id: int) -> StaffUser:
    user = db.get(StaffUser, staff_id)
    if user is None:
        abort(404)
    return user


@blueprint.route("/<int:staff_id>", methods=["GET", "POST"])
@requires("admin")
def staff_edit(staff_id: int) -> ResponseReturnValue:
    """Show one account; POST changes its roles."""
    me = signed_in_principal()
    bastion = core()
    with bastion.db.session() as db:
        user = _user_or_404(db, staff_id)
        form = StaffRolesForm()
        if request.method == "GET":  # (wtforms 3.3 lets data= override the posted values)
            form.roles.data = sorted(user.role_names)
        if form.validate_on_submit():
            problem = _roles_problem(db, me, user, set(form.roles.data))
            if problem:
                form.roles.errors = [*form.roles.errors, problem]
            else:
                before = sorted(user.role_names)
                after = sorted(set(form.roles.data))
                user.roles = [role for role in user.roles if role.role in after] + [
                    StaffRole(role=role) for role in after if role not in before]
                bastion.audit.append(db, action="staff.roles_changed", outcome="ok",
                                     actor=me.actor("admin"),
                                     details={"username": user.username, "before": before,
                                              "after": after})
                flash(gettext("Roles saved."), "success")
                return redirect(url_for("admin_staff.staff_edit", staff_id=staff_id))
        keys = list(db.scalars(select(WebAuthnCredential).where(WebAuthnCredential.staff_id == user.id)
                               .order_by(WebAuthnCredential.created_at)))
        return render_template("admin/staff_edit.html", user=user, form=form, keys=keys,
                               action_form=ActionForm(), is_me=user.id == me.db_id), \
            400 if form.errors else 200


def _roles_problem(db: Session, me: Principal, user: StaffUser, roles: set[str]) -> str | None:
    if "admin" in user.role_names and "admin" not in roles:
        if user.id == me.db_id:
            return gettext("You cannot remove your own administrator role.")
        if user.active and active_admins(db) <= 1:
            return gettext("This is the last active administrator.")
    return None


@blueprint.post("/<int:staff_id>/active")
@requires("admin")
def staff_toggle_active(staff_id: int) -> ResponseReturnValue:
    if not ActionForm().validate_on_submit():
        abort(400)
    me = signed_in_principal()
    bastion = core()
    with bastion.db.session() as db:
        user = _user_or_404(db, staff_id)
        if user.active and user.id == me.db_id:
            flash(gettext("You cannot disable your own account."), "error")
        elif user.active and "admin" in user.role_names and active_admins(db) <= 1:
            flash(gettext("This is the last active administrator."), "error")
        else:
            user.active = not user.active
            bastion.audit.append(db, action="staff.enabled" if user.active else "staff.disabled",
                                 outcome="ok", actor=me.actor("admin"),
                                 details={"username": user.username})
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
        user = _user_or_404(db, staff_id)
        user.failed_sign_ins = 0
        user.locked_until = None
        bastion.audit.append(db, action="staff.unlocked", outcome="ok",
                             actor=signed_in_principal().actor("admin"),
                             details={"username": user.username})
    flash(gettext("Sign-in lock removed."), "success")
    return redirect(url_for("admin_staff.staff_edit", staff_id=staff_id))

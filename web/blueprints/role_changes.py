"""Role changes waiting for a second person: the list, one change's page, confirming it with
a security key (a WebAuthn assertion over the change's exact content) and refusing it.

Admins and the DPO both see these pages: either may confirm a change they neither proposed
nor are the subject of. All policy is ``bastion.approvals.role_changes``'; this module
offers the confirm button only to whoever may use it and says why the core refused.
"""

from __future__ import annotations

from flask import Blueprint, abort, flash, jsonify, redirect, render_template, request, url_for
from flask.typing import ResponseReturnValue
from flask_babel import gettext, lazy_gettext
from flask_wtf import FlaskForm
from wtforms import TextAreaField
from wtforms.validators import DataRequired, Length

from bastion.approvals import (
    ApprovalError,
    RoleChangeInfo,
    confirm_role_change,
    get_role_change,
    list_role_changes,
    needs_vouching,
    refuse_role_change,
    role_change_options,
    vouch_for_approver,
    vouch_options,
)
from bastion.console_sessions import revoke_all

from .. import ceremonies
from ..access import requires
from ..identity import core, signed_in_principal

blueprint = Blueprint("role_changes", __name__, url_prefix="/admin/role-changes")


class RefuseForm(FlaskForm):
    reason = TextAreaField(lazy_gettext("Why is it refused?"),
                           validators=[DataRequired(), Length(max=2000)])


def _refusals() -> dict[str, str]:
    return {
        "not_a_confirmer": gettext("Only an administrator or the DPO confirms role changes."),
        "confirmer_is_party": gettext(
            "You proposed this role change or it is about you: another administrator or the DPO "
            "must confirm it."),
        "role_change_not_pending": gettext("This role change has already been decided. Reload the page."),
        "role_change_not_found": gettext("This role change does not exist."),
        "request_changed": gettext(
            "The account's roles changed since this role change was proposed: refuse it and "
            "propose it again."),
    }


def _refusal(error: ApprovalError) -> ResponseReturnValue:
    message = _refusals().get(error.code) or ceremonies.error_body(error)["message"]
    return jsonify(error={"code": error.code, "message": message}), error.status


def _change_or_404(change_id: int) -> RoleChangeInfo:
    try:
        return get_role_change(core(), change_id)
    except ApprovalError as error:
        if error.code == "role_change_not_found":
            abort(404)
        raise


def why_not_confirm(change: RoleChangeInfo) -> str | None:
    """Why the visitor gets no confirm button (None: they may confirm)."""
    me = signed_in_principal()
    if change.status != "pending":
        return gettext("This role change is already decided.")
    if me.username in (change.proposed_by, change.username):
        return gettext("You proposed this role change or it is about you: another administrator "
                       "or the DPO must confirm it.")
    return None


@blueprint.get("")
@requires("admin", "dpo")
def index() -> ResponseReturnValue:
    bastion = core()
    return render_template("role_changes/index.html",
                           pending=list_role_changes(bastion, status="pending"),
                           recent=[c for c in list_role_changes(bastion, limit=50)
                                   if c.status != "pending"])


@blueprint.get("/<int:change_id>")
@requires("admin", "dpo")
def show(change_id: int) -> ResponseReturnValue:
    change = _change_or_404(change_id)
    me = signed_in_principal()
    may_vouch = ("dpo" in me.roles and me.username not in (change.proposed_by, change.username)
                 and needs_vouching(core(), change_id))
    return render_template("role_changes/show.html", change=change, why_not=why_not_confirm(change),
                           refuse_form=RefuseForm(), may_vouch=may_vouch)


@blueprint.post("/<int:change_id>/options")
@requires("admin", "dpo")
def confirm_options(change_id: int) -> ResponseReturnValue:
    """A challenge bound to this change's content and to the confirmer (the core's)."""
    try:
        options = role_change_options(core(), change_id, signed_in_principal().db_id)
    except ApprovalError as error:
        return _refusal(error)
    return ceremonies.options_response(lambda: options)


@blueprint.post("/<int:change_id>/confirm")
@requires("admin", "dpo")
def confirm(change_id: int) -> ResponseReturnValue:
    credential = ceremonies.credential_from_body(request.get_json(silent=True))
    if credential is None:
        return ceremonies.missing_credential()
    me = signed_in_principal()
    try:
        change = confirm_role_change(core(), change_id, me.db_id, credential)
    except ApprovalError as error:
        return _refusal(error)
    if change.removed:
        # Roles taken away end the person's console sessions, as an immediate removal does.
        bastion = core()
        with bastion.db.session() as db:
            revoke_all(db, bastion.audit, principal_kind="staff", principal_id=change.staff_id,
                       reason="roles removed: " + ", ".join(change.removed),
                       actor=me.actor("admin"))
    flash(gettext("Role change confirmed: %(name)s now has the roles %(roles)s.",
                  name=change.username, roles=", ".join(change.after)), "success")
    return jsonify(redirect=url_for("role_changes.show", change_id=change_id))


@blueprint.post("/<int:change_id>/refuse")
@requires("admin", "dpo")
def refuse(change_id: int) -> ResponseReturnValue:
    _change_or_404(change_id)
    form = RefuseForm()
    if not form.validate_on_submit():
        flash(gettext("Say why the role change is refused."), "error")
        return redirect(url_for("role_changes.show", change_id=change_id))
    try:
        refuse_role_change(core(), change_id, signed_in_principal().db_id, form.reason.data)
    except ApprovalError as error:
        flash(_refusals().get(error.code) or ceremonies.error_body(error)["message"], "error")
    else:
        flash(gettext("Role change refused."), "success")
    return redirect(url_for("role_changes.show", change_id=change_id))


@blueprint.post("/<int:change_id>/vouch/options")
@requires("dpo")
def vouch_challenge(change_id: int) -> ResponseReturnValue:
    try:
        options = vouch_options(core(), change_id, signed_in_principal().db_id)
    except ApprovalError as error:
        return _refusal(error)
    return ceremonies.options_response(lambda: options)


@blueprint.post("/<int:change_id>/vouch")
@requires("dpo")
def vouch(change_id: int) -> ResponseReturnValue:
    """The DPO confirms a new approver at once (else their probation runs its course)."""
    credential = ceremonies.credential_from_body(request.get_json(silent=True))
    if credential is None:
        return ceremonies.missing_credential()
    try:
        change = vouch_for_approver(core(), change_id, signed_in_principal().db_id, credential)
    except ApprovalError as error:
        return _refusal(error)
    flash(gettext("%(name)s's approvals now count towards two-person approvals.",
                  name=change.username), "success")
    return jsonify(redirect=url_for("role_changes.show", change_id=change_id))

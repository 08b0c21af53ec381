"""Targets (DPI servers) and their accounts: everyone on staff reads; admins add.

A target is added with its host key pasted by the admin (from the server's console or
``ssh-keyscan`` checked out of band): the console never fetches it over the network
itself, so the pin is what the admin vouched for.
"""

from __future__ import annotations

import re
from typing import Any

import asyncssh
from flask import Blueprint, flash, redirect, render_template, url_for
from flask.typing import ResponseReturnValue
from flask_babel import gettext, lazy_gettext
from flask_wtf import FlaskForm
from sqlalchemy import select
from wtforms import IntegerField, StringField, TextAreaField
from wtforms.validators import DataRequired, Length, NumberRange, Optional

from bastion.inventory import ACCOUNT_NAME, InventoryError, add_target, parse_labels
from bastion.models import DATA_CATEGORIES, Target, TargetAccount

from ..access import requires
from ..forms import CheckboxesField, choices
from ..i18n import category_name
from ..identity import core, signed_in_principal
from ..lookup import get_or_404

blueprint = Blueprint("admin_targets", __name__, url_prefix="/targets")


def category_choices() -> list[Any]:
    return choices((category, category_name(category)) for category in DATA_CATEGORIES)


def split_names(text: str) -> list[str]:
    return [name for name in re.split(r"[\s,]+", text or "") if name]


class TargetForm(FlaskForm):
    name = StringField(lazy_gettext("Name"), validators=[DataRequired(), Length(max=100)],
                       description=lazy_gettext("Lower-case letters, digits, '.' and '-', e.g. dpi-app-01."))
    host = StringField(lazy_gettext("Host name or address"), validators=[DataRequired(), Length(max=255)])
    port = IntegerField(lazy_gettext("SSH port"), default=22, validators=[NumberRange(1, 65535)])
    host_key = TextAreaField(lazy_gettext("Host key"), validators=[DataRequired(), Length(max=16000)],
                             description=lazy_gettext(
                                 "One line in OpenSSH form, e.g. ssh-ed25519 AAAA... (from "
                                 "/etc/ssh/ssh_host_ed25519_key.pub on the server)."))
    accounts = StringField(lazy_gettext("Accounts"), validators=[DataRequired(), Length(max=1000)],
                           description=lazy_gettext("Unix user names, separated by spaces or commas."))
    labels = TextAreaField(lazy_gettext("Labels"), validators=[Optional(), Length(max=4000)],
                           description=lazy_gettext("One key=value per line, e.g. role=app."))
    data_categories = CheckboxesField(lazy_gettext("Data categories on this server"))
    description = TextAreaField(lazy_gettext("Description"), validators=[Optional(), Length(max=2000)])

    def __init__(self, *args: object, **kwargs: object) -> None:
        super().__init__(*args, **kwargs)
        self.data_categories.choices = category_choices()


class AccountForm(FlaskForm):
    account = StringField(lazy_gettext("Account name"), validators=[DataRequired(), Length(max=64)])


def fingerprint(host_key: str) -> str:
    try:
        return asyncssh.import_public_key(host_key).get_fingerprint("sha256")
    except (asyncssh.KeyImportError, ValueError):
        return "?"


@blueprint.get("")
@requires("admin", "approver", "dpo")
def targets() -> ResponseReturnValue:
    with core().db.session() as db:
        rows = list(db.scalars(select(Target).order_by(Target.name)))
        return render_template("admin/targets.html", targets=rows)


@blueprint.route("/new", methods=["GET", "POST"])
@requires("admin")
def target_new() -> ResponseReturnValue:
    form = TargetForm()
    if form.validate_on_submit():
        bastion = core()
        try:
            labels = parse_labels([line for line in (form.labels.data or "").splitlines() if line.strip()])
            with bastion.db.session() as db:
                target = add_target(
                    db, bastion.audit, name=form.name.data.strip(), host=form.host.data.strip(),
                    port=form.port.data, host_key=form.host_key.data,
                    accounts=split_names(form.accounts.data), labels=labels,
                    data_categories=list(form.data_categories.data),
                    description=(form.description.data or "").strip() or None,
                    actor=signed_in_principal().actor("admin"))
                target_id = target.id
        except InventoryError as error:
            # The core's message names the field and what is wrong with it.
            form.form_errors.append(str(error))
        else:
            flash(gettext("Target %(name)s added; its host key is pinned.", name=form.name.data.strip()),
                  "success")
            return redirect(url_for("admin_targets.target_detail", target_id=target_id))
    return render_template("admin/target_new.html", form=form), 400 if form.errors else 200


@blueprint.get("/<int:target_id>")
@requires("admin", "approver", "dpo")
def target_detail(target_id: int) -> ResponseReturnValue:
    with core().db.session() as db:
        target = get_or_404(db, Target, target_id)
        return render_template("admin/target_detail.html", target=target,
                               fingerprint=fingerprint(target.host_key), form=AccountForm())


@blueprint.post("/<int:target_id>/accounts")
@requires("admin")
def account_add(target_id: int) -> ResponseReturnValue:
    form = AccountForm()
    bastion = core()
    with bastion.db.session() as db:
        target = get_or_404(db, Target, target_id)
        name = (form.account.data or "").strip()
        if not form.validate_on_submit() or not ACCOUNT_NAME.match(name):
            flash(gettext("%(name)s is not a valid Unix user name.", name=name or "''"), "error")
        elif any(account.name == name for account in target.accounts):
            flash(gettext("The account %(name)s already exists on this target.", name=name), "error")
        else:
            target.accounts.append(TargetAccount(name=name))
            bastion.audit.append(db, action="target.account_added", outcome="ok",
                                 actor=signed_in_principal().actor("admin"), target=target.name,
                                 account=name)
            flash(gettext("Account %(name)s added.", name=name), "success")
    return redirect(url_for("admin_targets.target_detail", target_id=target_id))

"""The demo's mailbox: every e-mail the bastion sent while ``bastion demo`` runs, caught by
its local mail sink (bastion.demo.mail_sink) instead of reaching anyone. Registered only by
the demo (``BASTION_DEMO_MAILBOX`` in the Flask config): a production console has no such
page."""

from __future__ import annotations

from pathlib import Path

from flask import Blueprint, current_app, render_template
from flask.typing import ResponseReturnValue

from bastion.demo.mailbox import read_mailbox

from ..access import requires

blueprint = Blueprint("demo_mailbox", __name__, url_prefix="/demo")


@blueprint.get("/mailbox")
@requires("approver", "admin", "dpo")
def index() -> ResponseReturnValue:
    maildir = Path(current_app.config["BASTION_DEMO_MAILBOX"])
    return render_template("demo/mailbox.html", mails=read_mailbox(maildir))

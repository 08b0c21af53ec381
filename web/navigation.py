"""What every template knows: who is visiting and the menu they may use.

The menu is derived from the access rules themselves, so a link is shown exactly when
its page would let the visitor in.
"""

from __future__ import annotations

from typing import Any

from flask import Flask, current_app, g, request
from flask_babel import get_locale, get_timezone, lazy_gettext

from bastion.approvals import pending_requests
from bastion.models import utcnow

from .access import rule_for
from .forms import csrf_field
from .identity import current_identity

MENU = (
    ("home.index", lazy_gettext("Home")),
    ("requests.index", lazy_gettext("Requests")),
    ("live.index", lazy_gettext("Live sessions")),
    ("sessions.history", lazy_gettext("Sessions")),
    ("grants.index", lazy_gettext("Grants")),
    ("logbook.index", lazy_gettext("Logbook")),
    ("vendors.index", lazy_gettext("Vendors")),
    ("admin_targets.targets", lazy_gettext("Targets")),
    ("admin_staff.staff_list", lazy_gettext("Staff")),
    ("role_changes.index", lazy_gettext("Role changes")),
    ("audit.events", lazy_gettext("Audit log")),
    ("access_review.index", lazy_gettext("Access reviews")),
    ("dpo.home", lazy_gettext("Controls")),
    ("break_glass.declare_form", lazy_gettext("Emergency access")),
    ("demo_mailbox.index", lazy_gettext("Demo mailbox")),  # only in `bastion demo`
    ("account.keys", lazy_gettext("My security keys")),
    ("account.sessions", lazy_gettext("My sessions")),
    ("account.preferences", lazy_gettext("Preferences")),
)


def menu_for_visitor() -> list[tuple[str, Any, bool]]:
    identity = current_identity()
    if identity.principal is None:
        return []
    items = []
    for endpoint, label in MENU:
        rule = rule_for(current_app, endpoint)
        if rule is not None and rule.allows(identity):
            # Pages under a menu entry (a target's detail) highlight it; the account
            # entries share a blueprint, so they match exactly.
            area = endpoint.split(".")[0]
            current = request.endpoint == endpoint or (
                area == request.blueprint and area != "account")
            items.append((endpoint, label, current))
    return items


# Requests answered with data, not a page: no menu, so no badge to count.
NO_MENU_ENDPOINTS = frozenset({"static", "assets.asciinema_player", "live.feed", "replay.cast",
                               "health.healthz", "health.readyz", "health.metrics"})


def count_pending_badge() -> None:
    """``before_request``: how many requests wait for this approver's review, for the
    menu's badge. Counted before the view, not while rendering: views render inside
    their own transaction, and on SQLite a second one opened then would wait for it."""
    principal = current_identity().principal
    if (request.method != "GET" or request.endpoint in NO_MENU_ENDPOINTS
            or request.path.startswith("/api/") or principal is None
            or principal.kind != "staff" or not principal.has_role("approver")):
        return
    g.pending_badge = len(pending_requests(current_app.extensions["bastion"],
                                           for_staff=principal.db_id))


def template_globals() -> dict[str, Any]:
    from .blueprints.account import LanguageForm
    from .blueprints.auth import SignOutForm

    identity = current_identity()
    return {
        "identity": identity,
        "principal": identity.principal,
        "menu": menu_for_visitor(),
        "pending_badge": g.get("pending_badge", 0),
        "sign_out_form": SignOutForm(),
        "language_form": LanguageForm(data={"language": str(get_locale()),
                                            "next": request.full_path.rstrip("?")}),
        "current_locale": str(get_locale()),
        "current_timezone": str(get_timezone()),
        "idle_seconds": current_app.config["BASTION_IDLE_MINUTES"] * 60,
        "now": utcnow,
    }


def install(app: Flask) -> None:
    app.before_request(count_pending_badge)
    app.context_processor(template_globals)
    app.jinja_env.globals["csrf_field"] = csrf_field

"""Language and time zone: French by default, English available; dates shown in the
viewer's time zone (their own setting, else the bastion's ``web.time_zone``)."""

from __future__ import annotations

from datetime import datetime

from flask import Flask, current_app, session
from flask_babel import Babel, format_datetime, lazy_gettext

from . import signin_state
from .identity import current_identity

LANGUAGES = {"fr": "Français", "en": "English"}


def select_locale() -> str:
    chosen = session.get(signin_state.LANGUAGE_KEY)
    if chosen in LANGUAGES:
        return chosen
    principal = current_identity().principal
    if principal is not None and principal.language in LANGUAGES:
        return principal.language
    return current_app.config["BABEL_DEFAULT_LOCALE"]


def select_timezone() -> str:
    principal = current_identity().principal
    if principal is not None and principal.time_zone:
        return principal.time_zone
    return current_app.config["BABEL_DEFAULT_TIMEZONE"]


# Names people read for the codes stored in the database.
ROLE_NAMES = {
    "approver": lazy_gettext("Approver"),
    "admin": lazy_gettext("Administrator"),
    "dpo": lazy_gettext("DPO / auditor"),
    "technician": lazy_gettext("Technician"),
}
CATEGORY_NAMES = {
    "administrative": lazy_gettext("Administrative data"),
    "ins": lazy_gettext("National health identifier (INS)"),
    "health": lazy_gettext("Health data"),
    "documents": lazy_gettext("Medical documents"),
    "staff": lazy_gettext("Hospital staff data"),
    "technical": lazy_gettext("Technical data only"),
}


def role_names(roles: object) -> str:
    return ", ".join(str(ROLE_NAMES.get(role, role)) for role in sorted(roles))  # type: ignore[call-overload]


def category_name(category: str) -> str:
    return str(CATEGORY_NAMES.get(category, category))


def when(value: datetime | None, style: str = "short") -> str:
    """A datetime for people: in their zone and language; empty when there is none."""
    if value is None:
        return ""
    return format_datetime(value, style)


def install(app: Flask) -> None:
    Babel(app, locale_selector=select_locale, timezone_selector=select_timezone)
    app.jinja_env.filters["when"] = when
    app.jinja_env.filters["role_names"] = role_names
    app.jinja_env.filters["category_name"] = category_name
    app.jinja_env.globals["LANGUAGES"] = LANGUAGES

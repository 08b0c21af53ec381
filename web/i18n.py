"""Language and time zone: French by default, English available; dates shown in the
viewer's time zone (their own setting, else the bastion's ``web.time_zone``), formatted by
the same helper as the SSH lines and e-mails (``bastion.i18n.moment``), zone named.

The console's own words are in ``web/translations``; what the bastion decided (a contract
check's verdict, say) is put into words by the bastion's catalogue, in the page's language."""

from __future__ import annotations

from datetime import datetime

from flask import Flask, current_app, request, session
from flask_babel import Babel, get_locale, get_timezone, lazy_gettext

from bastion.i18n import moment
from bastion.i18n.catalogue import Translator, translator
from bastion.i18n.verdicts import verdict_reasons, verdict_summary

from . import signin_state
from .identity import current_identity

LANGUAGES = {"fr": "Français", "en": "English"}


def select_locale() -> str:
    """The language picked in this browser, else the signed-in person's (their account),
    else the browser's (Accept-Language), else the hospital's (web.default_language)."""
    chosen = session.get(signin_state.LANGUAGE_KEY)
    if chosen in LANGUAGES:
        return chosen
    principal = current_identity().principal
    if principal is not None and principal.language in LANGUAGES:
        return principal.language
    asked = request.accept_languages.best_match(LANGUAGES) if request else None
    return asked or current_app.config["BABEL_DEFAULT_LOCALE"]


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
    """A datetime for people: in their zone and language, the zone named; empty when there
    is none."""
    return moment(value, str(get_locale() or "fr"), get_timezone(), style)


def bastion_words() -> Translator:
    """The bastion's catalogue in the page's language."""
    return translator(str(get_locale() or "fr"))


def refusal_text(error: object) -> str:
    """A bastion refusal (ApprovalError, BreakGlassError) in the page's language."""
    return bastion_words().refusal(error, get_timezone())


def verdict_line(verdict: dict[str, object] | None) -> str:
    """A stored contract check's one line ("refused: ..."), in the page's language."""
    return verdict_summary(verdict or {}, bastion_words(), get_timezone())


def verdict_details(verdict: dict[str, object] | None) -> list[str]:
    """A stored contract check's detailed reasons, in the page's language and the reader's
    time zone."""
    return verdict_reasons(verdict or {}, bastion_words(), get_timezone())


def install(app: Flask) -> None:
    Babel(app, locale_selector=select_locale, timezone_selector=select_timezone)
    app.jinja_env.filters["when"] = when
    app.jinja_env.filters["verdict_line"] = verdict_line
    app.jinja_env.filters["verdict_reasons"] = verdict_details
    app.jinja_env.filters["role_names"] = role_names
    app.jinja_env.filters["category_name"] = category_name
    app.jinja_env.globals["LANGUAGES"] = LANGUAGES

"""Who may call which route: one declarative rule per view, checked in one place.

A view says who may reach it with a decorator placed *under* the route decorator::

    @blueprint.get("/admin/staff")
    @requires("admin")
    def staff_list(): ...

The decorator only records the rule on the function; :func:`enforce` (a ``before_request``
hook) looks the rule up for every request and refuses when it does not fit. A view
without a rule is refused for everyone (fail closed), and the route x role test in
``tests/web/test_route_roles.py`` fails, so a new route cannot ship without a rule.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any, TypeVar
from urllib.parse import urlsplit

from flask import Flask, abort, current_app, g, redirect, request, url_for
from flask.typing import ResponseReturnValue

from .identity import Identity, current_identity

# Every kind of visitor the console knows. "key-pending" and "enrol-pending" have given a
# correct password and must now use (or first register) a security key: a password alone
# reaches nothing else.
ROLES = ("approver", "admin", "dpo", "technician")
STAFF_ROLES = ("approver", "admin", "dpo")
IDENTITIES = ("anonymous", "key-pending", "enrol-pending", *ROLES)
# Longer than any console URL; a longer "next" is not one of ours.
MAX_NEXT_LENGTH = 2048

F = TypeVar("F", bound=Callable[..., Any])


@dataclass(frozen=True)
class Rule:
    """The identities a route admits. ``public`` routes admit everyone."""

    admits: frozenset[str]
    label: str

    def allows(self, identity: Identity) -> bool:
        return bool(self.admits & identity.kinds)


def _attach(rule: Rule) -> Callable[[F], F]:
    def decorate(view: F) -> F:
        view.__access_rule__ = rule  # type: ignore[attr-defined]
        return view

    return decorate


def requires(*roles: str) -> Callable[[F], F]:
    """Signed-in (password and key) principals holding at least one of ``roles``."""
    unknown = set(roles) - set(ROLES)
    if unknown or not roles:
        raise ValueError(f"unknown roles {sorted(unknown)}; use {ROLES}")
    return _attach(Rule(frozenset(roles), "requires " + ",".join(sorted(roles))))


def staff_only() -> Callable[[F], F]:
    return requires(*STAFF_ROLES)


def public() -> Callable[[F], F]:
    """Anyone, signed in or not: sign-in pages, static files, health."""
    return _attach(Rule(frozenset(IDENTITIES), "public"))


def key_pending() -> Callable[[F], F]:
    """Password verified, security-key assertion still due."""
    return _attach(Rule(frozenset({"key-pending"}), "key-pending"))


def enrol_pending() -> Callable[[F], F]:
    """Password verified for a staff member without any key: register one first."""
    return _attach(Rule(frozenset({"enrol-pending"}), "enrol-pending"))


# Endpoints Flask itself defines, whose functions we cannot decorate.
FRAMEWORK_RULES = {"static": Rule(frozenset(IDENTITIES), "public")}


def rule_for(app: Flask, endpoint: str | None) -> Rule | None:
    if endpoint is None:
        return None
    if endpoint in FRAMEWORK_RULES:
        return FRAMEWORK_RULES[endpoint]
    view = app.view_functions.get(endpoint)
    return getattr(view, "__access_rule__", None)


def rules_by_endpoint(app: Flask) -> dict[str, Rule | None]:
    return {endpoint: rule_for(app, endpoint) for endpoint in app.view_functions}


def enforce() -> ResponseReturnValue | None:
    """``before_request``: refuse unless the route's rule admits the visitor.

    Anonymous visitors are sent to the sign-in page (for pages) rather than shown a 403,
    so a bookmark works after signing in; a half-signed-in visitor is sent back to the
    key step; anyone else gets 403.
    """
    if request.endpoint is None:
        return None  # 404 or 405: Flask answers, nothing is revealed
    rule = rule_for(current_app, request.endpoint)
    identity = current_identity()
    if rule is not None and rule.allows(identity):
        return None
    g.access_refused = True  # for the route x role test; nothing else reads it
    if rule is not None and wants_page() and "anonymous" in identity.kinds:
        # Vendor pages have their own sign-in (password and one-time code).
        door = "portal_auth.sign_in" if request.path.startswith("/portal/") else "auth.sign_in"
        return redirect(url_for(door, next=safe_next(request.full_path)))
    if rule is not None and wants_page() and identity.kinds & {"key-pending", "enrol-pending"}:
        step = "auth.key_step" if "key-pending" in identity.kinds else "auth.enrol"
        return redirect(url_for(step))
    abort(403)


def wants_page() -> bool:
    return request.method == "GET" and not request.path.startswith("/api/")


def safe_next(target: str | None) -> str | None:
    """Only same-origin paths: an open redirect would make the sign-in page a phishing tool.

    Browsers drop tabs and line breaks from a URL and read ``\\`` as ``/``, so
    ``/<tab>/evil.example`` is ``//evil.example``, another site: any control character,
    whitespace or backslash refuses the target, and what is left must parse as a path with
    neither scheme nor host.
    """
    if not target or not isinstance(target, str) or len(target) > MAX_NEXT_LENGTH:
        return None
    if any(ch.isspace() or not ch.isprintable() or ch == "\\" for ch in target):
        return None
    if not target.startswith("/") or target.startswith("//"):
        return None
    parts = urlsplit(target)
    if parts.scheme or parts.netloc:
        return None
    return target.rstrip("?") or None


def identities_admitted(rule: Rule | None) -> tuple[str, ...]:
    if rule is None:
        return ()
    return tuple(kind for kind in IDENTITIES if kind in rule.admits)


def all_identities() -> Iterable[str]:
    return IDENTITIES

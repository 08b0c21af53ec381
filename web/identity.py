"""Who is visiting: a signed-in principal (staff or technician), a half-signed-in staff
member (password verified, key due), or nobody.

Principals are plain values rebuilt from the database on every request, so disabling an
account or removing a role takes effect on the user's next click, and no ORM object
outlives the transaction that loaded it. The loader also requires the cookie's console
session (``bastion.console_sessions``) to be live: revoked, idle, past its absolute limit,
missing, or impossible to check (database error) all mean signed out.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from datetime import timedelta

from flask import current_app, g, session
from flask_login import AnonymousUserMixin, LoginManager, UserMixin, current_user
from sqlalchemy.orm import Session

from bastion.audit import Actor
from bastion.console_sessions import check_session
from bastion.context import Bastion
from bastion.models import StaffUser, Technician

from . import signin_state

log = logging.getLogger("web.identity")
ENDED_KEY = "console_session_ended"


@dataclass(frozen=True)
class Principal(UserMixin):
    kind: str  # staff | technician
    db_id: int
    username: str
    full_name: str
    roles: frozenset[str]
    language: str | None = None
    time_zone: str | None = None

    def get_id(self) -> str:
        return f"{self.kind}:{self.db_id}"

    def has_role(self, *roles: str) -> bool:
        return bool(self.roles & set(roles))

    def actor(self, role: str | None = None) -> Actor:
        """The audit actor: ``staff:alice`` acting as ``role`` (default: all roles)."""
        return Actor(f"{self.kind}:{self.username}", role or ",".join(sorted(self.roles)))


class Anonymous(AnonymousUserMixin):
    roles: frozenset[str] = frozenset()
    language = None
    time_zone = None

    def has_role(self, *roles: str) -> bool:
        return False


@dataclass(frozen=True)
class Ended:
    """Why the cookie's sign-in no longer holds (set by the loader, for
    ``security.end_idle_sessions`` to tidy up, audit and tell the visitor)."""

    reason: str  # idle | expired | revoked | missing | other principal | account | error
    principal: Principal | None = None


@dataclass(frozen=True)
class Identity:
    """What the access rules look at: the set of kinds this visitor counts as."""

    kinds: frozenset[str]
    principal: Principal | None = None
    pending_staff_id: int | None = field(default=None)


def core() -> Bastion:
    return current_app.extensions["bastion"]


def principal_from_staff(user: StaffUser) -> Principal:
    return Principal("staff", user.id, user.username, user.full_name, frozenset(user.role_names),
                     user.language, user.time_zone)


def principal_from_technician(technician: Technician) -> Principal:
    return Principal("technician", technician.id, technician.ident, technician.full_name,
                     frozenset({"technician"}))


def load_principal(db: Session, user_id: str) -> Principal | None:
    """The flask-login user loader; an inactive or vanished account is signed out."""
    kind, _, raw_id = user_id.partition(":")
    if not raw_id.isdigit():
        return None
    if kind == "staff":
        user = db.get(StaffUser, int(raw_id))
        if user is None or not user.active or not user.role_names:
            return None
        return principal_from_staff(user)
    if kind == "technician":
        technician = db.get(Technician, int(raw_id))
        if technician is None or not technician.active:
            return None
        return principal_from_technician(technician)
    return None


def init_login(app_login: LoginManager) -> None:
    app_login.anonymous_user = Anonymous
    # "strong": a session cookie replayed from another address or browser is dropped.
    app_login.session_protection = "strong"
    # Our access rules redirect anonymous visitors themselves (see access.enforce).
    app_login.login_view = None

    @app_login.user_loader
    def _load(user_id: str) -> Principal | None:
        return load_signed_in(user_id)


def load_signed_in(user_id: str) -> Principal | None:
    """The principal, if the account is usable *and* the cookie's console session is live."""
    try:
        with core().db.session() as db:
            principal = load_principal(db, user_id)
            if principal is None:
                g.setdefault(ENDED_KEY, Ended("account"))
                return None
            check = check_session(db, signin_state.session_token(), principal_kind=principal.kind,
                                  principal_id=principal.db_id, idle=idle_limit())
    except Exception:  # noqa: BLE001 - fail closed: what cannot be checked is signed out
        log.exception("console session check failed")
        g.setdefault(ENDED_KEY, Ended("error"))
        return None
    if not check.ok:
        g.setdefault(ENDED_KEY, Ended(check.reason, principal))
        return None
    return principal


def idle_limit() -> timedelta:
    return timedelta(minutes=current_app.config["BASTION_IDLE_MINUTES"])


def session_ended() -> Ended | None:
    return g.get(ENDED_KEY)


def current_identity() -> Identity:
    cached = g.get("identity")
    if cached is not None:
        return cached
    if current_user.is_authenticated and signin_state.is_fully_signed_in():
        principal: Principal = current_user._get_current_object()  # type: ignore[attr-defined]
        identity = Identity(principal.roles, principal)
    else:
        pending = signin_state.pending()
        if pending is not None:
            kind = "key-pending" if pending.stage == "key" else "enrol-pending"
            identity = Identity(frozenset({kind}), None, pending.staff_id)
        else:
            identity = Identity(frozenset({"anonymous"}))
    g.identity = identity
    return identity


def signed_in_principal() -> Principal:
    """For views whose rule admits only signed-in principals."""
    principal = current_identity().principal
    if principal is None:  # the access rule should have refused already: fail closed
        raise PermissionError("no signed-in principal")
    return principal


def forget_identity() -> None:
    g.pop("identity", None)
    session.modified = True

"""The sign-in state kept in the (signed, HttpOnly) session cookie.

Three states: nobody; *pending* (the password was right, a security-key step is due:
``stage`` "key" for an assertion, "enrol" for a first key); *signed in* (flask-login's user
plus our ``signed_in`` marker, set only once a key or passkey was verified). flask-login's
``current_user`` alone is never trusted: without the marker the visitor is not signed in.

A full sign-in is also a row in the database (``bastion.console_sessions``): the cookie
holds its random token, and the user loader (``web.identity``) requires the row live on
every request, so sign-out, an admin or a disabled account ends a copied cookie too.
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass
from datetime import timedelta
from typing import Protocol

from flask import current_app, request, session
from flask_login import login_user, logout_user

from bastion.console_sessions import REF_LENGTH, end_own_session, hash_token, open_session
from bastion.context import Bastion

log = logging.getLogger("web.signin_state")

PENDING_KEY = "pending_sign_in"
SIGNED_IN_KEY = "signed_in"
LAST_SEEN_KEY = "last_seen"
LANGUAGE_KEY = "language"
CONSOLE_SESSION_KEY = "console_session"
SOURCES = ("local", "ldap", "oidc")

# A password check is good for this long: time enough to find and touch the key.
PENDING_SECONDS = 300
# However active, a console session ends after this long (a work shift), then a new
# sign-in with the key is needed.
ABSOLUTE_SECONDS = 12 * 3600


class SigningIn(Protocol):
    """What ``complete`` needs of a principal (``web.identity.Principal``, which imports
    this module, so it is not imported here)."""

    @property
    def kind(self) -> str: ...

    @property
    def db_id(self) -> int: ...


@dataclass(frozen=True)
class Pending:
    staff_id: int
    stage: str  # key | enrol
    since: float
    source: str = "local"  # what checked the first step: local | ldap | oidc


def _now() -> float:
    return time.time()


def _core() -> Bastion:
    return current_app.extensions["bastion"]


def _restart(reason: str = "new sign-in", keep_language: bool = True) -> str | None:
    """Drop everything from the previous state (no fixation of a pre-sign-in session) and
    end its database row, if it had one. Returns that session's reference (for audit)."""
    language = session.get(LANGUAGE_KEY)
    token = session.get(CONSOLE_SESSION_KEY)
    logout_user()
    session.clear()
    if keep_language and language:
        session[LANGUAGE_KEY] = language
    if token is None:
        return None
    try:
        with _core().db.session() as db:
            ended = end_own_session(db, token, reason=reason)
    except Exception:  # noqa: BLE001 - the cookie is cleared anyway; the row ends when idle
        log.exception("could not end console session row on %s", reason)
        return None
    return ended.ref if ended else None


def begin_pending(staff_id: int, stage: str, source: str = "local") -> None:
    if stage not in ("key", "enrol") or source not in SOURCES:
        raise ValueError(stage)
    _restart()
    session.permanent = True
    session[PENDING_KEY] = {"staff_id": staff_id, "stage": stage, "since": _now(),
                            "source": source}
    session[LAST_SEEN_KEY] = _now()


def move_pending_to(stage: str) -> None:
    """After a first key is enrolled, the visitor still proves it with an assertion."""
    current = pending()
    if current is None:
        raise PermissionError("no sign-in in progress")
    session[PENDING_KEY] = {"staff_id": current.staff_id, "stage": stage, "since": _now(),
                            "source": current.source}


def pending() -> Pending | None:
    raw = session.get(PENDING_KEY)
    if not isinstance(raw, dict):
        return None
    try:
        state = Pending(int(raw["staff_id"]), str(raw["stage"]), float(raw["since"]),
                        str(raw.get("source", "local")))
    except (KeyError, TypeError, ValueError):
        return None
    if (_now() - state.since > PENDING_SECONDS or state.stage not in ("key", "enrol")
            or state.source not in SOURCES):
        return None
    return state


def complete(principal: SigningIn, method: str) -> None:
    """Sign in for real: called only after a key or passkey assertion was verified."""
    _restart()
    token = open_session(_core(), principal_kind=principal.kind, principal_id=principal.db_id,
                         lifetime=timedelta(seconds=ABSOLUTE_SECONDS),
                         user_agent=request.user_agent.string, address=request.remote_addr)
    session.permanent = True
    login_user(principal, fresh=True)  # type: ignore[arg-type]
    session[SIGNED_IN_KEY] = {"method": method, "at": _now()}
    session[LAST_SEEN_KEY] = _now()
    session[CONSOLE_SESSION_KEY] = token


def session_token() -> object:
    """The cookie's console-session token (unchecked: ``check_session`` judges it)."""
    return session.get(CONSOLE_SESSION_KEY)


def current_session_id() -> str | None:
    token = session.get(CONSOLE_SESSION_KEY)
    return hash_token(token) if isinstance(token, str) and token else None


def current_session_ref() -> str | None:
    """The short reference audit events give the cookie's console session."""
    session_id = current_session_id()
    return session_id[:REF_LENGTH] if session_id else None


def claims_sign_in() -> bool:
    """The cookie says someone signed in (whether that still holds is checked elsewhere)."""
    return SIGNED_IN_KEY in session or "_user_id" in session


def is_fully_signed_in() -> bool:
    marker = session.get(SIGNED_IN_KEY)
    if not isinstance(marker, dict):
        return False
    try:
        return _now() - float(marker["at"]) <= ABSOLUTE_SECONDS
    except (KeyError, TypeError, ValueError):
        return False


def sign_in_method() -> str | None:
    marker = session.get(SIGNED_IN_KEY)
    return marker.get("method") if isinstance(marker, dict) else None


def has_state() -> bool:
    return PENDING_KEY in session or SIGNED_IN_KEY in session


def idle_expired(idle_minutes: int) -> bool:
    """True when the visitor was away longer than allowed (or past the absolute limit)."""
    if not has_state():
        return False
    try:
        last = float(session.get(LAST_SEEN_KEY, 0))
    except (TypeError, ValueError):
        return True
    if _now() - last > idle_minutes * 60:
        return True
    return SIGNED_IN_KEY in session and not is_fully_signed_in()


def touch() -> None:
    if has_state():
        session[LAST_SEEN_KEY] = _now()


def sign_out(reason: str = "signed out") -> str | None:
    """Returns the ended session's reference, for the sign-out's audit event."""
    return _restart(reason)

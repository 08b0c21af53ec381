"""The sign-in state kept in the (signed, HttpOnly) session cookie.

Three states: nobody; *pending* (the password was right, a security-key step is due:
``stage`` "key" for an assertion, "enrol" for a first key); *signed in* (flask-login's user
plus our ``signed_in`` marker, set only once a key or passkey was verified). flask-login's
``current_user`` alone is never trusted: without the marker the visitor is not signed in.
"""

from __future__ import annotations

import time
from dataclasses import dataclass

from flask import session
from flask_login import login_user, logout_user

PENDING_KEY = "pending_sign_in"
SIGNED_IN_KEY = "signed_in"
LAST_SEEN_KEY = "last_seen"
LANGUAGE_KEY = "language"

# A password check is good for this long: time enough to find and touch the key.
PENDING_SECONDS = 300
# However active, a console session ends after this long (a work shift), then a new
# sign-in with the key is needed.
ABSOLUTE_SECONDS = 12 * 3600


@dataclass(frozen=True)
class Pending:
    staff_id: int
    stage: str  # key | enrol
    since: float


def _now() -> float:
    return time.time()


def _restart(keep_language: bool = True) -> None:
    """Drop everything from the previous state (no fixation of a pre-sign-in session)."""
    language = session.get(LANGUAGE_KEY)
    logout_user()
    session.clear()
    if keep_language and language:
        session[LANGUAGE_KEY] = language


def begin_pending(staff_id: int, stage: str) -> None:
    if stage not in ("key", "enrol"):
        raise ValueError(stage)
    _restart()
    session.permanent = True
    session[PENDING_KEY] = {"staff_id": staff_id, "stage": stage, "since": _now()}
    session[LAST_SEEN_KEY] = _now()


def move_pending_to(stage: str) -> None:
    """After a first key is enrolled, the visitor still proves it with an assertion."""
    current = pending()
    if current is None:
        raise PermissionError("no sign-in in progress")
    session[PENDING_KEY] = {"staff_id": current.staff_id, "stage": stage, "since": _now()}


def pending() -> Pending | None:
    raw = session.get(PENDING_KEY)
    if not isinstance(raw, dict):
        return None
    try:
        state = Pending(int(raw["staff_id"]), str(raw["stage"]), float(raw["since"]))
    except (KeyError, TypeError, ValueError):
        return None
    if _now() - state.since > PENDING_SECONDS or state.stage not in ("key", "enrol"):
        return None
    return state


def complete(principal: object, method: str) -> None:
    """Sign in for real: called only after a key or passkey assertion was verified."""
    _restart()
    session.permanent = True
    login_user(principal, fresh=True)  # type: ignore[arg-type]
    session[SIGNED_IN_KEY] = {"method": method, "at": _now()}
    session[LAST_SEEN_KEY] = _now()


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


def sign_out() -> None:
    _restart()

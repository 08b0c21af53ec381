"""Names people read for the states of requests, grants and sessions, and durations.

The database stores short English codes (``pending``, ``revoked``...); pages show them in
the visitor's language through the ``status_name`` filter.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from flask import Flask
from flask_babel import gettext, lazy_gettext

STATUS_NAMES = {
    # requests
    "pending": lazy_gettext("waiting for approval"),
    "acknowledging": lazy_gettext("waiting for an on-call approver"),
    "approved": lazy_gettext("approved"),
    "denied": lazy_gettext("denied"),
    "cancelled": lazy_gettext("cancelled"),
    "expired": lazy_gettext("expired"),
    # grants (approved is shared with requests)
    "active": lazy_gettext("in use"),
    "revoked": lazy_gettext("revoked"),
    # sessions
    "live": lazy_gettext("live"),
    "ended": lazy_gettext("ended"),
    "terminated": lazy_gettext("terminated"),
    "interrupted": lazy_gettext("interrupted"),
    "refused": lazy_gettext("refused"),
    # recordings
    "open": lazy_gettext("being recorded"),
    "sealed": lazy_gettext("sealed"),
    "purged": lazy_gettext("purged"),
}

# Badge colours: the macro ``outcome`` styles badge-<value>; map states onto those.
STATUS_TONES = {
    "approved": "allowed", "active": "allowed", "live": "allowed", "sealed": "ok",
    "denied": "denied", "revoked": "denied", "terminated": "denied", "refused": "denied",
    "interrupted": "failed", "expired": "failed",
}


def status_name(code: str | None) -> str:
    return str(STATUS_NAMES.get(code or "", code or ""))


def status_tone(code: str | None) -> str:
    return STATUS_TONES.get(code or "", "neutral")


def duration(start: datetime | None, end: datetime | None) -> str:
    """"2 h 05 min", "4 min 10 s": long enough to read at a glance."""
    if start is None or end is None:
        return ""
    seconds = max(0, int((end - start) / timedelta(seconds=1)))
    hours, rest = divmod(seconds, 3600)
    minutes, seconds = divmod(rest, 60)
    if hours:
        return gettext("%(h)d h %(m)02d min", h=hours, m=minutes)
    if minutes:
        return gettext("%(m)d min %(s)02d s", m=minutes, s=seconds)
    return gettext("%(s)d s", s=seconds)


def offset(seconds: float | None) -> str:
    """A position in a recording: "12:05" or "1:02:05"."""
    whole = max(0, int(seconds or 0))
    hours, rest = divmod(whole, 3600)
    minutes, secs = divmod(rest, 60)
    return f"{hours}:{minutes:02d}:{secs:02d}" if hours else f"{minutes}:{secs:02d}"


def install(app: Flask) -> None:
    app.jinja_env.filters["status_name"] = status_name
    app.jinja_env.filters["status_tone"] = status_tone
    app.jinja_env.filters["offset"] = offset
    app.jinja_env.globals["duration"] = duration

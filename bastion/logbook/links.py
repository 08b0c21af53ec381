"""Where the console shows a session (its recordings, replayable): the one place the
logbook's links are made, so the CSV, the printable page and the console agree."""

from __future__ import annotations


def session_url(session_id: int, base_url: str = "") -> str:
    """``/sessions/<id>`` (web.blueprints.sessions); absolute with the console's
    ``web.public_url`` for exports read outside the console."""
    return f"{base_url.rstrip('/')}/sessions/{session_id}"

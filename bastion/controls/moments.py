"""Where in a session's recordings something happened: the recording and the offset the
replay should start at.

A session has one recording per channel (a shell, each exec, an SFTP subsystem), and
channels may overlap. An audit event knows its session and its time; its moment is the
recording running then, preferring the channel the event is about. A command check comes
a few milliseconds *before* its exec channel's recording opens, so a recording starting
just after the event (within :data:`GRACE`) counts as its own, at offset 0.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime, timedelta

from .facts import Moment, RecordingSpan

GRACE = timedelta(seconds=5)


def _offset(at: datetime, span: RecordingSpan) -> float:
    seconds = (at - span.started_at).total_seconds()
    if span.ended_at is not None:
        seconds = min(seconds, (span.ended_at - span.started_at).total_seconds())
    return round(max(0.0, seconds), 3)


def locate(spans: Iterable[RecordingSpan], session_id: int, at: datetime, *,
           channel: str | None = None, session_start: datetime | None = None) -> Moment:
    """The moment of ``at`` in session ``session_id``. Without any recording, the offset
    is counted from ``session_start`` (when known) and no recording is named."""
    mine = sorted((s for s in spans if s.session_id == session_id),
                  key=lambda s: (s.started_at, s.id))
    if not mine:
        since = (at - session_start).total_seconds() if session_start is not None else 0.0
        return Moment(session_id, round(max(0.0, since), 3))
    running = [s for s in mine if s.started_at <= at and (s.ended_at is None or at <= s.ended_at)]
    starting = [s for s in mine if at < s.started_at <= at + GRACE]
    if channel is not None:
        # The event's own channel wins over a shell that happens to be open beside it.
        if any(s.channel == channel for s in running + starting):
            running = [s for s in running if s.channel == channel]
            starting = [s for s in starting if s.channel == channel]
    if running:
        span = running[-1]  # the most recently opened: the most specific
    elif starting:
        span = starting[0]
    else:
        before = [s for s in mine if s.started_at <= at]
        span = before[-1] if before else mine[0]
    return Moment(session_id, _offset(at, span), span.id)

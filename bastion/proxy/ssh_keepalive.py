"""The keepalive timer of the proxy's SSH connections, moved on lazily."""

from __future__ import annotations

import logging
from typing import Any

log = logging.getLogger(__name__)


def rearm_keepalive_lazily(conn: Any) -> None:
    """Keep asyncssh's keepalive (a request after ``keepalive_interval`` without a byte
    received; the connection dropped after ``keepalive_count_max`` unanswered) without
    moving its timer on every read.

    asyncssh (2.24) cancels its keepalive timer and schedules a new one for every batch of
    bytes received: a cancelled handle and a new one in the event loop's heap for every
    64 KiB of a transfer and every keystroke (about 4 % of a worker's busy time on a bulk
    ``exec cat``, py-spy). Here a read only notes the time; when the timer fires after
    bytes came in, it is set again for the rest of the interval from the last of them.
    The request goes out at the same moment as before. If a future asyncssh keeps this
    state elsewhere, nothing changes (a slower node, never a connection left unwatched)."""
    try:
        loop, fire = conn._loop, conn._keepalive_timer_callback
        conn._reset_keepalive_timer, conn._set_keepalive_timer  # noqa: B018 - present?
    except AttributeError:
        log.warning("asyncssh changed: the keepalive timer moves on every read")
        return
    heard = [loop.time()]

    def note_bytes_received() -> None:
        if not conn._auth_complete:
            return
        heard[0] = loop.time()
        if conn._keepalive_timer is None:
            conn._set_keepalive_timer()

    def fire_unless_heard() -> None:
        interval = conn._keepalive_interval
        if not interval:  # keepalive switched off meanwhile
            conn._keepalive_timer = None
            return
        quiet = loop.time() - heard[0]
        if quiet < interval:
            conn._keepalive_timer = loop.call_later(interval - quiet, fire_unless_heard)
            return
        fire()

    conn._reset_keepalive_timer = note_bytes_received
    conn._keepalive_timer_callback = fire_unless_heard

"""Forwarding audit events to a SIEM as they are written (the ``[syslog]`` settings).

The forwarder polls for events newer than the last one delivered to its destination
(kept in ``audit_forward_state``, so a restart resumes instead of re-sending or skipping),
sends them, and records its progress after each batch. Delivery is at least once: after
a crash between sending and recording, a batch is sent again; the SIEM can tell
duplicates by the ``id`` and ``hash`` in each message's structured data.

The blocking work (database, sockets) runs in a thread of its own or, from asyncio, in a
worker thread (:meth:`SyslogForwarder.run_async`): a SIEM that is slow or down never
stalls the SSH proxy's event loop. With several bastion nodes on PostgreSQL, one
forwarder at a time does a round (a session-level advisory lock), so each event is sent
once per destination, not once per node.
"""

from __future__ import annotations

import asyncio
import logging
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from sqlalchemy import select, text

from bastion.config import SyslogSettings
from bastion.db import Database
from bastion.models import AuditEvent, utcnow
from bastion.models.audit import AuditForwardState

from .syslog import Sender, format_event, make_sender

log = logging.getLogger("bastion.audit")

_PG_FORWARDER_LOCK = 0x6261_7374_696F_6E02 & 0x7FFF_FFFF_FFFF_FFFF
_COLUMNS = tuple(AuditEvent.__table__.c)


class SyslogForwarder:
    def __init__(self, db: Database, settings: SyslogSettings, *, sender: Sender | None = None,
                 batch: int = 500) -> None:
        if not settings.host:
            raise ValueError("syslog forwarding needs [syslog] host")
        self.db = db
        self.settings = settings
        self.destination = f"{settings.protocol}://{settings.host}:{settings.port}"
        self._sender = sender or make_sender(settings.protocol, settings.host, settings.port,
                                             ca_file=settings.ca_file,
                                             server_name=settings.server_name)
        self._batch = batch
        self._thread: threading.Thread | None = None
        self._stop = threading.Event()

    # --- one round ------------------------------------------------------------------------

    @contextmanager
    def _turn(self) -> Iterator[bool]:
        """Whether this process may forward now (always on SQLite: one node)."""
        if not self.db.is_postgresql:
            yield True
            return
        with self.db.engine.connect() as connection:
            got = bool(connection.scalar(text("SELECT pg_try_advisory_lock(:k)"),
                                         {"k": _PG_FORWARDER_LOCK}))
            try:
                yield got
            finally:
                if got:
                    connection.execute(text("SELECT pg_advisory_unlock(:k)"), {"k": _PG_FORWARDER_LOCK})
                connection.commit()

    def _last_sent(self) -> int:
        with self.db.session() as session:
            state = session.get(AuditForwardState, self.destination)
            return state.last_event_id if state else 0

    def _save(self, last_event_id: int) -> None:
        with self.db.session() as session:
            state = session.get(AuditForwardState, self.destination)
            if state is None:
                session.add(AuditForwardState(destination=self.destination,
                                              last_event_id=last_event_id, updated_at=utcnow()))
            else:
                state.last_event_id = last_event_id
                state.updated_at = utcnow()

    def _events_after(self, last: int) -> list[dict[str, Any]]:
        with self.db.session() as session:
            return [row._asdict() for row in session.execute(
                select(*_COLUMNS).where(AuditEvent.id > last).order_by(AuditEvent.id).limit(self._batch))]

    def forward_once(self) -> int:
        """Send every event not yet delivered; returns how many were sent. A send error
        propagates after the progress made so far is recorded."""
        sent = 0
        with self._turn() as mine:
            if not mine:
                return 0
            last = self._last_sent()
            while True:
                events = self._events_after(last)
                if not events:
                    return sent
                try:
                    for event in events:
                        self._sender.send(format_event(event, app_name=self.settings.app_name,
                                                       facility=self.settings.facility,
                                                       max_bytes=self._sender.max_bytes))
                        last = event["id"]
                        sent += 1
                finally:
                    self._save(last)

    # --- running --------------------------------------------------------------------------

    def run(self, stop: threading.Event, poll_seconds: float = 2.0) -> None:
        """Forward until ``stop`` is set; errors are logged and retried at the next poll."""
        while not stop.is_set():
            try:
                self.forward_once()
            except Exception as exc:  # noqa: BLE001 - a SIEM outage must not stop the bastion
                log.warning("syslog forwarding to %s failed, will retry: %s", self.destination, exc)
            stop.wait(poll_seconds)
        self._sender.close()

    def start(self, poll_seconds: float = 2.0) -> threading.Thread:
        """Run in a daemon thread until :meth:`stop`."""
        self._stop.clear()
        self._thread = threading.Thread(target=self.run, args=(self._stop, poll_seconds),
                                        name="audit-syslog-forwarder", daemon=True)
        self._thread.start()
        return self._thread

    def stop(self, timeout: float = 10.0) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout)
            self._thread = None

    async def run_async(self, stop: asyncio.Event, poll_seconds: float = 2.0) -> None:
        """For ``bastion serve``'s event loop: each round runs in a worker thread."""
        try:
            while not stop.is_set():
                try:
                    await asyncio.to_thread(self.forward_once)
                except Exception as exc:  # noqa: BLE001 - as in run()
                    log.warning("syslog forwarding to %s failed, will retry: %s", self.destination, exc)
                try:
                    await asyncio.wait_for(stop.wait(), poll_seconds)
                except TimeoutError:
                    pass
        finally:
            self._sender.close()


def forwarder_from_settings(db: Database, settings: SyslogSettings) -> SyslogForwarder | None:
    """The configured forwarder, or None when ``[syslog] host`` is not set."""
    return SyslogForwarder(db, settings) if settings.host else None

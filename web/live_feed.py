"""Reading a recording while the proxy writes it, for the console's live view.

The proxy stores every byte before it forwards it (invariant 1), so the recording file
holds what the technician has seen so far, in verified chunks. A live recording has no
seal yet: the catalog expects nothing of it (``expected_for`` of an open row) and the
reader stops at the last complete chunk; a chunk still being written shows up as
:class:`RecordingTruncated` at the very end, which for an open recording only means "not
yet". Nothing unverified is ever sent to the browser.

Chunks are chained (each one is decrypted and decompressed after those before it), so each
poll reads the file from its start and returns the events after those the page already
has; when the file has not grown since the page's last poll nothing is read at all. Typed
input is never sent: it may hold what was typed at a prompt the proxy could not
recognise as a password prompt (the export leaves it out for the same reason).
"""

from __future__ import annotations

import codecs
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from bastion.models import Recording, SshSession
from bastion.recording import RecordingReader, RecordingService, RecordingTruncated, expected_for
from bastion.recording.events import RESIZE, SHOWN


@dataclass(frozen=True)
class Feed:
    """One poll's answer. The page sends ``next`` back as ``after`` and ``size`` back as
    ``size``; it stops polling once ``done``."""

    recording_id: int | None
    session_live: bool
    recording_open: bool
    end_reason: str | None = None
    width: int = 80
    height: int = 24
    events: list[list[Any]] = field(default_factory=list)  # [seconds, "o" | "r", data]
    next: int = 0
    size: int = 0

    @property
    def done(self) -> bool:
        return not self.session_live and not self.recording_open

    def to_json(self) -> dict[str, Any]:
        return {"recording": self.recording_id, "session_live": self.session_live,
                "recording_open": self.recording_open, "done": self.done,
                "end_reason": self.end_reason, "width": self.width, "height": self.height,
                "events": self.events, "next": self.next, "size": self.size}


def choose_recording(db: Session, session_row: SshSession, wanted: int | None) -> Recording | None:
    """The recording the page watches (``wanted``; it must belong to the session), unless
    it is closed and a newer one is open (the technician opened another channel); on the
    first poll, the one worth watching: the newest open shell, else the newest open
    channel, else the newest."""
    rows = list(db.scalars(select(Recording).where(Recording.session_id == session_row.id)
                           .order_by(Recording.id.desc())))
    if wanted is not None:
        current = next((row for row in rows if row.id == wanted), None)
        if current is None or current.status == "open":
            return current
        newer = [row for row in rows if row.id > wanted and row.status == "open"]
        return newer[-1] if newer else current
    for good in (lambda r: r.status == "open" and r.channel == "shell",
                 lambda r: r.status == "open",
                 lambda r: r.channel == "shell",
                 lambda r: True):
        for row in rows:
            if good(row):
                return row
    return None


def plain_reader(service: RecordingService, recording: Recording) -> RecordingReader:
    """A verifying reader, not audited: for the polls after the first, audited one."""
    return RecordingReader(service.storage, recording.storage_key, service.data_key(recording),
                           expected_for(recording))


def read_feed(service: RecordingService, session_row: SshSession, recording: Recording,
              open_reader: Callable[[], RecordingReader], *, after: int,
              known_size: int | None) -> Feed:
    """The events of ``recording`` from index ``after`` on. ``open_reader`` is called only
    when something is to be read (the caller audits the first read of each watcher)."""
    base = Feed(recording.id, session_row.status == "live", recording.status == "open",
                session_row.end_reason, next=after)
    size = service.storage.size(recording.storage_key)
    if size == known_size and recording.status == "open":
        return replace(base, size=size)
    reader = open_reader()
    decoder = codecs.getincrementaldecoder("utf-8")(errors="replace")
    events: list[list[Any]] = []
    count = 0
    try:
        for event in reader.events():
            index, count = count, count + 1
            if event.code in SHOWN:
                # Decoded from the start every time: a character cut between two events
                # comes out whole, and each event's text is the same at every poll.
                text = decoder.decode(event.data)
                if index >= after and text:
                    events.append([round(event.time, 3), "o", text])
            elif event.code == RESIZE and index >= after:
                events.append([round(event.time, 3), "r", event.data])
    except RecordingTruncated:
        if recording.status != "open":
            raise  # a closed recording must be whole: that is a real problem
    header = reader.header or {}
    return replace(base, width=int(header.get("width") or 80),
                   height=int(header.get("height") or 24), events=events,
                   next=max(count, after), size=size)

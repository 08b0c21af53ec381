"""Export of the audit log by period, as JSON lines or CSV.

JSON lines keep every field exactly as hashed (``at`` in the same ISO form), so anyone
can re-check the chain of an export with :func:`bastion.audit.chain.verify_chain`, starting
from the first line's ``prev_hash``. CSV is for spreadsheets: lists and objects become JSON
text, and cells that a spreadsheet would run as a formula are defused (see
:func:`_cell`), which is why CSV is not for re-verifying hashes.
"""

from __future__ import annotations

import csv
import json
from collections.abc import Iterable, Iterator
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any, TextIO
from zoneinfo import ZoneInfo

from sqlalchemy import select

from bastion.db import Database
from bastion.models import AuditEvent

from .chain import canonical_json
from .log import Actor

if TYPE_CHECKING:
    from bastion.context import Bastion

FORMATS = ("jsonl", "csv")
COLUMNS = ("id", "at", "actor", "actor_role", "action", "outcome", "vendor", "technician",
           "target", "account", "session_id", "request_id", "grant_id", "reasons", "details",
           "node", "message", "prev_hash", "hash")
BATCH = 2000


def _require_aware(name: str, value: datetime | None) -> None:
    if value is not None and value.tzinfo is None:
        raise ValueError(f"{name} must carry a time zone")


def iter_events(
    db: Database, *, since: datetime | None = None, until: datetime | None = None
) -> Iterator[dict[str, Any]]:
    """Events with ``since <= at < until``, in chain order, as JSON-ready dicts. Read in
    short batches so a long export never holds a transaction (SQLite's write lock) open."""
    _require_aware("since", since)
    _require_aware("until", until)
    after = 0
    columns = [AuditEvent.__table__.c[name] for name in COLUMNS]
    while True:
        query = select(*columns).where(AuditEvent.id > after)
        if since is not None:
            query = query.where(AuditEvent.at >= since)
        if until is not None:
            query = query.where(AuditEvent.at < until)
        with db.session() as session:
            rows = [row._asdict() for row in session.execute(query.order_by(AuditEvent.id).limit(BATCH))]
        for row in rows:
            # The form event_hash() hashes: the export re-verifies as it is.
            row["at"] = row["at"].isoformat(timespec="microseconds")
            yield row
        if len(rows) < BATCH:
            return
        after = rows[-1]["id"]


def write_jsonl(events: Iterable[dict[str, Any]], out: TextIO) -> int:
    count = 0
    for event in events:
        out.write(json.dumps(event, ensure_ascii=False, sort_keys=False) + "\n")
        count += 1
    return count


_FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")


def _cell(value: Any) -> Any:
    """A technician chooses some of this text (a command, a file name); a cell starting
    with ``=`` would run as a formula in the DPO's spreadsheet (CSV injection). OWASP's
    advice: prefix such cells with a quote so they are shown, not run."""
    if isinstance(value, list | dict):
        value = canonical_json(value)
    if isinstance(value, str) and value.startswith(_FORMULA_STARTS):
        return "'" + value
    return value


def write_csv(events: Iterable[dict[str, Any]], out: TextIO) -> int:
    writer = csv.writer(out, lineterminator="\r\n")
    writer.writerow(COLUMNS)
    count = 0
    for event in events:
        writer.writerow([_cell(event[name]) for name in COLUMNS])
        count += 1
    return count


def export_events(
    core: Bastion,
    out: TextIO,
    *,
    since: datetime | None = None,
    until: datetime | None = None,
    format: str = "jsonl",
    actor: Actor | None = None,
    record: bool = True,
) -> int:
    """Write the period's events to ``out``; returns how many. With ``record`` the export
    is itself an ``audit.exported`` event (who took a copy of the trail, of which period),
    appended after the copy is made, so it is not part of the copy."""
    if format not in FORMATS:
        raise ValueError(f"unknown export format {format!r}: use one of {', '.join(FORMATS)}")
    events = iter_events(core.db, since=since, until=until)
    count = write_jsonl(events, out) if format == "jsonl" else write_csv(events, out)
    if record:
        with core.db.session() as session:
            core.audit.append(
                session, action="audit.exported", outcome="ok", actor=actor,
                details={"since": since.isoformat() if since else None,
                         "until": until.isoformat() if until else None,
                         "format": format, "count": count},
            )
    return count


def parse_bound(value: str, zone: str, *, end: bool = False) -> datetime:
    """A period bound as an operator types it: ``2026-03-01`` or ``2026-03-01T08:00``, in
    the bastion's time zone unless an offset is given. A bare date as an *end* means the
    end of that day, so ``--since 2026-03-01 --until 2026-03-31`` covers all of March."""
    try:
        moment = datetime.fromisoformat(value)
    except ValueError:
        raise ValueError(f"{value!r} is not a date (2026-03-01) or a date and time "
                         "(2026-03-01T08:00)") from None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=ZoneInfo(zone))
    if end and len(value) == 10:  # a date alone
        moment += timedelta(days=1)
    return moment

"""The DPO's report per vendor and period: sessions, durations, targets, data categories
reached, command-rule hits, break-glass, bytes moved (every path: SFTP, exec, forwards),
and the flags; as values, and as CSV.

Built from the same facts as the flags (``gather.load_period``), so the report and the
flags page never disagree.
"""

from __future__ import annotations

import csv
from collections import Counter, defaultdict
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime
from typing import TextIO
from zoneinfo import ZoneInfo

from sqlalchemy import select

from bastion.audit.export import _cell as spreadsheet_cell
from bastion.context import Bastion
from bastion.models import Technician, Vendor, utcnow

from . import rules
from .describe import describe
from .facts import EventFacts, Flag, SessionFacts
from .gather import flags_of, load_period
from .transfers import transfer_in


@dataclass(frozen=True)
class SessionLine:
    id: int
    technician: str
    technician_name: str
    target: str
    account: str
    data_categories: tuple[str, ...]
    started_at: datetime
    ended_at: datetime | None
    duration_seconds: float  # up to now for a live session
    status: str
    break_glass: bool
    rule_hits: int
    flags: tuple[str, ...]  # kinds, each once
    client_address: str | None
    downloaded_bytes: int = 0  # from the target, by SFTP, exec or forwards (transfers.py)
    uploaded_bytes: int = 0


@dataclass(frozen=True)
class VendorReport:
    vendor: str
    vendor_name: str
    since: datetime
    until: datetime
    sessions: tuple[SessionLine, ...]
    rule_hits: int  # commands flagged or refused by a contract rule in the period
    refusals: int  # refused logins and channels in the period
    break_glass: int  # emergency accesses declared in the period
    flags: tuple[Flag, ...]

    @property
    def total_seconds(self) -> float:
        return sum(s.duration_seconds for s in self.sessions)

    @property
    def technicians(self) -> tuple[str, ...]:
        return tuple(sorted({s.technician for s in self.sessions}))

    @property
    def targets(self) -> tuple[str, ...]:
        return tuple(sorted({s.target for s in self.sessions}))

    @property
    def data_categories(self) -> tuple[str, ...]:
        """The kinds of data the vendor's sessions could reach (what their targets hold)."""
        return tuple(sorted({c for s in self.sessions for c in s.data_categories}))

    @property
    def downloaded_bytes(self) -> int:
        return sum(s.downloaded_bytes for s in self.sessions)

    @property
    def uploaded_bytes(self) -> int:
        return sum(s.uploaded_bytes for s in self.sessions)

    def flag_counts(self) -> dict[str, int]:
        return dict(sorted(Counter(f.kind for f in self.flags).items()))


def _line(s: SessionFacts, names: dict[str, str], hits: Counter[int],
          kinds: dict[int, set[str]], moved: dict[int, Counter[str]], now: datetime) -> SessionLine:
    end = s.ended_at or max(now, s.started_at)
    return SessionLine(
        id=s.id, technician=s.technician, technician_name=names.get(s.technician, s.technician),
        target=s.target, account=s.account, data_categories=tuple(sorted(s.data_categories)),
        started_at=s.started_at, ended_at=s.ended_at,
        duration_seconds=(end - s.started_at).total_seconds(), status=s.status,
        break_glass=s.break_glass, rule_hits=hits[s.id],
        flags=tuple(sorted(kinds.get(s.id, ()))), client_address=s.client_address,
        downloaded_bytes=moved[s.id]["download"], uploaded_bytes=moved[s.id]["upload"])


def _moved(events: Iterable[EventFacts]) -> dict[int, Counter[str]]:
    """session -> bytes moved each way ("download", "upload"), every path together."""
    moved: dict[int, Counter[str]] = defaultdict(Counter)
    for e in events:
        transfer = transfer_in(e.action, e.details) if e.session_id is not None else None
        if transfer is not None:
            moved[e.session_id]["download"] += transfer.downloaded  # type: ignore[index]
            moved[e.session_id]["upload"] += transfer.uploaded  # type: ignore[index]
    return moved


def vendor_reports(core: Bastion, *, since: datetime, until: datetime,
                   vendor: str | None = None, now: datetime | None = None) -> list[VendorReport]:
    """One report per vendor with activity in the period (or the one vendor asked for,
    even without activity), by vendor slug."""
    now = now or utcnow()
    facts = load_period(core, since, until)
    flags = flags_of(facts, core, now)
    with core.db.session() as session:
        vendors = dict(session.execute(select(Vendor.slug, Vendor.name)).all())
        names = dict(session.execute(select(Technician.ident, Technician.full_name)).all())
    if vendor is not None and vendor not in vendors:
        raise ValueError(f"unknown vendor {vendor}")
    hits = Counter(e.session_id for e in facts.events
                   if e.action in rules.COMMAND_ACTIONS and e.session_id is not None)
    kinds: dict[int, set[str]] = {}
    for flag in flags:
        if flag.session_id is not None:
            kinds.setdefault(flag.session_id, set()).add(flag.kind)
    moved = _moved(facts.events)
    active = ({s.vendor for s in facts.sessions} | {e.vendor for e in facts.events if e.vendor}
              | {b.vendor for b in facts.break_glass})
    chosen = [vendor] if vendor is not None else sorted(active & set(vendors))
    reports = []
    for slug in chosen:
        events = [e for e in facts.events if e.vendor == slug]
        reports.append(VendorReport(
            vendor=slug, vendor_name=vendors[slug], since=since, until=until,
            sessions=tuple(_line(s, names, hits, kinds, moved, now)
                           for s in facts.sessions if s.vendor == slug),
            rule_hits=sum(e.action in rules.COMMAND_ACTIONS for e in events),
            refusals=sum(e.action in rules.REFUSAL_ACTIONS for e in events),
            break_glass=sum(b.vendor == slug for b in facts.break_glass),
            flags=tuple(f for f in flags if f.vendor == slug)))
    return reports


SESSION_COLUMNS = ("vendor", "session", "technician", "technician_name", "target", "account",
                   "data_categories", "started_at", "ended_at", "duration_minutes", "status",
                   "break_glass", "rule_hits", "flags", "client_address", "downloaded_bytes",
                   "uploaded_bytes")


def _local(value: datetime | None, zone: ZoneInfo) -> str:
    return value.astimezone(zone).isoformat(timespec="seconds") if value is not None else ""


def write_sessions_csv(reports: Iterable[VendorReport], out: TextIO, zone: ZoneInfo) -> int:
    """One row per session, times in the hospital's zone with their offset. Cells a
    spreadsheet would run as a formula are defused (a technician picks some of this text)."""
    writer = csv.writer(out, lineterminator="\r\n")
    writer.writerow(SESSION_COLUMNS)
    count = 0
    for report in reports:
        for s in report.sessions:
            writer.writerow([spreadsheet_cell(value) for value in (
                report.vendor, s.id, s.technician, s.technician_name, s.target, s.account,
                " ".join(s.data_categories), _local(s.started_at, zone), _local(s.ended_at, zone),
                round(s.duration_seconds / 60, 1), s.status, "yes" if s.break_glass else "no",
                s.rule_hits, " ".join(s.flags), s.client_address or "", s.downloaded_bytes,
                s.uploaded_bytes)])
            count += 1
    return count


FLAG_COLUMNS = ("at", "kind", "vendor", "technician", "target", "session", "recording",
                "offset_seconds", "description")


def write_flags_csv(flags: Iterable[Flag], out: TextIO, zone: ZoneInfo,
                    language: str = "fr") -> int:
    writer = csv.writer(out, lineterminator="\r\n")
    writer.writerow(FLAG_COLUMNS)
    count = 0
    for f in flags:
        moment = f.moment
        writer.writerow([spreadsheet_cell(value) for value in (
            _local(f.at, zone), f.kind, f.vendor or "", f.technician or "", f.target or "",
            moment.session_id if moment else "",
            moment.recording_id if moment and moment.recording_id else "",
            moment.offset_seconds if moment else "", describe(f, language))])
        count += 1
    return count

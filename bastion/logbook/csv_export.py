"""The logbook as CSV: one row per intervention, for the maintenance contract's follow-up
meetings. Times in the hospital's zone with their offset; lists joined in one cell; cells
a spreadsheet would run as a formula are defused (technicians choose some of this text:
reasons, commands, file names)."""

from __future__ import annotations

import csv
from collections.abc import Iterable
from datetime import datetime
from typing import TextIO

from bastion.audit.export import _cell as spreadsheet_cell

from .entries import CommandSummary, LogbookEntry, TransferLine
from .labels import describe_flag

COLUMNS = ("request", "grant", "vendor", "technicians", "targets", "start", "end",
           "window_start", "window_end", "state", "reason", "ticket", "approvers",
           "declared_by", "break_glass", "commands", "transfers", "flags", "recordings")


def _time(value: datetime | None) -> str:
    return value.isoformat(timespec="seconds") if value is not None else ""


def command_text(c: CommandSummary) -> str:
    return c.text if c.count == 1 else f"{c.text} (x{c.count})"


def transfer_text(t: TransferLine) -> str:
    facts = [f"{t.bytes} bytes"] + ([f"sha256 {t.sha256}"] if t.sha256 else [])
    if not t.complete:
        facts.append("incomplete")
    via = "" if t.via == "sftp" else f" [{t.via}]"
    return f"{t.direction}{via} {t.path} ({', '.join(facts)})"


def row_of(entry: LogbookEntry, language: str) -> list[object]:
    return [entry.request_id, entry.grant_id, entry.vendor, " | ".join(entry.technicians),
            " | ".join(entry.targets), _time(entry.start), _time(entry.end),
            _time(entry.window_start), _time(entry.window_end), entry.state, entry.reason,
            entry.ticket or "", " | ".join(entry.approvers), entry.declared_by or "",
            "yes" if entry.break_glass else "no",
            " | ".join(command_text(c) for c in entry.commands),
            " | ".join(transfer_text(t) for t in entry.transfers),
            " | ".join(describe_flag(f, language) for f in entry.flags),
            " ".join(r.url for r in entry.recordings)]


def write_csv(entries: Iterable[LogbookEntry], out: TextIO, language: str = "fr") -> int:
    writer = csv.writer(out, lineterminator="\r\n")
    writer.writerow(COLUMNS)
    count = 0
    for entry in entries:
        writer.writerow([spreadsheet_cell(value) for value in row_of(entry, language)])
        count += 1
    return count

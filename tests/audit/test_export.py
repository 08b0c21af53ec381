"""Export by period as JSON lines (re-verifiable as is) and CSV (spreadsheet-safe)."""

from __future__ import annotations

import csv
import io
import json
from datetime import UTC, datetime, timedelta

import pytest

import bastion.audit.log
from bastion.audit import Actor, verify_chain
from bastion.audit.export import export_events, iter_events, parse_bound

from .conftest import append, events

T0 = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)


@pytest.fixture
def dated(acore, monkeypatch):
    """Events on 1, 2, 3 and 4 March 2026 at noon UTC, three a day."""
    clock = {"now": T0}
    monkeypatch.setattr(bastion.audit.log, "utcnow", lambda: clock["now"])
    for day in range(4):
        clock["now"] = T0 + timedelta(days=day)
        append(acore, 3, start=day * 3)
    monkeypatch.undo()
    return acore


def test_jsonl_export_of_a_period_reverifies_as_is(dated) -> None:
    out = io.StringIO()
    count = export_events(dated, out, since=T0 + timedelta(days=1), until=T0 + timedelta(days=3),
                          format="jsonl", actor=Actor("staff:dpo", "auditor"))
    lines = [json.loads(line) for line in out.getvalue().splitlines()]
    assert count == len(lines) == 6
    assert [line["details"]["i"] for line in lines] == [3, 4, 5, 6, 7, 8]
    assert lines[0]["at"] == "2026-03-02T12:00:00.000000+00:00"
    # Anyone holding the export can re-check its chain from the first line's link.
    assert verify_chain(lines, start_hash=lines[0]["prev_hash"]) == (6, None)
    lines[2]["actor"] = "staff:someone-else"
    assert verify_chain(lines, start_hash=lines[0]["prev_hash"])[1].event_id == lines[2]["id"]
    # The export is audited, after the copy (so not in it).
    last = events(dated.db)[-1]
    assert last["action"] == "audit.exported" and last["actor"] == "staff:dpo"
    assert last["details"]["count"] == 6 and last["details"]["format"] == "jsonl"


def test_csv_export_has_every_column_and_defuses_formulas(dated) -> None:
    with dated.db.session() as session:
        dated.audit.append(session, action="command.run", outcome="ok",
                           message="=HYPERLINK(\"http://evil.example\",\"clic\")",
                           details={"command": "rm -rf /tmp/x"}, reasons=["-dangerous"])
    out = io.StringIO()
    count = export_events(dated, out, format="csv", record=False)
    rows = list(csv.DictReader(io.StringIO(out.getvalue())))
    assert count == len(rows) == 13
    assert list(rows[0]) == ["id", "at", "actor", "actor_role", "action", "outcome", "vendor",
                             "technician", "target", "account", "session_id", "request_id",
                             "grant_id", "reasons", "details", "node", "message", "prev_hash", "hash"]
    assert json.loads(rows[0]["details"]) == {"i": 0} and rows[0]["target"] == "dpi-app-01"
    assert rows[-1]["message"].startswith("'=HYPERLINK")
    assert json.loads(rows[-1]["reasons"]) == ["-dangerous"]


def test_naive_bounds_are_refused(acore) -> None:
    with pytest.raises(ValueError, match="time zone"):
        list(iter_events(acore.db, since=datetime(2026, 1, 1)))


def test_unknown_format_is_refused(acore) -> None:
    with pytest.raises(ValueError, match="jsonl, csv"):
        export_events(acore, io.StringIO(), format="xml")


def test_bounds_as_operators_type_them() -> None:
    paris = "Europe/Paris"
    assert parse_bound("2026-03-01", paris) == datetime(2026, 2, 28, 23, 0, tzinfo=UTC)
    # A date alone as the end means the whole day (and a DST change is a 23-hour day).
    assert parse_bound("2026-03-29", paris, end=True) == datetime(2026, 3, 29, 22, 0, tzinfo=UTC)
    assert parse_bound("2026-03-01T08:30", paris, end=True) == datetime(2026, 3, 1, 7, 30, tzinfo=UTC)
    assert parse_bound("2026-03-01T08:30+00:00", paris) == datetime(2026, 3, 1, 8, 30, tzinfo=UTC)
    with pytest.raises(ValueError, match="not a date"):
        parse_bound("1st of March", paris)

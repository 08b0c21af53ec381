"""Retention of the audit log: old events go, what remains still verifies from a signed
anchor and still shows tampering; the purge is audited; a legal hold stops it."""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy import insert, select, text, update
from sqlalchemy.exc import DBAPIError

import bastion.audit.log
import bastion.audit.retention as retention
from bastion.audit import Actor
from bastion.audit.retention import AuditRetentionError, purge_expired_events, set_hold
from bastion.audit.service import verify
from bastion.models import utcnow

from .conftest import EVENTS, append, checkpoints, events, forged_event, tamper

NOW = utcnow()


@pytest.fixture
def aged(acore, monkeypatch):
    """25 events 400 days old, then 12 from 10 days ago (retention: 365 days)."""
    clock = {"now": NOW - timedelta(days=400)}
    monkeypatch.setattr(bastion.audit.log, "utcnow", lambda: clock["now"])
    append(acore, 25)
    clock["now"] = NOW - timedelta(days=10)
    append(acore, 12, start=25)
    monkeypatch.undo()
    return acore


def actions(core):
    with core.db.session() as session:
        return session.execute(select(EVENTS.c.id, EVENTS.c.action, EVENTS.c.details)
                               .where(EVENTS.c.action.like("audit.%")).order_by(EVENTS.c.id)).all()


def test_purge_removes_old_events_and_the_rest_verifies_from_its_anchor(aged) -> None:
    result = purge_expired_events(aged, actor=Actor("cli:root", "admin"))
    assert (result.purged, result.first_event_id, result.last_event_id) == (25, 1, 25)
    remaining = events(aged.db)
    assert [e["id"] for e in remaining][:12] == list(range(26, 38))
    anchor = [c for c in checkpoints(aged.db) if c["kind"] == "anchor"]
    assert [(a["event_id"], a["event_count"], a["id"]) for a in anchor] == [(25, 25, result.anchor_id)]
    assert remaining[0]["prev_hash"] == anchor[0]["event_hash"]
    # The purge is itself an event, naming what went and the anchor to start from.
    purge_event = actions(aged)[-1]
    assert purge_event.action == "audit.purged"
    assert purge_event.details["count"] == 25 and purge_event.details["last_event_id"] == 25
    assert purge_event.details["anchor_checkpoint_id"] == result.anchor_id
    report = verify(aged, record=False)
    assert report.ok, report.summary()
    assert report.events == 13 and "anchor" in report.start
    # The chain goes on, positions and periodic checkpoints too.
    append(aged, 20)
    assert verify(aged, record=False).ok
    assert [c["event_count"] for c in checkpoints(aged.db) if c["kind"] == "periodic"][-1] % 10 == 0


def test_tampering_after_a_purge_is_still_found(aged) -> None:
    purge_expired_events(aged)
    tamper(aged.db, lambda c: c.execute(update(EVENTS).where(EVENTS.c.id == 30).values(actor="x")))
    assert verify(aged, record=False).problem.event_id == 30


def test_deleting_the_oldest_remaining_events_is_found(aged) -> None:
    purge_expired_events(aged)
    tamper(aged.db, lambda c: c.execute(text("DELETE FROM audit_events WHERE id <= 27")))
    problem = verify(aged, record=False).problem
    assert problem.event_id == 28 and "does not link to checkpoint" in problem.message


def test_event_put_back_before_the_anchor_is_found(aged) -> None:
    purge_expired_events(aged)
    fake = forged_event("0" * 64, NOW - timedelta(days=500))
    tamper(aged.db, lambda c: c.execute(insert(EVENTS).values(id=3, **fake)))
    problem = verify(aged, record=False).problem
    assert problem.event_id == 3 and "should have been purged" in problem.message


def test_ordinary_delete_is_still_refused_after_a_purge(aged) -> None:
    purge_expired_events(aged)
    with pytest.raises(DBAPIError, match="append-only"):
        with aged.db.session() as session:
            session.execute(text("DELETE FROM audit_events WHERE id = 26"))


def test_purging_everything_keeps_the_chain_going(acore, monkeypatch) -> None:
    monkeypatch.setattr(bastion.audit.log, "utcnow", lambda: NOW - timedelta(days=400))
    append(acore, 7)
    monkeypatch.undo()
    assert purge_expired_events(acore).purged == 7
    remaining = events(acore.db)
    assert [e["action"] for e in remaining] == ["audit.purged"]
    assert verify(acore, record=False).ok
    append(acore, 3)
    assert verify(acore, record=False).ok


def test_purge_in_batches(aged, monkeypatch) -> None:
    monkeypatch.setattr(retention, "BATCH", 10)
    result = purge_expired_events(aged)
    assert result.purged == 25
    assert [c["event_id"] for c in checkpoints(aged.db) if c["kind"] == "anchor"] == [10, 20, 25]
    assert [a.details["count"] for a in actions(aged) if a.action == "audit.purged"] == [10, 10, 5]
    assert verify(aged, record=False).ok


def test_nothing_to_purge_is_quiet(acore) -> None:
    append(acore, 5)
    assert purge_expired_events(acore).purged == 0
    assert actions(acore) == []


def test_dry_run_deletes_nothing(aged) -> None:
    result = purge_expired_events(aged, dry_run=True)
    assert (result.purged, result.last_event_id, result.dry_run) == (25, 25, True)
    assert len(events(aged.db)) == 37


def test_legal_hold_stops_the_purge_until_released(aged) -> None:
    assert set_hold(aged, hold=True, reason="enquête CNIL 2026-17")
    assert not set_hold(aged, hold=True, reason="again")
    with pytest.raises(AuditRetentionError, match="legal hold"):
        purge_expired_events(aged)
    assert len([e for e in events(aged.db) if e["id"] <= 25]) == 25
    assert actions(aged)[-1].action == "audit.purge_refused"
    assert set_hold(aged, hold=False, reason="enquête close")
    assert purge_expired_events(aged).purged == 25


def test_events_failing_verification_are_kept_as_evidence_unless_forced(aged) -> None:
    tamper(aged.db, lambda c: c.execute(update(EVENTS).where(EVENTS.c.id == 5).values(actor="x")))
    with pytest.raises(AuditRetentionError, match="audit event 5: .*modified"):
        purge_expired_events(aged)
    assert len(events(aged.db)) == 38  # 37 + the refusal
    result = purge_expired_events(aged, force=True)
    assert result.purged == 25
    purged = [a for a in actions(aged) if a.action == "audit.purged"][-1]
    assert "audit event 5" in purged.details["forced_past"]
    assert verify(aged, record=False).ok

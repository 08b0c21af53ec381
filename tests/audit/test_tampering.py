"""``audit verify`` against every way of tampering with the log, on SQLite and PostgreSQL.
Each test tampers as a database superuser would (triggers bypassed) and checks that
verification fails and names the first bad event."""

from __future__ import annotations

import base64
from datetime import timedelta

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from sqlalchemy import delete, insert, select, update

from bastion.audit.service import checkpoint, verify
from bastion.audit.signing import CheckpointSigner

from .conftest import CHECKPOINTS, EVENTS, append, checkpoints, events, forged_event, rehash_from, tamper


def check(core, **kwargs):
    return verify(core, record=False, **kwargs)


def test_untouched_log_verifies_with_its_checkpoints(acore) -> None:
    append(acore, 35)
    report = check(acore)
    assert report.ok, report.summary()
    assert (report.events, report.first_event_id, report.last_event_id) == (35, 1, 35)
    assert [c["event_id"] for c in checkpoints(acore.db)] == [10, 20, 30]
    assert [c["event_count"] for c in checkpoints(acore.db)] == [10, 20, 30]
    assert report.last_checkpoint.event_id == 30 and report.unsigned_tail == 5
    assert report.summary().startswith("audit log OK: 35 events verified (events 1-35)")
    assert "checkpoint #3 (periodic, event 30" in report.summary()


def test_modified_event_is_named(acore) -> None:
    append(acore, 30)
    tamper(acore.db, lambda c: c.execute(update(EVENTS).where(EVENTS.c.id == 15)
                                         .values(details={"i": 999})))
    report = check(acore)
    assert not report.ok
    assert report.problem.event_id == 15 and "modified" in report.problem.message
    assert report.events == 14


def test_modified_event_with_recomputed_hashes_is_caught_at_the_next_checkpoint(acore) -> None:
    append(acore, 30)

    def rewrite(connection):
        connection.execute(update(EVENTS).where(EVENTS.c.id == 15).values(outcome="denied"))
        rehash_from(connection, 15)

    tamper(acore.db, rewrite)
    problem = check(acore).problem
    # The chain itself is consistent again; the checkpoint at event 20 is not.
    assert problem.event_id == 11 and problem.checkpoint_id == 2
    assert "events from 11 to 20 were rewritten" in problem.message


def test_deleted_event_is_named(acore) -> None:
    append(acore, 30)
    tamper(acore.db, lambda c: c.execute(delete(EVENTS).where(EVENTS.c.id == 15)))
    problem = check(acore).problem
    assert problem.event_id == 16
    assert "an event between 14 and 16 was deleted" in problem.message


def test_deleted_checkpointed_event_is_named(acore) -> None:
    append(acore, 30)

    def remove_and_relink(connection):
        connection.execute(delete(EVENTS).where(EVENTS.c.id == 20))
        rehash_from(connection, 21)

    tamper(acore.db, remove_and_relink)
    problem = check(acore).problem
    assert problem.event_id == 20 and "which is missing" in problem.message


def test_inserted_event_is_named(acore) -> None:
    append(acore, 30)
    rows = events(acore.db)

    def insert_after_14(connection):
        # Make room at id 15 (two steps: ids are unique), then slip in a forged event
        # correctly chained to event 14 with a valid hash of its own.
        connection.execute(update(EVENTS).where(EVENTS.c.id >= 15).values(id=EVENTS.c.id + 1000))
        connection.execute(update(EVENTS).where(EVENTS.c.id >= 1015).values(id=EVENTS.c.id - 999))
        forged = forged_event(rows[13]["hash"], rows[13]["at"] + timedelta(microseconds=1))
        connection.execute(insert(EVENTS).values(id=15, **forged))

    tamper(acore.db, insert_after_14)
    problem = check(acore).problem
    assert problem.event_id == 15 and "inserted" in problem.message


def test_reordered_events_are_named(acore) -> None:
    append(acore, 30)

    def swap_15_and_16(connection):
        connection.execute(update(EVENTS).where(EVENTS.c.id == 15).values(id=1000))
        connection.execute(update(EVENTS).where(EVENTS.c.id == 16).values(id=15))
        connection.execute(update(EVENTS).where(EVENTS.c.id == 1000).values(id=16))

    tamper(acore.db, swap_15_and_16)
    problem = check(acore).problem
    assert problem.event_id == 15 and "out of order" in problem.message


def test_truncated_tail_is_caught_by_a_checkpoint_past_the_end(acore) -> None:
    append(acore, 30)
    tamper(acore.db, lambda c: c.execute(delete(EVENTS).where(EVENTS.c.id > 24)))
    problem = check(acore).problem
    assert problem.event_id == 30
    assert "the log ends at event 24: the newest events were deleted" in problem.message


def test_rewrite_with_its_checkpoints_deleted_shows_as_an_unsigned_tail(acore) -> None:
    append(acore, 35)

    def rewrite(connection):
        connection.execute(update(EVENTS).where(EVENTS.c.id == 15).values(outcome="denied"))
        rehash_from(connection, 15)
        connection.execute(delete(CHECKPOINTS).where(CHECKPOINTS.c.event_id > 10))

    tamper(acore.db, rewrite)
    problem = check(acore).problem
    assert problem.event_id == 11 and "25 events after checkpoint #1" in problem.message


@pytest.mark.parametrize("column, value", [("event_hash", "f" * 64), ("event_count", 11),
                                           ("kind", "manual")])
def test_altered_checkpoint_is_named(acore, column, value) -> None:
    append(acore, 30)
    tamper(acore.db, lambda c: c.execute(update(CHECKPOINTS).where(CHECKPOINTS.c.event_id == 20)
                                         .values({column: value})))
    problem = check(acore).problem
    assert problem.checkpoint_id == 2 and problem.event_id == 20
    assert "signature does not verify: forged or altered" in problem.message


def test_checkpoint_signed_by_another_key_is_refused(acore) -> None:
    append(acore, 25)
    rows = events(acore.db)
    intruder = CheckpointSigner(Ed25519PrivateKey.generate())
    fields = {"kind": "manual", "event_id": 25, "event_hash": rows[24]["hash"], "event_count": 25,
              "interval": 10, "at": rows[24]["at"], "node": "test-node", "key_id": intruder.key_id}
    forged = {**fields, "signature": intruder.sign(fields)}
    tamper(acore.db, lambda c: c.execute(insert(CHECKPOINTS).values(**forged)))
    problem = check(acore).problem
    assert problem.event_id == 25 and "not the bastion's" in problem.message


def test_garbage_signature_is_refused(acore) -> None:
    append(acore, 12)
    bad = base64.b64encode(b"\x00" * 64).decode()
    tamper(acore.db, lambda c: c.execute(update(CHECKPOINTS).values(signature=bad)))
    assert "signature does not verify" in check(acore).problem.message


def test_log_written_without_checkpoints_fails_once_longer_than_an_interval(acore) -> None:
    append(acore, 25)
    tamper(acore.db, lambda c: c.execute(delete(CHECKPOINTS)))
    problem = check(acore).problem
    assert problem.event_id == 1 and "25 events after the first event carry no signed" in problem.message


def test_partial_verification_starts_from_a_signed_checkpoint(acore) -> None:
    append(acore, 35)
    report = check(acore, from_id=25, to_id=33)
    assert report.ok and report.partial
    assert (report.first_event_id, report.last_event_id, report.events) == (21, 33, 13)
    assert "checkpoint #2" in report.start
    # Damage outside the range is out of sight; inside it is found.
    tamper(acore.db, lambda c: c.execute(update(EVENTS).where(EVENTS.c.id == 5).values(actor="x")))
    assert check(acore, from_id=25).ok
    assert check(acore).problem.event_id == 5


def test_on_demand_checkpoint_signs_the_newest_event(acore) -> None:
    append(acore, 13)
    made = checkpoint(acore)
    assert (made.kind, made.event_id, made.event_count) == ("manual", 13, 13)
    assert checkpoint(acore).id == made.id  # already signed: nothing new
    append(acore, 9)  # 9 since the manual checkpoint: none due yet
    assert [c["event_id"] for c in checkpoints(acore.db)] == [10, 13]
    append(acore, 1)
    assert [c["event_id"] for c in checkpoints(acore.db)] == [10, 13, 23]
    tamper(acore.db, lambda c: c.execute(delete(EVENTS).where(EVENTS.c.id > 20)))
    assert check(acore).problem.event_id == 23


def test_verification_is_itself_audited(acore) -> None:
    append(acore, 3)
    verify(acore)
    tamper(acore.db, lambda c: c.execute(update(EVENTS).where(EVENTS.c.id == 2).values(actor="x")))
    verify(acore)
    with acore.db.session() as session:
        rows = session.execute(select(EVENTS.c.outcome, EVENTS.c.details)
                               .where(EVENTS.c.action == "audit.verified").order_by(EVENTS.c.id)).all()
    assert [r.outcome for r in rows] == ["ok", "failed"]
    assert rows[1].details["bad_event_id"] == 2

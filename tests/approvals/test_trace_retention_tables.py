"""Trace retention over the whole graph an approval leaves (request, reviews, the approver's
WebAuthn proof, notifications, grant, session, recording, commands), on SQLite and on
PostgreSQL, whose foreign keys check the order of deletion."""

from __future__ import annotations

from datetime import timedelta

from sqlalchemy import func, select

from bastion.audit import Actor
from bastion.models import (
    AccessRequest,
    BreakGlassReview,
    Grant,
    NotificationOutbox,
    RecordedCommand,
    Recording,
    Review,
    SshSession,
    WebAuthnChallenge,
    utcnow,
)
from bastion.trace_retention import TABLES, purge_expired_traces

from .conftest import World, assert_chain_intact, audit_events

LATER = timedelta(days=400)
MODELS = (AccessRequest, Review, WebAuthnChallenge, NotificationOutbox, Grant, SshSession,
          Recording, RecordedCommand, BreakGlassReview)


def approved_with_a_session(world: World) -> int:
    request = world.file()
    world.approve(request.id, "alice")
    with world.core.db.session() as s:
        grant = s.scalar(select(Grant).where(Grant.request_id == request.id))
        now = utcnow()
        row = SshSession(grant_id=grant.id, technician_id=grant.technician_id,
                         target_id=grant.target_id, account_name=grant.account_name,
                         client_address="203.0.113.7", node="test", status="ended",
                         started_at=now, ended_at=now)
        s.add(row)
        s.flush()
        recording = Recording(session_id=row.id, channel="exec", storage_key=f"k-{row.id}",
                              status="purged", wrapped_key=b"", master_key_id="m",
                              started_at=now, sealed_at=now, purged_at=now)
        s.add(recording)
        s.flush()
        s.add(RecordedCommand(recording_id=recording.id, session_id=row.id, offset_seconds=0.0,
                              at=now, kind="exec", text="uptime"))
        # What the mail worker leaves: one sent about the request, a daily summary sent, and
        # one still waiting for its SMTP server.
        for request_id, status in ((request.id, "sent"), (None, "sent"), (None, "pending")):
            s.add(NotificationOutbox(kind="request.filed", channel="email", status=status,
                                     recipient="alice@chu.example", body="...",
                                     request_id=request_id, created_at=now))
    return request.id


def counts(world: World) -> dict[str, int]:
    with world.core.db.session() as s:
        found = {m.__tablename__: s.scalar(select(func.count()).select_from(m)) or 0 for m in MODELS}
        # Enrolment and sign-in challenges are no access trace (housekeeping clears them).
        found["webauthn_challenges"] = s.scalar(select(func.count()).select_from(WebAuthnChallenge)
                                                .where(WebAuthnChallenge.request_id.is_not(None))) or 0
        return found


def test_the_whole_graph_goes_children_first(any_world: World) -> None:
    approved_with_a_session(any_world)
    before = counts(any_world)
    for table in ("access_requests", "reviews", "webauthn_challenges", "notification_outbox",
                  "grants", "ssh_sessions", "recordings", "recorded_commands"):
        assert before[table] >= 1, table
    # Not yet expired: nothing goes.
    assert purge_expired_traces(any_world.core).total == 0
    # A year and a bit later.
    result = purge_expired_traces(any_world.core, now=utcnow() + LATER,
                                  actor=Actor("cli:dpo", "admin"))
    after = counts(any_world)
    for table in TABLES:
        if table != "notification_outbox":
            assert after[table] == 0, table
    # A message about nothing in particular still waiting for delivery is not dropped.
    with any_world.core.db.session() as s:
        assert s.scalars(select(NotificationOutbox.status)).all() == ["pending"]
    assert result.counts["notification_outbox"] == 2
    assert result.counts["access_requests"] == 1 and result.counts["reviews"] == 1
    assert result.counts["webauthn_challenges"] >= 1 and result.counts["recorded_commands"] == 1
    [event] = audit_events(any_world.core, "traces.purged")
    assert event.details["counts"] == result.counts
    assert_chain_intact(any_world.core)


def test_an_open_break_glass_review_keeps_its_request(any_world: World) -> None:
    request_id = approved_with_a_session(any_world)
    with any_world.core.db.session() as s:
        grant = s.scalar(select(Grant).where(Grant.request_id == request_id))
        s.add(BreakGlassReview(request_id=request_id, grant_id=grant.id,
                               justification="the admissions service is down",
                               deadline=utcnow() + timedelta(days=3)))
    assert purge_expired_traces(any_world.core, now=utcnow() + LATER).counts["access_requests"] == 0
    with any_world.core.db.session() as s:
        s.scalar(select(BreakGlassReview)).closed_at = utcnow()
    # Closed, it ages like the rest.
    assert purge_expired_traces(any_world.core, now=utcnow() + LATER).counts["break_glass_reviews"] == 1
    assert counts(any_world)["access_requests"] == 0

"""Declaring an emergency access: what opens, for how long, what is written and audited,
and every refusal (typed, one line, on record)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import func, select

from bastion import breakglass
from bastion.context import Bastion
from bastion.models import AccessRequest, BreakGlassReview, Grant, NotificationOutbox, Review, utcnow
from tests.approvals.conftest import World, assert_chain_intact, audit_events, load_contract

from .conftest import JUSTIFICATION, break_glass_contract


def configured(core: Bastion, **smtp: object) -> Bastion:
    """The same core with SMTP and a webhook configured (nothing is delivered here)."""
    settings = (core.settings.with_changes("smtp", host="127.0.0.1", port=2525, **smtp)
                .with_changes("webhook", url="http://127.0.0.1:9/hook?token=x"))
    return Bastion(settings=settings, db=core.db, keys=core.keys, audit=core.audit, node=core.node)


def test_a_technician_declares_and_access_opens_at_once(any_bg_world: World) -> None:
    core = configured(any_bg_world.core)
    now = utcnow().replace(microsecond=0)
    access = breakglass.declare_break_glass(core, technician="jdupont", target="dpi-db-01",
                                            justification=JUSTIFICATION, ticket="INC-99",
                                            source="ssh", now=now)
    grant = access.grant
    assert grant.break_glass and grant.status == "approved"
    assert grant.technician == "jdupont" and grant.target == "dpi-db-01" and grant.account == "dbmaint"
    # The contract's 30 minutes (under the bastion's 60-minute ceiling), from now.
    assert (grant.not_before, grant.not_after) == (now, now + timedelta(minutes=30))
    # dpi-db-01 holds health and INS data: an emergency there only reads (SFTP read).
    assert set(grant.scope["channels"]) == {"sftp"} and grant.scope["forwards"] == []
    assert grant.scope["sftp"]["access"] == "read"
    assert grant.has_certificate  # jdupont has one key: the certificate is ready
    assert access.review_deadline == now + timedelta(hours=72)
    assert access.notifications == 6  # approvers alice, bob, carol, eve; DPO diane; webhook
    with core.db.session() as session:
        request = session.get(AccessRequest, access.request_id)
        assert request.break_glass and request.status == "approved"
        assert request.approvals_required == 0 and request.source == "ssh"
        assert request.reason == JUSTIFICATION and request.ticket == "INC-99"
        assert session.scalar(select(func.count()).select_from(Review)) == 0  # no approval
        review = session.get(BreakGlassReview, access.review_id)
        assert (review.request_id, review.grant_id) == (access.request_id, grant.id)
        assert review.justification == JUSTIFICATION and review.closed_at is None
        outbox = session.scalars(select(NotificationOutbox).order_by(NotificationOutbox.id)).all()
    assert {row.kind for row in outbox} == {"break_glass.declared"}
    emails = sorted(row.recipient for row in outbox if row.channel == "email")
    assert emails == ["alice@chu.example", "bob@chu.example", "carol@chu.example",
                      "diane@chu.example", "eve@chu.example"]
    assert all(row.subject.startswith("[URGENT]") for row in outbox if row.channel == "email")
    actions = [(e.action, e.outcome, e.actor) for e in audit_events(core)
               if e.request_id == access.request_id]
    assert actions == [
        ("break_glass.declared", "allowed", "technician:jdupont"),
        ("grant.created", "ok", "technician:jdupont"),
        ("grant.certificate_issued", "ok", "technician:jdupont"),
        ("break_glass.review_opened", "ok", "technician:jdupont"),
        ("break_glass.notified", "ok", "technician:jdupont"),
    ]
    assert_chain_intact(core)


def test_the_bastion_ceiling_caps_a_longer_contract(bg_world: World) -> None:
    load_contract(bg_world.core, break_glass_contract(max_minutes=180))
    now = utcnow().replace(microsecond=0)
    access = breakglass.declare_break_glass(bg_world.core, technician="jdupont",
                                            target="dpi-app-01", justification=JUSTIFICATION,
                                            now=now)
    assert access.not_after == now + timedelta(minutes=60)  # breakglass.max_minutes


def test_without_any_notification_channel_the_trail_says_so(bg_world: World) -> None:
    access = breakglass.declare_break_glass(bg_world.core, technician="jdupont",
                                            target="dpi-app-01", justification=JUSTIFICATION)
    assert access.notifications == 0
    [event] = audit_events(bg_world.core, "break_glass.notified")
    assert event.outcome == "failed" and "smtp.host" in event.reasons[0]


def test_staff_declares_for_a_technician_from_the_console(bg_world: World) -> None:
    core = configured(bg_world.core)
    access = breakglass.declare_break_glass(core, technician="kbenali", target="dpi-app-01",
                                            justification=JUSTIFICATION, source="console",
                                            declared_by_staff=bg_world.staff["alice"],
                                            channels=["shell"])
    assert access.grant.scope["channels"] == ["shell"]
    assert not access.grant.has_certificate  # two keys: the technician picks one
    with core.db.session() as session:
        request = session.get(AccessRequest, access.request_id)
        assert request.declared_by_staff_id == bg_world.staff["alice"]
        told = sorted(r.recipient for r in session.scalars(select(NotificationOutbox))
                      if r.channel == "email")
    assert "alice@chu.example" not in told  # she declared it; the DPOs are always told
    assert {"diane@chu.example", "eve@chu.example"} <= set(told)
    [declared] = audit_events(core, "break_glass.declared")
    assert (declared.actor, declared.actor_role) == ("staff:alice", "approver")
    assert declared.details["declared_by"] == "alice"


def _refusal(world: World, error: type[breakglass.BreakGlassError], **fields: object) -> str:
    arguments: dict[str, object] = {"technician": "jdupont", "target": "dpi-app-01",
                                    "justification": JUSTIFICATION}
    arguments.update(fields)
    with pytest.raises(error) as caught:
        breakglass.declare_break_glass(world.core, **arguments)  # type: ignore[arg-type]
    assert "\n" not in caught.value.message
    return caught.value.message


def test_refusals_are_typed_one_line_and_audited(bg_world: World) -> None:
    core = bg_world.core
    cases = [
        (breakglass.JustificationTooShort, {"justification": "  urgent  "},
         "at least 20 characters"),
        (breakglass.UnknownTechnician, {"technician": "nobody"}, "unknown technician nobody"),
        (breakglass.UnknownTarget, {"target": "dpi-xx"}, "unknown target dpi-xx"),
        (breakglass.NotAllowedToDeclare, {"declared_by_staff": bg_world.staff["diane"],
                                          "source": "console"}, "approver or administrator"),
        (breakglass.NotAllowedToDeclare, {"declared_by_staff": 999_999, "source": "console"},
         "approver or administrator"),
        (breakglass.InvalidInput, {"ticket": "T" * 101}, "ticket is longer"),
    ]
    for error, fields, words in cases:
        assert words in _refusal(bg_world, error, **fields)
    refused = audit_events(core, "break_glass.refused")
    assert len(refused) == len(cases)
    assert [e.details["code"] for e in refused] == [error.code for error, _, _ in cases]
    assert refused[3].actor == "staff:diane" and refused[4].actor == "staff:#999999"
    with core.db.session() as session:
        assert session.scalar(select(func.count()).select_from(AccessRequest)) == 0
        assert session.scalar(select(func.count()).select_from(Grant)) == 0
    with pytest.raises(breakglass.InvalidInput):
        breakglass.declare_break_glass(core, technician="jdupont", target="dpi-app-01",
                                       justification=JUSTIFICATION, source="portal")


def test_a_contract_without_break_glass_refuses_and_the_refusal_is_stored(bg_world: World) -> None:
    load_contract(bg_world.core, break_glass_contract(allowed=False))
    message = _refusal(bg_world, breakglass.BreakGlassRefused)
    assert message == "emergency access refused: contract ACME-1 does not allow break-glass access"
    [event] = audit_events(bg_world.core, "break_glass.refused")
    assert event.details["codes"] == ["break_glass_not_allowed"] and event.request_id
    with bg_world.core.db.session() as session:
        request = session.get(AccessRequest, event.request_id)
        assert request.break_glass and request.status == "denied"
        assert session.scalar(select(func.count()).select_from(Grant)) == 0
        assert session.scalar(select(func.count()).select_from(BreakGlassReview)) == 0


def test_a_channel_the_contract_does_not_allow_is_refused(bg_world: World) -> None:
    load_contract(bg_world.core, {**break_glass_contract(),
                                  "channels": {"shell": True, "exec": False}})
    message = _refusal(bg_world, breakglass.BreakGlassRefused, channels=["shell", "exec"])
    assert message == "emergency access refused: channel exec is not allowed by contract ACME-1"


# Sunday 2025-06-15 03:00 in Paris; the contract's windows are weekdays 08:00-18:00.
SUNDAY_NIGHT = datetime(2025, 6, 15, 1, 0, tzinfo=UTC)
WEEKDAY_WINDOWS = {"windows": [{"days": ["mon", "tue", "wed", "thu", "fri"],
                                "start": "08:00", "end": "18:00"}]}


@pytest.mark.parametrize(("outside_windows", "at", "opens"), [
    (False, SUNDAY_NIGHT, False),
    (True, SUNDAY_NIGHT, True),
    (False, datetime(2025, 6, 16, 8, 0, tzinfo=UTC), True),  # Monday 10:00 in Paris
])
def test_the_contract_says_whether_an_emergency_may_open_outside_the_windows(
        bg_world: World, outside_windows: bool, at: datetime, opens: bool) -> None:
    document = break_glass_contract(outside_windows=outside_windows)
    document["scope"] = {**document["scope"], **WEEKDAY_WINDOWS}
    load_contract(bg_world.core, document)
    if opens:
        access = breakglass.declare_break_glass(bg_world.core, technician="jdupont",
                                                target="dpi-app-01",
                                                justification=JUSTIFICATION, now=at)
        assert access.not_after == at + timedelta(minutes=30)
    else:
        message = _refusal(bg_world, breakglass.BreakGlassRefused, now=at)
        assert "outside the maintenance windows of contract ACME-1" in message


def test_a_second_emergency_while_one_is_open_is_refused(bg_world: World) -> None:
    now = utcnow().replace(microsecond=0)
    first = breakglass.declare_break_glass(bg_world.core, technician="jdupont",
                                           target="dpi-app-01", justification=JUSTIFICATION,
                                           now=now)
    message = _refusal(bg_world, breakglass.AlreadyOpen, now=now + timedelta(minutes=5))
    assert f"grant {first.grant.id}" in message
    # Another target, or the same once the first has ended, is a new emergency.
    breakglass.declare_break_glass(bg_world.core, technician="jdupont", target="dpi-db-01",
                                   justification=JUSTIFICATION, now=now)
    later = breakglass.declare_break_glass(bg_world.core, technician="jdupont",
                                           target="dpi-app-01", justification=JUSTIFICATION,
                                           now=now + timedelta(minutes=31))
    assert later.grant.id != first.grant.id

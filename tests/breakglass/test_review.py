"""The DPO's review of an emergency access: closed with a verdict and a comment, by a DPO
only, never by whoever declared it; overdue while open past its deadline."""

from __future__ import annotations

from datetime import timedelta

import pytest

from bastion import breakglass
from bastion.models import utcnow
from tests.approvals.conftest import World, assert_chain_intact, audit_events

from .conftest import JUSTIFICATION


def declare(world: World, **fields: object) -> breakglass.BreakGlassAccess:
    arguments: dict[str, object] = {"technician": "jdupont", "target": "dpi-app-01",
                                    "justification": JUSTIFICATION}
    arguments.update(fields)
    return breakglass.declare_break_glass(world.core, **arguments)  # type: ignore[arg-type]


def test_the_dpo_closes_a_review_with_a_verdict(any_bg_world: World) -> None:
    core = any_bg_world.core
    access = declare(any_bg_world)
    review = breakglass.get_review(core, access.review_id)
    assert review.is_open and review.verdict is None and review.grant_id == access.grant.id
    assert review.justification == JUSTIFICATION and review.technician == "jdupont"

    closed = breakglass.close_review(core, access.review_id, staff=any_bg_world.staff["diane"],
                                     verdict="justified",
                                     comment="  Admissions outage confirmed by ticket INC-99.  ")
    assert not closed.is_open and closed.closed_by == "diane"
    assert (closed.verdict, closed.comment) == ("justified",
                                               "Admissions outage confirmed by ticket INC-99.")
    [event] = audit_events(core, "break_glass.reviewed")
    assert (event.actor, event.actor_role, event.outcome) == ("staff:diane", "dpo", "ok")
    assert event.details["verdict"] == "justified" and event.details["overdue"] is False
    assert event.request_id == access.request_id and event.grant_id == access.grant.id

    with pytest.raises(breakglass.ReviewAlreadyClosed):
        breakglass.close_review(core, access.review_id, staff=any_bg_world.staff["eve"],
                                verdict="unjustified", comment="second opinion")
    assert breakglass.get_review(core, access.review_id).verdict == "justified"
    assert_chain_intact(core)


def test_only_a_dpo_who_did_not_declare_it_may_close_it(bg_world: World) -> None:
    core = bg_world.core
    access = declare(bg_world, source="console", declared_by_staff=bg_world.staff["eve"])
    for username, words in (("alice", "only an active DPO"), ("dave", "only an active DPO"),
                            ("eve", "you declared this emergency access")):
        with pytest.raises(breakglass.NotTheReviewer, match=words):
            breakglass.close_review(core, access.review_id, staff=bg_world.staff[username],
                                    verdict="justified", comment="fine")
    refused = audit_events(core, "break_glass.review_refused")
    assert [e.actor for e in refused] == ["staff:alice", "staff:dave", "staff:eve"]
    assert breakglass.get_review(core, access.review_id).is_open
    breakglass.close_review(core, access.review_id, staff=bg_world.staff["diane"],
                            verdict="unjustified", comment="planned work, not an emergency")


@pytest.mark.parametrize(("verdict", "comment", "words"), [
    ("maybe", "fine", "verdict must be one of justified, unjustified"),
    ("justified", "   ", "say in a comment"),
    ("justified", "x" * 4001, "longer than 4000"),
])
def test_a_verdict_needs_a_known_value_and_a_comment(bg_world: World, verdict: str,
                                                     comment: str, words: str) -> None:
    access = declare(bg_world)
    with pytest.raises(breakglass.InvalidInput, match=words):
        breakglass.close_review(bg_world.core, access.review_id, staff=bg_world.staff["diane"],
                                verdict=verdict, comment=comment)


def test_an_unknown_review(bg_world: World) -> None:
    with pytest.raises(breakglass.ReviewNotFound):
        breakglass.get_review(bg_world.core, 999)
    with pytest.raises(breakglass.ReviewNotFound):
        breakglass.close_review(bg_world.core, 999, staff=bg_world.staff["diane"],
                                verdict="justified", comment="x")


def test_reviews_open_past_their_deadline_are_overdue_until_closed(any_bg_world: World) -> None:
    core = any_bg_world.core
    now = utcnow().replace(microsecond=0)
    old = declare(any_bg_world, now=now - timedelta(days=4))
    recent = declare(any_bg_world, target="dpi-db-01", now=now - timedelta(hours=1))
    assert [r.id for r in breakglass.overdue_reviews(core, now)] == [old.review_id]
    assert [r.id for r in breakglass.list_reviews(core, state="open", now=now)] == [
        old.review_id, recent.review_id]
    assert breakglass.get_review(core, old.review_id).is_overdue(now)
    assert not breakglass.get_review(core, recent.review_id).is_overdue(now)

    breakglass.close_review(core, old.review_id, staff=any_bg_world.staff["diane"],
                            verdict="justified", comment="late, but justified", now=now)
    assert breakglass.overdue_reviews(core, now) == []
    assert audit_events(core, "break_glass.reviewed")[0].details["overdue"] is True
    everything = breakglass.list_reviews(core, now=now)
    assert [r.id for r in everything] == [recent.review_id, old.review_id]  # open first
    assert [r.id for r in breakglass.list_reviews(core, state="closed")] == [old.review_id]
    with pytest.raises(breakglass.InvalidInput):
        breakglass.list_reviews(core, state="pending")

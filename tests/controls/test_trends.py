"""The DPO's trends (bastion.controls.trends): weeks and months cut at midnight in the
viewer's zone (across daylight-saving changes and year ends), and the weekly and monthly
numbers from a real database, SQLite and PostgreSQL."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest

from bastion import breakglass
from bastion.controls import trends
from bastion.controls.trends import _bucket, month_starts, week_starts
from bastion.models import utcnow
from tests.approvals.conftest import World
from tests.breakglass.conftest import JUSTIFICATION

from .test_period import open_session

PARIS = ZoneInfo("Europe/Paris")


def paris(*parts: int) -> datetime:
    return datetime(*parts, tzinfo=PARIS)  # type: ignore[misc]


@pytest.mark.parametrize(("since", "until", "mondays"), [
    # Daylight saving ends on Sunday 25 October 2026: the week of the 19th is 7 days + 1 h.
    (paris(2026, 10, 21, 15), paris(2026, 11, 10), ["2026-10-19", "2026-10-26", "2026-11-02",
                                                   "2026-11-09"]),
    (paris(2026, 11, 2), paris(2026, 11, 9), ["2026-11-02"]),  # until is exclusive
    (paris(2026, 3, 29, 12), paris(2026, 3, 31), ["2026-03-23", "2026-03-30"]),  # DST starts
])
def test_week_starts(since: datetime, until: datetime, mondays: list[str]) -> None:
    assert [d.isoformat() for d in week_starts(since, until, PARIS)] == mondays


def test_month_starts_across_a_year_end() -> None:
    found = month_starts(paris(2025, 11, 30, 23), paris(2026, 2, 1), PARIS)
    assert found == [date(2025, 11, 1), date(2025, 12, 1), date(2026, 1, 1)]


def test_a_moment_falls_in_the_viewers_week() -> None:
    weeks = week_starts(paris(2026, 11, 2), paris(2026, 11, 16), PARIS)
    # Sunday 8 November 23:30 in Paris is 22:30 UTC: still the week of the 2nd; half past
    # midnight on Monday the 9th in Paris is Sunday 23:30 UTC, the week of the 9th.
    assert _bucket(datetime(2026, 11, 8, 22, 30, tzinfo=UTC), weeks, PARIS) == 0
    assert _bucket(datetime(2026, 11, 8, 23, 30, tzinfo=UTC), weeks, PARIS) == 1
    assert _bucket(datetime(2026, 11, 1, 12, tzinfo=UTC), weeks, PARIS) is None


def test_weekly_and_monthly_from_the_database(any_bg_world: World) -> None:
    core = any_bg_world.core
    now = utcnow().replace(microsecond=0)
    today = now.astimezone(PARIS).date()
    monday = today - timedelta(days=today.weekday())
    since = datetime.combine(monday - timedelta(weeks=2), datetime.min.time(), tzinfo=PARIS)
    last_week = datetime.combine(monday - timedelta(days=6), datetime.min.time(),
                                 tzinfo=PARIS) + timedelta(hours=10)
    # Last week: 90 min on dpi-db-01 (health, INS) and 30 on dpi-app-01; this week a live
    # session on dpi-db-01 for 20 minutes so far.
    open_session(core, "dpi-db-01", last_week, last_week + timedelta(minutes=90))
    open_session(core, "dpi-app-01", last_week + timedelta(hours=3),
                 last_week + timedelta(hours=3, minutes=30))
    open_session(core, "dpi-db-01", now - timedelta(minutes=20), None)
    breakglass.declare_break_glass(core, technician="jdupont", target="dpi-app-01",
                                   justification=JUSTIFICATION, now=now - timedelta(minutes=30))

    weekly = trends.weekly(core, since=since, until=now + timedelta(seconds=1), zone=PARIS,
                           now=now)
    assert weekly.weeks == (monday - timedelta(weeks=2), monday - timedelta(weeks=1), monday)
    # Just after midnight on a Monday, "20 minutes ago" is still last week.
    this_week = datetime.combine(monday, datetime.min.time(), tzinfo=PARIS)
    live, glass = (2 if now - timedelta(minutes=m) >= this_week else 1 for m in (20, 30))
    sessions, hours, sensitive, glasses = [0, 2, 0], [0, 1.5, 0], [0, 1, 0], [0, 0, 0]
    sessions[live] += 1
    hours[live] += 1 / 3
    sensitive[live] += 1
    glasses[glass] += 1
    assert [(s.key, s.values) for s in weekly.sessions_by_vendor] == [("acme", tuple(sessions))]
    assert weekly.vendor_names == {"acme": "Acme Santé SAS"}
    assert weekly.sensitive_hours == pytest.approx(tuple(hours), abs=0.01)
    kinds = {s.key: s.values for s in weekly.flags_by_kind}
    assert kinds["sensitive_data"] == tuple(sensitive)
    assert kinds["break_glass"] == tuple(glasses)

    other = trends.weekly(core, since=since, until=now + timedelta(seconds=1), zone=PARIS,
                          vendor="nobody", now=now)
    assert other.sessions_by_vendor == () and other.flags_by_kind == ()
    assert other.sensitive_hours == (0, 0, 0)

    monthly = trends.monthly(core, since=since, until=now + timedelta(seconds=1), zone=PARIS)
    states = {s.key: sum(s.values) for s in monthly.break_glass_by_state}
    assert states == {"justified": 0, "unjustified": 0, "open": 1}
    assert monthly.months[-1] == today.replace(day=1)
    nobody = trends.monthly(core, since=since, until=now + timedelta(seconds=1), zone=PARIS,
                            vendor="nobody")
    assert sum(sum(s.values) for s in nobody.break_glass_by_state) == 0

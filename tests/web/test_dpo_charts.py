"""The DPO's charts say what the database holds: a world with sessions of two vendors over
several weeks (some on servers holding health data when they ran, by the categories
copied at the session's start), command-rule hits and emergency accesses over several
months; the DPO's home page is rendered, the numbers are read back from its SVG and
compared with SQL counts, with the table under each chart, and with the flags page."""

from __future__ import annotations

import re
import xml.etree.ElementTree as ET
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from html import unescape
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import func, select, update

from bastion import breakglass
from bastion.context import Bastion
from bastion.models import (
    AuditEvent,
    BreakGlassReview,
    SshSession,
    Target,
    Technician,
    Vendor,
    utcnow,
)
from tests.breakglass.conftest import JUSTIFICATION
from tests.breakglass.conftest import bg_world as bg_world  # noqa: F401 (a fixture)
from tests.breakglass.test_console import Console
from tests.breakglass.test_console import console as console  # noqa: F401 (a fixture)
from tests.controls.test_period import proxy_event
from tests.web.test_accessibility import problems_of

ZONE = ZoneInfo("Europe/Paris")  # the console's default zone, the DPO's here
SVG = "{http://www.w3.org/2000/svg}"
SENSITIVE = {"health", "ins"}


def session_row(core: Bastion, technician: str, target: str, start: datetime, minutes: int | None,
                categories: list[str]) -> int:
    """A session as the proxy leaves it, with the categories copied when it opened."""
    with core.db.session() as db:
        who = db.scalar(select(Technician).where(Technician.ident == technician))
        place = db.scalar(select(Target).where(Target.name == target))
        row = SshSession(technician_id=who.id, target_id=place.id,
                         account_name=place.accounts[0].name, client_address="192.0.2.10",
                         node="test", status="ended" if minutes else "live", started_at=start,
                         ended_at=start + timedelta(minutes=minutes) if minutes else None,
                         data_categories=categories)
        db.add(row)
        db.flush()
        return row.id


@dataclass
class Activity:
    now: datetime
    monday: date  # of the current week


def local(day: date, hour: int, minute: int = 0) -> datetime:
    return datetime.combine(day, time(hour, minute), tzinfo=ZONE)


def build_activity(core: Bastion) -> Activity:
    """Sessions of two vendors over ten weeks, command-rule hits this week, emergency
    accesses over four months (also the world of the DPO's screenshots)."""
    now = utcnow().replace(microsecond=0)
    today = now.astimezone(ZONE).date()
    monday = today - timedelta(days=today.weekday())
    with core.db.session() as db:
        other = Vendor(slug="medilog", name="Médilogic SAS")
        db.add(other)
        db.flush()
        db.add(Technician(ident="mmartin", vendor_id=other.id, employer=other.name,
                          full_name="Marie Martin", email="marie.martin@medilog.example"))
    # Past weeks: (weeks back, technician, target, minutes, categories then).
    plan = [(1, "jdupont", "dpi-db-01", 90, ["administrative", "health", "ins"]),
            (1, "mmartin", "dpi-app-01", 30, ["technical"]),
            (1, "mmartin", "dpi-app-01", 45, ["technical"]),
            (2, "kbenali", "dpi-db-01", 20, ["administrative", "ins"]),
            # Reclassified since: held health data then, not now (and the reverse).
            (3, "mmartin", "dpi-app-01", 150, ["health"]),
            (3, "jdupont", "dpi-db-01", 60, ["technical"]),
            (5, "jdupont", "dpi-app-01", 10, ["technical"]),
            (9, "mmartin", "dpi-db-01", 75, ["health"])]
    for number, (back, technician, target, minutes, categories) in enumerate(plan):
        start = local(monday - timedelta(weeks=back) + timedelta(days=1 + number % 3), 10, number)
        session_row(core, technician, target, start, minutes, categories)
    # This week: one live session on health data, started before now.
    live = session_row(core, "jdupont", "dpi-db-01", now - timedelta(minutes=25), None,
                       ["health"])
    proxy_event(core, "command.flagged", live, "allowed", command="sudo systemctl restart dpi",
                rule=r"\bsudo\b", reason="privileged commands are reviewed")
    proxy_event(core, "command.refused", live, "denied", command="pg_dump dpi",
                rule=r"\bpg_dump\b", reason="dumping the database is forbidden")
    # Emergency accesses over four months; one justified, one not, the others open.
    declared = []
    for days, technician, target in ((100, "jdupont", "dpi-db-01"), (70, "kbenali", "dpi-app-01"),
                                     (40, "jdupont", "dpi-app-01"), (38, "kbenali", "dpi-db-01"),
                                     (2, "jdupont", "dpi-db-01")):
        declared.append(breakglass.declare_break_glass(
            core, technician=technician, target=target, justification=JUSTIFICATION,
            now=now - timedelta(days=days)))
    with core.db.session() as db:
        for access, verdict in zip(declared, ("justified", "unjustified"), strict=False):
            db.execute(update(BreakGlassReview).where(BreakGlassReview.id == access.review_id)
                       .values(closed_at=now, verdict=verdict, comment="checked with the ward"))
    return Activity(now, monday)


@pytest.fixture
def activity(console: Console) -> Activity:  # noqa: F811
    return build_activity(console.world.core)


def charts_of(page: str) -> dict[str, ET.Element]:
    found = {}
    for text in re.findall(r"<svg\b.*?</svg>", page, flags=re.S):
        element = ET.fromstring(text)
        found[element.get("id")] = element
    return found


def values_of(svg: ET.Element) -> dict[str, dict[str, float]]:
    """series key -> bucket key -> value, as drawn (a bar not drawn is a zero)."""
    drawn: dict[str, dict[str, float]] = {}
    for group in svg.iter(SVG + "g"):
        if group.get("data-series") is None:
            continue
        bars = drawn.setdefault(group.get("data-series"), {})
        for bar in group.iter(SVG + "rect"):
            bars[bar.get("data-bucket")] = float(bar.get("data-value"))
    return drawn


def buckets_of(svg: ET.Element, page: str) -> list[str]:
    """The bucket keys, from the rows of the table that goes with the chart."""
    figure = page.split(f'id="{svg.get("id")}"', 1)[1].split("</figure>", 1)[0]
    return re.findall(r'<tr data-bucket="([0-9-]+)">', figure)


def week_bounds(key: str) -> tuple[datetime, datetime]:
    start = datetime.combine(date.fromisoformat(key), time.min, tzinfo=ZONE)
    return start, start + timedelta(days=7)


def month_bounds(key: str) -> tuple[datetime, datetime]:
    first = date.fromisoformat(key)
    following = (first + timedelta(days=32)).replace(day=1)
    return (datetime.combine(first, time.min, tzinfo=ZONE),
            datetime.combine(following, time.min, tzinfo=ZONE))


def test_the_dpo_charts_match_the_database(console: Console, activity: Activity) -> None:  # noqa: F811
    core = console.world.core
    console.sign_in("dpo")
    page = console.page("/dpo")
    assert problems_of("/dpo", page) == []
    charts = charts_of(page)
    assert set(charts) == {"chart-sessions", "chart-sensitive-hours", "chart-flags",
                           "chart-break-glass"}
    for svg in charts.values():  # named and described for assistive technology
        assert svg.get("role") == "img"
        assert svg.find(SVG + "title").text and svg.find(SVG + "desc").text
        assert svg.get("aria-labelledby") == svg.find(SVG + "title").get("id")

    # Sessions per vendor per week: twelve weeks, this one last.
    sessions = charts["chart-sessions"]
    weeks = buckets_of(sessions, page)
    assert len(weeks) == 12 and weeks[-1] == activity.monday.isoformat()
    drawn = values_of(sessions)
    assert set(drawn) == {"acme", "medilog"}
    with core.db.session() as db:
        for vendor in ("acme", "medilog"):
            for key in weeks:
                since, until = week_bounds(key)
                expected = db.scalar(
                    select(func.count(SshSession.id))
                    .join(Technician, Technician.id == SshSession.technician_id)
                    .join(Vendor, Vendor.id == Technician.vendor_id)
                    .where(Vendor.slug == vendor, SshSession.started_at >= since,
                           SshSession.started_at < until))
                assert drawn[vendor].get(key, 0) == expected, (vendor, key)
        assert sum(sum(v.values()) for v in drawn.values()) == db.scalar(
            select(func.count(SshSession.id)))  # every session is in the window

    # Hours on servers that held health or INS data when the session ran.
    hours = values_of(charts["chart-sensitive-hours"])["hours"]
    with core.db.session() as db:
        rows = db.execute(select(SshSession.started_at, SshSession.ended_at,
                                 SshSession.data_categories)).all()
    for key in weeks:
        since, until = week_bounds(key)
        expected = sum(((end or activity.now) - start).total_seconds() / 3600
                       for start, end, categories in rows
                       if since <= start < until and SENSITIVE & set(categories))
        assert hours.get(key, 0) == pytest.approx(expected, abs=0.02), key
    assert hours[weeks[-4]] == 2.5  # the 150 minutes on the server reclassified since

    # Flags per week: the kinds read from the database directly, and every flag of the
    # week as the flags page lists it.
    flags = values_of(charts["chart-flags"])
    with core.db.session() as db:
        for key in weeks:
            since, until = week_bounds(key)
            sensitive = sum(1 for start, _end, categories in rows
                            if since <= start < until and SENSITIVE & set(categories))
            assert flags.get("sensitive_data", {}).get(key, 0) == sensitive, key
            commands = db.scalar(select(func.count(AuditEvent.id)).where(
                AuditEvent.action.in_(("command.flagged", "command.refused")),
                AuditEvent.at >= since, AuditEvent.at < until))
            assert flags.get("command_rule", {}).get(key, 0) == commands, key
            glass = db.scalar(select(func.count(BreakGlassReview.id)).where(
                BreakGlassReview.opened_at >= since, BreakGlassReview.opened_at < until))
            assert flags.get("break_glass", {}).get(key, 0) == glass, key
    for key in weeks:
        last_day = (date.fromisoformat(key) + timedelta(days=6)).isoformat()
        listed = console.page(f"/dpo/flags?start={key}&end={last_day}")
        rows_listed = listed.count("<tr>") - 1 if "<table" in listed else 0
        assert sum(kind.get(key, 0) for kind in flags.values()) == rows_listed, key

    # Emergency accesses per month, by the state of their review.
    glass_chart = charts["chart-break-glass"]
    months = buckets_of(glass_chart, page)
    assert len(months) == 12
    states = values_of(glass_chart)
    with core.db.session() as db:
        for key in months:
            since, until = month_bounds(key)
            reviews = db.execute(select(BreakGlassReview.closed_at, BreakGlassReview.verdict)
                                 .where(BreakGlassReview.opened_at >= since,
                                        BreakGlassReview.opened_at < until)).all()
            for state, wanted in (("open", lambda c, v: c is None),
                                  ("justified", lambda c, v: v == "justified"),
                                  ("unjustified", lambda c, v: v == "unjustified")):
                expected = sum(1 for closed, verdict in reviews if wanted(closed, verdict))
                assert states.get(state, {}).get(key, 0) == expected, (state, key)
    assert sum(sum(v.values()) for v in states.values()) == 5

    # The table under each chart has the same numbers, in the viewer's language.
    sessions_table = page.split('id="chart-sessions"', 1)[1].split("</table>", 1)[0]
    last_row = sessions_table.split(f'<tr data-bucket="{weeks[-1]}">', 1)[1].split("</tr>", 1)[0]
    cells = [unescape(c) for c in re.findall(r"<td>(.*?)</td>", last_row)]
    assert cells == [str(int(drawn["acme"].get(weeks[-1], 0))),
                     str(int(drawn["medilog"].get(weeks[-1], 0))),
                     str(int(drawn["acme"].get(weeks[-1], 0) + drawn["medilog"].get(weeks[-1], 0)))]
    assert "Sessions par fournisseur et par semaine" in page  # the DPO reads French


def test_the_report_pages_chart_their_period_and_vendor(console: Console,  # noqa: F811
                                                        activity: Activity) -> None:
    console.sign_in("dpo")
    start = (activity.monday - timedelta(weeks=3)).isoformat()
    end = (activity.monday - timedelta(days=1)).isoformat()
    for path in (f"/dpo/reports?start={start}&end={end}&vendor=medilog",
                 f"/dpo/reports/print?start={start}&end={end}&vendor=medilog"):
        page = console.page(path)
        assert problems_of(path, page) == []
        charts = charts_of(page)
        sessions = values_of(charts["chart-sessions"])
        assert set(sessions) == {"medilog"}  # the vendor asked for only
        assert buckets_of(charts["chart-sessions"], page) == [
            (activity.monday - timedelta(weeks=w)).isoformat() for w in (3, 2, 1)]
        assert sum(sessions["medilog"].values()) == 3
        assert values_of(charts["chart-sensitive-hours"])["hours"] == {
            (activity.monday - timedelta(weeks=3)).isoformat(): 2.5}
    assert "<details class=\"chart-data\" open>" in page  # the printed report shows its numbers

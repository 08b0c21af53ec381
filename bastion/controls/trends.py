"""The DPO's trends: sessions per vendor per week, hours on servers holding health or INS
data per week, flags per week, emergency accesses per month.

Built from the same facts as the flags and the reports (``gather.load_period``): a
session counts in the week it started, with the data categories copied when it opened
(issue 18), and its duration up to now while it is live, as in the vendor report. Weeks
start on Monday and months on the 1st, at midnight in the zone the caller gives (the
viewer's), so "the week of 2 March" means their 2 March.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from zoneinfo import ZoneInfo

from sqlalchemy import select

from bastion.context import Bastion
from bastion.models import AccessRequest, BreakGlassReview, Technician, Vendor, utcnow

from .facts import FLAG_KINDS, SENSITIVE_CATEGORIES
from .gather import flags_of, load_period

# A review's state as the break-glass chart stacks it.
OPEN, JUSTIFIED, UNJUSTIFIED = "open", "justified", "unjustified"
REVIEW_STATES = (JUSTIFIED, UNJUSTIFIED, OPEN)


@dataclass(frozen=True)
class Series:
    """One row of numbers, one per bucket (week or month)."""

    key: str  # a vendor slug, a flag kind, a review state
    values: tuple[float, ...]


@dataclass(frozen=True)
class Weekly:
    weeks: tuple[date, ...]  # the Monday of each week, in the caller's zone
    sessions_by_vendor: tuple[Series, ...]  # vendors with at least one session, by slug
    vendor_names: dict[str, str]
    sensitive_hours: tuple[float, ...]  # hours of sessions on health or INS servers
    flags_by_kind: tuple[Series, ...]  # kinds seen at least once, in FLAG_KINDS order


@dataclass(frozen=True)
class Monthly:
    months: tuple[date, ...]  # the 1st of each month, in the caller's zone
    break_glass_by_state: tuple[Series, ...]  # every state, so an empty chart still says so


def _midnight(day: date, zone: ZoneInfo) -> datetime:
    return datetime.combine(day, time.min, tzinfo=zone)


def week_starts(since: datetime, until: datetime, zone: ZoneInfo) -> list[date]:
    """The Mondays of the weeks that meet [since, until)."""
    first = since.astimezone(zone).date()
    monday = first - timedelta(days=first.weekday())
    weeks = []
    while _midnight(monday, zone) < until:
        weeks.append(monday)
        monday += timedelta(days=7)
    return weeks


def month_starts(since: datetime, until: datetime, zone: ZoneInfo) -> list[date]:
    """The 1sts of the months that meet [since, until)."""
    day = since.astimezone(zone).date().replace(day=1)
    months = []
    while _midnight(day, zone) < until:
        months.append(day)
        day = (day + timedelta(days=32)).replace(day=1)
    return months


def _bucket(at: datetime, starts: list[date], zone: ZoneInfo) -> int | None:
    """The index of the last bucket starting at or before ``at``; None before the first."""
    local = at.astimezone(zone)
    found = None
    for index, start in enumerate(starts):
        if _midnight(start, zone) <= local:
            found = index
        else:
            break
    return found


def weekly(core: Bastion, *, since: datetime, until: datetime, zone: ZoneInfo,
           vendor: str | None = None, now: datetime | None = None) -> Weekly:
    """The weekly trends of [since, until), optionally one vendor's."""
    now = now or utcnow()
    weeks = week_starts(since, until, zone)
    facts = load_period(core, since, until)
    sessions = [s for s in facts.sessions if vendor is None or s.vendor == vendor]
    counts: dict[str, Counter[int]] = {}
    hours: Counter[int] = Counter()
    for s in sessions:
        index = _bucket(s.started_at, weeks, zone)
        if index is None:
            continue
        counts.setdefault(s.vendor, Counter())[index] += 1
        if s.data_categories & SENSITIVE_CATEGORIES:
            end = s.ended_at or max(now, s.started_at)
            hours[index] += (end - s.started_at).total_seconds() / 3600
    kinds: dict[str, Counter[int]] = {}
    for flag in flags_of(facts, core, now):
        # A yearly review falls due on its own date, not inside the period: those flags
        # are on the home page's list, not in a week of activity.
        if not since <= flag.at < until or (vendor is not None and flag.vendor != vendor):
            continue
        index = _bucket(flag.at, weeks, zone)
        if index is not None:
            kinds.setdefault(flag.kind, Counter())[index] += 1
    with core.db.session() as session:
        names = dict(session.execute(select(Vendor.slug, Vendor.name)).all())
    return Weekly(
        weeks=tuple(weeks),
        sessions_by_vendor=tuple(Series(v, tuple(float(counts[v][i]) for i in range(len(weeks))))
                                 for v in sorted(counts)),
        vendor_names={v: names.get(v, v) for v in counts},
        sensitive_hours=tuple(round(hours[i], 2) for i in range(len(weeks))),
        flags_by_kind=tuple(Series(k, tuple(float(kinds[k][i]) for i in range(len(weeks))))
                            for k in FLAG_KINDS if k in kinds))


def monthly(core: Bastion, *, since: datetime, until: datetime, zone: ZoneInfo,
            vendor: str | None = None) -> Monthly:
    """Emergency accesses declared in [since, until) per month, by the state of their
    review: justified, not justified, still open."""
    months = month_starts(since, until, zone)
    query = (select(BreakGlassReview.opened_at, BreakGlassReview.closed_at,
                    BreakGlassReview.verdict)
             .join(AccessRequest, AccessRequest.id == BreakGlassReview.request_id)
             .where(BreakGlassReview.opened_at >= since, BreakGlassReview.opened_at < until))
    if vendor is not None:
        query = (query.join(Technician, Technician.id == AccessRequest.technician_id)
                 .join(Vendor, Vendor.id == Technician.vendor_id).where(Vendor.slug == vendor))
    counts: dict[str, Counter[int]] = {state: Counter() for state in REVIEW_STATES}
    with core.db.session() as session:
        for opened_at, closed_at, verdict in session.execute(query):
            index = _bucket(opened_at, months, zone)
            if index is None:
                continue
            state = OPEN if closed_at is None else (JUSTIFIED if verdict == JUSTIFIED
                                                     else UNJUSTIFIED)
            counts[state][index] += 1
    return Monthly(months=tuple(months), break_glass_by_state=tuple(
        Series(state, tuple(float(counts[state][i]) for i in range(len(months))))
        for state in REVIEW_STATES))

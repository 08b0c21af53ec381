"""Maintenance windows and contract dates as instants, honouring daylight-saving time.

A wall-clock boundary ("20:00 in Europe/Paris") becomes the first instant at which the
local clock shows that time or later. On the spring-forward night a boundary inside the
skipped hour is the instant clocks jump; on the fall-back night a boundary inside the
repeated hour is its first occurrence. Both choices make a window end no later than a
wall clock says it should, so a session never outlives its window.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

from .schema import DAYS, Window

WEEK_MINUTES = 7 * 24 * 60


def minutes(clock: str) -> int:
    hours, mins = clock.split(":")
    return int(hours) * 60 + int(mins)


def wall_instant(day: date, minute_of_day: int, zone: ZoneInfo) -> datetime:
    """First UTC instant at which the local clock reads ``day`` + ``minute_of_day`` or later."""
    day = day + timedelta(days=minute_of_day // 1440)
    wall = datetime.combine(day, time(minute_of_day % 1440 // 60, minute_of_day % 60))
    first = wall.replace(tzinfo=zone, fold=0).astimezone(UTC)
    if first.astimezone(zone).replace(tzinfo=None) == wall:
        return first  # exists (the earlier of two occurrences when the hour repeats)
    # In a spring-forward gap: the answer is the jump, between the two fold readings.
    low, high = sorted((first, wall.replace(tzinfo=zone, fold=1).astimezone(UTC)))
    while (high - low) > timedelta(seconds=1):
        middle = low + (high - low) / 2
        if middle.astimezone(zone).replace(tzinfo=None) >= wall:
            high = middle
        else:
            low = middle
    return high.replace(microsecond=0)


def day_start(day: date, zone: ZoneInfo) -> datetime:
    return wall_instant(day, 0, zone)


def day_end(day: date, zone: ZoneInfo) -> datetime:
    """End of a day given as 'valid until' (the day is included)."""
    return wall_instant(day + timedelta(days=1), 0, zone)


@dataclass(frozen=True)
class Opening:
    start: datetime
    end: datetime
    window: Window


def occurrences(windows: Iterable[Window], zone: ZoneInfo, first_day: date,
                last_day: date) -> Iterator[Opening]:
    """Every opening of the windows starting on a local day in [first_day, last_day]."""
    day = first_day
    while day <= last_day:
        weekday = DAYS[day.weekday()]
        for window in windows:
            if weekday not in window.days:
                continue
            start, end = minutes(window.start), minutes(window.end)
            if end == start:
                continue  # an empty window never opens
            if end < start:
                end += 1440
            yield Opening(wall_instant(day, start, zone), wall_instant(day, end, zone), window)
        day += timedelta(days=1)


def open_until(windows: list[Window], zone: ZoneInfo, at: datetime) -> datetime | None:
    """When the maintenance period containing ``at`` ends (chaining windows that touch or
    overlap), or None when ``at`` is outside every window."""
    local_day = at.astimezone(zone).date()
    openings = list(occurrences(windows, zone, local_day - timedelta(days=1),
                                local_day + timedelta(days=8)))
    end: datetime | None = None
    for opening in openings:
        if opening.start <= at < opening.end:
            end = opening.end if end is None else max(end, opening.end)
    if end is None:
        return None
    extended = True
    while extended:  # bounded: the candidate list is finite and end only grows
        extended = False
        for opening in openings:
            if opening.start <= end < opening.end:
                end, extended = opening.end, True
    return end


def next_opening(windows: list[Window], zone: ZoneInfo, at: datetime) -> datetime | None:
    local_day = at.astimezone(zone).date()
    starts = [o.start for o in occurrences(windows, zone, local_day - timedelta(days=1),
                                           local_day + timedelta(days=8)) if o.start > at]
    return min(starts, default=None)


def weekly_spans(window: Window) -> list[tuple[int, int]]:
    """The window as minute ranges of a Monday-00:00-based week (wrapping Sunday night)."""
    start, end = minutes(window.start), minutes(window.end)
    if end == start:
        return []
    length = (end - start) % 1440 or 1440
    spans: list[tuple[int, int]] = []
    for day in dict.fromkeys(window.days):
        begin = DAYS.index(day) * 1440 + start
        stop = begin + length
        if stop <= WEEK_MINUTES:
            spans.append((begin, stop))
        else:
            spans.extend([(begin, WEEK_MINUTES), (0, stop - WEEK_MINUTES)])
    return spans


def describe_minute(week_minute: int) -> str:
    day, rest = divmod(week_minute % WEEK_MINUTES, 1440)
    return f"{DAYS[day]} {rest // 60:02d}:{rest % 60:02d}"

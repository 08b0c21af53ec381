"""Night and public holidays in the hospital's time zone: when a session is "off hours".

Public holidays come from the ``holidays`` package (France, optionally one subdivision:
Alsace-Moselle and the overseas departments have days of their own). Local boundaries are
turned into instants with the contracts engine's DST-aware ``wall_instant``, so a night
that starts in the skipped or repeated hour of a clock change still starts once.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from zoneinfo import ZoneInfo

import holidays

from bastion.config import Settings
from bastion.contracts.windows import minutes, wall_instant

NIGHT = "night"
HOLIDAY = "holiday"


@functools.lru_cache(maxsize=64)
def _french_holidays(year: int, subdivision: str | None) -> dict[date, str]:
    return dict(holidays.France(years=year, subdiv=subdivision, language="fr").items())


@dataclass(frozen=True)
class Calendar:
    zone: ZoneInfo
    night_start: int  # minute of the day, local
    night_end: int
    subdivision: str | None = None

    @classmethod
    def from_settings(cls, settings: Settings) -> Calendar:
        controls = settings.controls
        return cls(ZoneInfo(settings.web.time_zone), minutes(controls.night_start),
                   minutes(controls.night_end), controls.holiday_subdivision)

    def holiday(self, day: date) -> str | None:
        """The holiday's French name, or None on a working day."""
        return _french_holidays(day.year, self.subdivision).get(day)

    def is_night(self, clock: time) -> bool:
        minute = clock.hour * 60 + clock.minute
        if self.night_start > self.night_end:  # 20:00 to 07:00: across midnight
            return minute >= self.night_start or minute < self.night_end
        return self.night_start <= minute < self.night_end

    def next_boundary(self, local: datetime) -> datetime:
        """The next instant after ``local`` at which night may begin or the day change."""
        day = local.date()
        candidates = [wall_instant(day + timedelta(days=1), 0, self.zone)]
        if local.hour * 60 + local.minute < self.night_start:
            candidates.append(wall_instant(day, self.night_start, self.zone))
        return min(candidates)


@dataclass(frozen=True)
class OffHours:
    at: datetime  # the first off-hours instant of the session
    reason: str  # night | holiday
    holiday: str | None = None


def first_off_hours(start: datetime, end: datetime, calendar: Calendar) -> OffHours | None:
    """The first instant of [start, end] at night or on a public holiday, local time."""
    instant = start
    # Each step moves to the next midnight or night start: two a day at most.
    for _ in range(2 * max(1, (end - start).days + 2)):
        local = instant.astimezone(calendar.zone)
        name = calendar.holiday(local.date())
        if name is not None:
            return OffHours(instant, HOLIDAY, name)
        if calendar.is_night(local.time()):
            return OffHours(instant, NIGHT)
        instant = calendar.next_boundary(local)
        if instant > end:
            return None
    return None

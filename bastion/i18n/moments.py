"""Dates and times for people, the same on SSH, in e-mails, reports and the console: Babel's
format for the language, in a named zone (the hospital's, ``web.time_zone``, unless the
reader chose another), always with the zone shown."""

from __future__ import annotations

from datetime import date, datetime, tzinfo
from zoneinfo import ZoneInfo

from babel.dates import format_date, format_datetime, format_time

# Babel's locale for each language's dates: English as written in Europe (day first, 24-hour
# clock, "02/03/2026, 05:56"), not the US default ("3/2/26, 5:56 AM"), which a French
# hospital's vendors would misread.
FORMATS = {"fr": "fr_FR", "en": "en_GB"}


def _locale(language: str) -> str:
    return FORMATS.get(language, language)


def _zone(zone: str | tzinfo) -> tzinfo:
    return ZoneInfo(zone) if isinstance(zone, str) else zone


def zone_label(value: datetime, zone: str | tzinfo) -> str:
    """The zone's abbreviation at that instant ("CET", "CEST", "UTC"), else its offset."""
    name = value.astimezone(_zone(zone)).tzname() or "UTC"
    return f"UTC{name}" if name[:1] in "+-" else name


def moment(value: datetime | None, language: str, zone: str | tzinfo,
           style: str = "short") -> str:
    """``02/03/2026 05:56 CET`` (fr), ``02/03/2026, 05:56 CET`` (en); ``time``: ``05:56 CET``.
    Empty when there is no value. A naive value is taken as UTC (the database's)."""
    if value is None:
        return ""
    if value.tzinfo is None:
        value = value.replace(tzinfo=ZoneInfo("UTC"))
    where = _zone(zone)
    if style == "time":
        text = format_time(value, "short", tzinfo=where, locale=_locale(language))
    else:
        text = format_datetime(value, style, tzinfo=where, locale=_locale(language))
    return f"{text} {zone_label(value, where)}"


def moment_date(value: date | None, language: str, style: str = "short") -> str:
    """A calendar day (no zone: a contract's or a review's day is a day)."""
    return "" if value is None else format_date(value, style, locale=_locale(language))

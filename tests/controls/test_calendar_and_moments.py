"""Off hours in the hospital's zone (night, French public holidays, clock changes) and the
moment of an event in a session's recordings: tables of cases."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest

from bastion.controls import Calendar, Moment, RecordingSpan, first_off_hours, locate

PARIS = ZoneInfo("Europe/Paris")
CALENDAR = Calendar(PARIS, night_start=20 * 60, night_end=7 * 60)


def paris(text: str) -> datetime:
    return datetime.fromisoformat(text).replace(tzinfo=PARIS)


@pytest.mark.parametrize(("start", "end", "expected"), [
    # A working day, inside working hours: nothing.
    ("2025-06-17 09:00", "2025-06-17 11:00", None),
    # Starts by day, runs into the night: flagged at 20:00, not at its start.
    ("2025-06-17 19:30", "2025-06-17 20:30", ("2025-06-17 20:00", "night", None)),
    ("2025-06-17 19:30", "2025-06-17 19:59", None),
    # Starts at night.
    ("2025-06-17 06:59", "2025-06-17 07:30", ("2025-06-17 06:59", "night", None)),
    ("2025-06-17 07:00", "2025-06-17 08:00", None),
    # Public holidays: fixed (14 July), and moving with Easter (Ascension 2025: 29 May).
    ("2025-07-14 10:00", "2025-07-14 11:00", ("2025-07-14 10:00", "holiday", "Fête nationale")),
    ("2025-05-29 10:00", "2025-05-29 10:05", ("2025-05-29 10:00", "holiday", "Ascension")),
    # The evening before a holiday: night comes first.
    ("2025-07-13 19:00", "2025-07-14 09:00", ("2025-07-13 20:00", "night", None)),
    # Good Friday is not a holiday in most of France.
    ("2025-04-18 10:00", "2025-04-18 11:00", None),
    # Spring forward (30 March 2025, 02:00 -> 03:00): the night still ends at 07:00 local.
    ("2025-03-31 07:00", "2025-03-31 08:00", None),
    ("2025-03-30 06:30", "2025-03-30 07:30", ("2025-03-30 06:30", "night", None)),
])
def test_first_off_hours(start: str, end: str, expected: tuple[str, str, str | None] | None) -> None:
    hit = first_off_hours(paris(start), paris(end), CALENDAR)
    if expected is None:
        assert hit is None
    else:
        assert hit is not None
        assert (hit.at, hit.reason, hit.holiday) == (paris(expected[0]), expected[1], expected[2])


def test_a_subdivision_adds_its_own_holidays() -> None:
    moselle = Calendar(PARIS, 20 * 60, 7 * 60, subdivision="57")
    good_friday = (paris("2025-04-18 10:00"), paris("2025-04-18 11:00"))
    assert first_off_hours(*good_friday, moselle).holiday == "Vendredi saint"
    assert first_off_hours(*good_friday, CALENDAR) is None


def test_a_night_that_does_not_cross_midnight() -> None:
    early = Calendar(PARIS, night_start=0, night_end=6 * 60)
    hit = first_off_hours(paris("2025-06-17 22:00"), paris("2025-06-18 01:00"), early)
    assert hit is not None and hit.at == paris("2025-06-18 00:00") and hit.reason == "night"
    assert first_off_hours(paris("2025-06-17 06:00"), paris("2025-06-17 23:59"), early) is None


def test_a_session_lasting_days_is_walked_to_its_first_night() -> None:
    hit = first_off_hours(paris("2025-06-16 08:00"), paris("2025-06-20 08:00"), CALENDAR)
    assert hit is not None and hit.at == paris("2025-06-16 20:00")


T0 = datetime(2025, 6, 17, 8, 0, tzinfo=UTC)


def at(seconds: float) -> datetime:
    return T0 + timedelta(seconds=seconds)


SPANS = [
    RecordingSpan(1, 10, "shell", at(0), at(600)),  # an interactive shell, ten minutes
    RecordingSpan(2, 10, "exec", at(100.5), at(101)),  # an exec alongside it
    RecordingSpan(3, 10, "sftp", at(200), None),  # SFTP, still recording
    RecordingSpan(4, 11, "shell", at(0), at(50)),  # another session
]


@pytest.mark.parametrize(("session", "when", "channel", "expected"), [
    (10, at(30), None, Moment(10, 30.0, 1)),
    # The exec's command check comes just before its recording opens: that recording, at 0.
    (10, at(100.49), "exec", Moment(10, 0.0, 2)),
    # Without the channel hint, the open shell is what was running then.
    (10, at(100.49), None, Moment(10, 100.49, 1)),
    (10, at(100.7), "exec", Moment(10, 0.2, 2)),
    (10, at(250), "sftp", Moment(10, 50.0, 3)),
    # After every recording ended: the last one, at its end.
    (11, at(70), None, Moment(11, 50.0, 4)),
    # Before any recording started (and not within the grace): the first one, at 0.
    (11, at(-60), None, Moment(11, 0.0, 4)),
    # A session without any recording: counted from its start, no recording named.
    (12, at(90), None, Moment(12, 0.0, None)),
])
def test_the_moment_of_an_event(session: int, when: datetime, channel: str | None,
                                expected: Moment) -> None:
    assert locate(SPANS, session, when, channel=channel) == expected


def test_without_recordings_the_offset_counts_from_the_session_start() -> None:
    assert locate([], 12, at(90), session_start=at(60)) == Moment(12, 30.0, None)

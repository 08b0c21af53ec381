"""The flag rules as tables: facts in, flags out, each linked to its moment."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest

from bastion.controls import (
    BreakGlassFacts,
    Calendar,
    EventFacts,
    Moment,
    RecordingSpan,
    SessionFacts,
    describe,
    kind_name,
    rules,
)

T0 = datetime(2025, 6, 17, 8, 0, tzinfo=UTC)  # a Tuesday, 10:00 in Paris


def at(minutes: float) -> datetime:
    return T0 + timedelta(minutes=minutes)


def session(id: int, target: str = "dpi-app-01", categories: tuple[str, ...] = ("technical",),
            start: float = 0, end: float | None = 30) -> SessionFacts:
    return SessionFacts(id=id, technician="jdupont", vendor="acme", target=target,
                        account="maint", data_categories=frozenset(categories),
                        started_at=at(start), ended_at=at(end) if end is not None else None,
                        status="ended" if end is not None else "live", grant_id=id)


def event(id: int, minute: float, action: str, session_id: int | None = 1,
          technician: str | None = "jdupont", **details: object) -> EventFacts:
    return EventFacts(id, at(minute), action, "denied", technician, "acme", "dpi-app-01",
                      session_id, details)


SPANS = [RecordingSpan(100, 1, "shell", at(0), at(30)),
         RecordingSpan(101, 1, "sftp", at(10), at(20)),
         RecordingSpan(102, 2, "exec", at(5), at(6))]


@pytest.mark.parametrize(("categories", "flagged"), [
    (("health",), ["health"]),
    (("ins", "administrative"), ["ins"]),
    (("health", "ins", "documents"), ["health", "ins"]),
    (("administrative", "technical"), None),
    ((), None),
])
def test_sessions_on_health_or_ins_data(categories: tuple[str, ...], flagged: list[str] | None) -> None:
    flags = rules.sensitive_data([session(1, categories=categories)], SPANS)
    if flagged is None:
        assert flags == []
    else:
        [flag] = flags
        assert flag.details["categories"] == flagged and flag.at == at(0)
        assert flag.moment == Moment(1, 0.0, 100)


def test_command_rule_hits_link_to_their_exec_recording() -> None:
    events = [event(1, 5 - 0.001, "command.flagged", session_id=2, command="sudo -i",
                    rule=r"\bsudo\b", reason="privileged commands are reviewed"),
              event(2, 8, "command.refused", session_id=1, command="pg_dump dpi",
                    rule=r"\bpg_dump\b", reason="dumping the database is forbidden"),
              event(3, 9, "channel.refused")]
    flagged, refused = rules.command_rules(events, SPANS)
    assert flagged.moment == Moment(2, 0.0, 102) and not flagged.details["refused"]
    assert refused.moment == Moment(1, 480.0, 100) and refused.details["refused"]
    assert refused.event_ids == (2,)
    assert describe(refused, "en") == ("Command refused (dumping the database is forbidden): "
                                       "pg_dump dpi")
    assert describe(flagged, "fr") == ("Commande signalée (privileged commands are reviewed) : "
                                       "sudo -i")


MB = 1_000_000


@pytest.mark.parametrize(("transfers", "crossing"), [
    # (session, operation, bytes) in time order; the index of the one that crosses 100 MB.
    ([(1, "download", 150 * MB)], [0]),
    ([(1, "download", 99 * MB)], []),
    ([(1, "download", 60 * MB), (1, "download", 40 * MB), (1, "download", 50 * MB)], [1]),
    ([(1, "download", 60 * MB), (2, "download", 60 * MB)], []),  # per session
    ([(1, "upload", 500 * MB)], []),  # uploads are not exfiltration
    ([(1, "download", 100 * MB), (2, "download", 200 * MB)], [0, 1]),
])
def test_sftp_downloads_above_the_threshold(transfers: list[tuple[int, str, int]],
                                            crossing: list[int]) -> None:
    events = [event(i + 1, 12 + i, "sftp.transfer", session_id=s, operation=op, bytes=size,
                    path=f"/var/log/f{i}", sha256="ab" * 32)
              for i, (s, op, size) in enumerate(transfers)]
    flags = rules.transfer_volume(events, SPANS, 100 * MB)
    assert [f.event_ids[0] - 1 for f in flags] == crossing
    if flags and flags[0].session_id == 1:
        assert flags[0].moment.recording_id == 101  # the SFTP recording, not the shell


def exec_closed(id: int, minute: float, down: int, up: int = 0, session_id: int = 1,
                channel: str = "exec", command: str = "scp -f /var/log/big") -> EventFacts:
    return event(id, minute, "channel.closed", session_id=session_id, channel=channel,
                 command=command, exit_status=0, bytes_from_target=down, bytes_to_target=up)


def forward_closed(id: int, minute: float, down: int, up: int = 0) -> EventFacts:
    return event(id, minute, "forward.closed", destination="127.0.0.1:5432",
                 bytes_from_target=down, bytes_to_target=up)


@pytest.mark.parametrize(("events", "crossing"), [
    ([exec_closed(1, 12, 150 * MB)], [1]),  # scp -O, rsync, cat file
    ([forward_closed(1, 12, 150 * MB)], [1]),  # a database dump through ssh -L
    ([exec_closed(1, 12, 0, up=500 * MB)], []),  # cat > file: an upload
    ([exec_closed(1, 12, 500 * MB, channel="shell")], []),  # a shell's screen is no transfer
    ([exec_closed(1, 12, 60 * MB), forward_closed(2, 13, 30 * MB),
      event(3, 14, "sftp.transfer", operation="download", bytes=20 * MB, path="/a")], [3]),
    ([event(1, 12, "channel.closed", channel="exec", command="ls", exit_status=0)], []),  # old
])
def test_every_path_counts_in_the_download_volume(events: list[EventFacts],
                                                  crossing: list[int]) -> None:
    flags = rules.transfer_volume(events, SPANS, 100 * MB)
    assert [f.event_ids[0] for f in flags] == crossing


def test_the_volume_flag_says_how_much_and_which_way() -> None:
    events = [event(1, 12, "sftp.transfer", operation="download", bytes=60 * MB, path="/a"),
              event(2, 13, "sftp.transfer", operation="download", bytes=45 * MB, path="/b")]
    [flag] = rules.transfer_volume(events, SPANS, 100 * MB)
    assert flag.details["bytes"] == 105 * MB and flag.details["transfers"] == 2
    assert flag.moment == Moment(1, 180.0, 101)
    assert describe(flag, "en") == ("105.0 MB downloaded in the session (2 transfer(s) by SFTP, "
                                    "exec or forward; threshold 100.0 MB), including /b (sftp)")
    [flag] = rules.transfer_volume([exec_closed(1, 12, 60 * MB), exec_closed(2, 13, 45 * MB)],
                                   SPANS, 100 * MB)
    assert describe(flag, "fr") == ("105.0 MB téléchargés dans la session (2 transfert(s) par "
                                    "SFTP, exec ou redirection ; seuil 100.0 MB), dont "
                                    "scp -f /var/log/big (exec)")


CAL = Calendar(ZoneInfo("Europe/Paris"), 20 * 60, 7 * 60)


@pytest.mark.parametrize(("start", "end", "reason", "offset"), [
    (0, 30, None, None),  # 10:00-10:30 on a Tuesday
    (9 * 60 + 30, 10 * 60 + 30, "night", 30 * 60.0),  # 19:30-20:30: flagged at 20:00
    (-4 * 60, -3 * 60, "night", 0.0),  # 06:00-07:00
    (24 * 60 * 27, 24 * 60 * 27 + 5, "holiday", 0.0),  # Monday 14 July
    (9 * 60 + 30, None, "night", 30 * 60.0),  # live since 19:30, now past 20:00
])
def test_sessions_at_night_or_on_a_public_holiday(start: float, end: float | None,
                                                  reason: str | None, offset: float | None) -> None:
    now = at(11 * 60)
    flags = rules.off_hours([session(7, start=start, end=end)], [], CAL, now)
    if reason is None:
        assert flags == []
        return
    [flag] = flags
    assert flag.details["reason"] == reason
    assert flag.moment == Moment(7, offset, None)


def test_the_holiday_flag_is_described_with_the_holiday() -> None:
    [flag] = rules.off_hours([session(7, start=24 * 60 * 27, end=24 * 60 * 27 + 5)], [], CAL, at(0))
    assert describe(flag, "fr") == "Session un jour férié : Fête nationale (à partir de 2025-07-14 10:00)"


def refusals(minutes: list[float], technician: str | None = "jdupont",
             address: str = "192.0.2.7", start_id: int = 1) -> list[EventFacts]:
    return [event(start_id + i, m, "login.refused", session_id=None, technician=technician,
                  client_address=address) for i, m in enumerate(minutes)]


@pytest.mark.parametrize(("minutes", "bursts"), [
    ([0, 1, 2, 3, 4], [5]),  # five within ten minutes
    ([0, 1, 2, 3], []),  # four
    ([0, 3, 6, 9, 12], []),  # five, but spread over twelve minutes
    ([0, 1, 2, 3, 4, 5, 6, 7], [8]),  # one long burst, flagged once
    ([0, 1, 2, 3, 4, 30, 31, 32, 33, 34], [5, 5]),  # two bursts
    ([0, 2, 4, 6, 8, 9.9, 25], [6]),  # the burst ends when the rate drops
])
def test_refusals_in_bursts(minutes: list[float], bursts: list[int]) -> None:
    flags = rules.refusal_bursts(refusals(minutes), [], count=5, minutes=10)
    assert [f.details["count"] for f in flags] == bursts
    for flag in flags:
        assert flag.moment is None  # refused logins have no session to replay
        assert flag.technician == "jdupont"


def test_a_burst_from_one_address_across_technicians() -> None:
    events = (refusals([0, 1], technician="a") + refusals([2, 3], technician="b", start_id=10)
              + refusals([4], technician=None, start_id=20))
    [flag] = rules.refusal_bursts(events, [], count=5, minutes=10)
    assert flag.details["by"] == "address" and flag.details["who"] == "192.0.2.7"
    assert flag.technician is None and flag.details["technicians"] == ["a", "b"]
    assert describe(flag, "en") == "5 refusals within 10 min from address 192.0.2.7"


def test_a_burst_seen_by_technician_and_address_is_flagged_once() -> None:
    [flag] = rules.refusal_bursts(refusals([0, 1, 2, 3, 4]), [], count=5, minutes=10)
    assert flag.details["by"] == "address"  # sorted first; the same five events
    assert flag.event_ids == (1, 2, 3, 4, 5)


def test_refused_channels_in_a_session_link_to_it() -> None:
    events = [event(i, i * 0.5, "channel.refused", session_id=1, client_address="192.0.2.7")
              for i in range(1, 6)]
    [flag] = rules.refusal_bursts(events, SPANS, count=5, minutes=10)
    assert flag.moment == Moment(1, 30.0, 100)


def glass(review: int, opened: float, closed: bool = False, session_id: int | None = 1,
          deadline_hours: float = 72) -> BreakGlassFacts:
    return BreakGlassFacts(review, review, review, "jdupont", "acme", "dpi-app-01", at(opened),
                           at(opened + deadline_hours * 60), at(opened + 5) if closed else None,
                           "justified" if closed else None, "admissions down since 9:40",
                           None, session_id, at(opened + 1) if session_id else None)


def test_every_break_glass_is_flagged_with_its_review_state() -> None:
    now = at(80 * 60)
    flags = rules.break_glass([glass(1, 0), glass(2, 60 * 60), glass(3, 0, closed=True),
                               glass(4, 70 * 60, session_id=None)], SPANS, now)
    assert [f.details["review"] for f in flags] == ["overdue", "open", "closed", "open"]
    assert flags[0].moment == Moment(1, 60.0, 100)  # where the session under the grant began
    assert flags[3].moment is None  # no session opened under it
    assert describe(flags[0], "en") == ("Break-glass: admissions down since 9:40 — review "
                                        "OVERDUE")
    assert describe(flags[2], "fr") == ("Bris de glace : admissions down since 9:40 — revue "
                                        "close (justifié)")
    assert kind_name("break_glass", "fr") == "Bris de glace"

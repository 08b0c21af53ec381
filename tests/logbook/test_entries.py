"""The assembly of one logbook entry from its facts, by tables: no database, no clock."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest

from bastion.logbook import (
    BreakGlassFacts,
    CommandFacts,
    EventFacts,
    GrantFacts,
    Intervention,
    RequestFacts,
    SessionFacts,
    assemble,
    describe_flag,
    session_url,
)

PARIS = ZoneInfo("Europe/Paris")
T0 = datetime(2026, 3, 2, 22, 30, tzinfo=UTC)  # 23:30 in Paris


def at(minutes: float) -> datetime:
    return T0 + timedelta(minutes=minutes)


REQUEST = RequestFacts(7, "medilogic", "Médilogic SAS", "jdupont", "Jean Dupont", "dpi-app-01",
                       "maint", "Correctif du module d'admission", "INC-4242", "ssh", False, at(-5))
GRANT = GrantFacts(3, at(-1), at(120), "active")


def session(id: int, start: float, end: float | None, status: str = "ended",
            reason: str | None = None) -> SessionFacts:
    return SessionFacts(id, "jdupont", "Jean Dupont", "dpi-app-01", "maint", at(start),
                        at(end) if end is not None else None, status, reason)


def entry(**changes: object):  # type: ignore[no-untyped-def]
    fields: dict[str, object] = {"request": REQUEST, "grant": GRANT,
                                 "approvers": ("Alice Martin (alice)",)}
    fields.update(changes)
    return assemble(Intervention(**fields), zone=PARIS,  # type: ignore[arg-type]
                    link=lambda sid: session_url(sid, "https://bastion.chu.example"))


@pytest.mark.parametrize("sessions, state, start, end", [
    ((), "unused", at(-1), None),
    ((session(1, 0, 10),), "done", at(0), at(10)),
    ((session(2, 30, 45), session(1, 0, 10)), "done", at(0), at(45)),
    ((session(1, 0, 10), session(2, 30, None, "live")), "in_progress", at(0), None),
])
def test_state_start_and_end(sessions, state, start, end) -> None:  # type: ignore[no-untyped-def]
    e = entry(sessions=sessions)
    assert (e.state, e.start, e.end) == (state, start, end)
    assert e.start.tzinfo == PARIS  # hospital time: 23:30 on 2 March, not 22:30 UTC
    assert e.start.strftime("%Y-%m-%d %H:%M") == start.astimezone(PARIS).strftime("%Y-%m-%d %H:%M")
    assert [r.session_id for r in e.recordings] == sorted(s.id for s in sessions)


def test_people_targets_and_links() -> None:
    e = entry(sessions=(session(4, 0, 5),))
    assert e.technicians == ("Jean Dupont (jdupont)",)
    assert e.targets == ("maint@dpi-app-01",)
    assert e.approvers == ("Alice Martin (alice)",)
    assert [r.url for r in e.recordings] == ["https://bastion.chu.example/sessions/4"]
    assert session_url(4) == "/sessions/4" and session_url(4, "http://x/") == "http://x/sessions/4"


def test_commands_are_summarised_in_order_without_sftp_operations() -> None:
    commands = (
        CommandFacts(1, at(1), "shell", "systemctl status dpi-admission"),
        CommandFacts(1, at(2), "sftp", "upload /opt/dpi/patch.tgz"),
        CommandFacts(1, at(3), "shell", "systemctl restart dpi-admission"),
        CommandFacts(1, at(4), "shell", "systemctl status dpi-admission"),
        CommandFacts(2, at(31), "exec", "tail -n 50 /var/log/dpi/admission.log", 0),
        CommandFacts(2, at(32), "shell", "   "),
    )
    e = entry(sessions=(session(1, 0, 10), session(2, 30, 40)), commands=commands)
    assert [(c.kind, c.text, c.count) for c in e.commands] == [
        ("shell", "systemctl status dpi-admission", 2),
        ("shell", "systemctl restart dpi-admission", 1),
        ("exec", "tail -n 50 /var/log/dpi/admission.log", 1)]
    assert e.command_count == 4


def test_transfers_from_the_audit_events() -> None:
    digest = "ab" * 32
    events = (
        EventFacts(11, 1, at(2), "sftp.transfer", "ok", {"operation": "upload", "path": "/opt/dpi/patch.tgz",
                                                          "bytes": 2048, "sha256": digest, "closed": True}),
        EventFacts(12, 1, at(3), "sftp.transfer", "ok", {"operation": "download", "path": "/var/log/x.log",
                                                          "bytes": 10, "sha256": None, "closed": False}),
        EventFacts(13, 1, at(4), "sftp.refused", "denied", {"path": "/etc/shadow"}),
    )
    e = entry(sessions=(session(1, 0, 10),), events=events)
    assert [(t.direction, t.path, t.bytes, t.sha256, t.complete) for t in e.transfers] == [
        ("upload", "/opt/dpi/patch.tgz", 2048, digest, True),
        ("download", "/var/log/x.log", 10, None, False)]


@pytest.mark.parametrize("changes, codes, french", [
    ({"events": (EventFacts(1, 1, at(1), "command.flagged", "allowed",
                            {"command": "sudo -i", "reason": "privileged commands are reviewed"}),)},
     ["command_flagged"], "Commande signalée (privileged commands are reviewed) : sudo -i"),
    ({"events": (EventFacts(1, 1, at(1), "command.refused", "denied",
                            {"command": "pg_dump dpi", "reason": "dumping is forbidden"}),)},
     ["command_refused"], "Commande refusée (dumping is forbidden) : pg_dump dpi"),
    ({"sessions": (session(1, 0, 5, "terminated", "revoked by staff:alice"),)},
     ["session_terminated"], "Session 1 fermée par le personnel ou par révocation : revoked by staff:alice"),
    ({"grant": GrantFacts(3, at(-1), at(120), "revoked", at(6), "staff:bob", "fin d'intervention")},
     ["grant_revoked"], "Autorisation révoquée par staff:bob : fin d'intervention"),
    ({"request": RequestFacts(**{**REQUEST.__dict__, "break_glass": True}),
      "break_glass": BreakGlassFacts("Admissions à l'arrêt aux urgences", "Carol (carol)", "justified")},
     ["break_glass"], "Bris de glace : Admissions à l'arrêt aux urgences (revue : justifié)"),
    ({"request": RequestFacts(**{**REQUEST.__dict__, "break_glass": True}),
      "break_glass": BreakGlassFacts("Admissions à l'arrêt aux urgences", None, None)},
     ["break_glass"], "Bris de glace : Admissions à l'arrêt aux urgences (revue : en attente)"),
])
def test_flags(changes, codes, french) -> None:  # type: ignore[no-untyped-def]
    e = entry(**changes)
    assert [f.code for f in e.flags] == codes
    assert describe_flag(e.flags[0], "fr") == french
    assert describe_flag(e.flags[0], "en")  # every flag has an English sentence too


def test_break_glass_names_who_declared_it() -> None:
    e = entry(request=RequestFacts(**{**REQUEST.__dict__, "break_glass": True}), approvers=(),
              break_glass=BreakGlassFacts("Admissions à l'arrêt", "Carol (carol)", None))
    assert e.break_glass and e.declared_by == "Carol (carol)" and e.approvers == ()

"""Flags, reports and the daily summary computed from a real database (SQLite and
PostgreSQL): sessions, recordings and audit events as the proxy writes them."""

from __future__ import annotations

import csv
import io
import secrets
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import select

from bastion import breakglass, controls
from bastion.audit import Actor
from bastion.context import Bastion
from bastion.controls.summary import seconds_until
from bastion.models import NotificationOutbox, Recording, SshSession, Target, Technician, utcnow
from tests.approvals.conftest import World, audit_events
from tests.breakglass.conftest import JUSTIFICATION
from tests.breakglass.test_declare import configured

MB = 1_000_000
PROXY = Actor("technician:jdupont", "technician")


def open_session(core: Bastion, target: str, start: datetime, end: datetime | None,
                 grant_id: int | None = None, channels: tuple[str, ...] = ("shell",)) -> int:
    """A session row and its recordings, as the proxy and the recorder leave them."""
    with core.db.session() as db:
        technician = db.scalar(select(Technician).where(Technician.ident == "jdupont"))
        place = db.scalar(select(Target).where(Target.name == target))
        row = SshSession(grant_id=grant_id, technician_id=technician.id, target_id=place.id,
                         account_name=place.accounts[0].name, client_address="192.0.2.10",
                         node="test", status="ended" if end else "live", started_at=start,
                         ended_at=end)
        db.add(row)
        db.flush()
        for i, channel in enumerate(channels):
            db.add(Recording(session_id=row.id, channel=channel,
                             storage_key=f"rec-{secrets.token_hex(8)}", status="sealed",
                             wrapped_key=b"k", master_key_id="m",
                             started_at=start + timedelta(seconds=i),
                             sealed_at=end or start + timedelta(minutes=5)))
        return row.id


def proxy_event(core: Bastion, action: str, session_id: int | None, outcome: str = "ok",
                target: str = "dpi-db-01", **details: object) -> None:
    with core.db.session() as db:
        core.audit.append(db, action=action, outcome=outcome, actor=PROXY, technician="jdupont",
                          target=target, session_id=session_id, details=details)


@dataclass
class Activity:
    core: Bastion
    now: datetime
    health_session: int
    glass: breakglass.BreakGlassAccess
    glass_session: int
    old_glass: breakglass.BreakGlassAccess


@pytest.fixture
def activity(any_bg_world: World) -> Activity:
    core = any_bg_world.core
    now = utcnow().replace(microsecond=0)
    health = open_session(core, "dpi-db-01", now - timedelta(minutes=30),
                          now - timedelta(minutes=10), channels=("shell", "sftp"))
    proxy_event(core, "command.flagged", health, "allowed", command="sudo systemctl restart dpi",
                rule=r"\bsudo\b", reason="privileged commands are reviewed")
    proxy_event(core, "command.refused", health, "denied", command="pg_dump dpi",
                rule=r"\bpg_dump\b", reason="dumping the database is forbidden")
    for name in ("a", "b"):
        proxy_event(core, "sftp.transfer", health, operation="download", bytes=60 * MB,
                    path=f"/var/log/dpi/{name}.log", sha256="00" * 32, closed=True)
    for _ in range(5):
        proxy_event(core, "login.refused", None, "denied", target="dpi-app-01",
                    client_address="198.51.100.9", key_fingerprint="SHA256:x")
    old = breakglass.declare_break_glass(core, technician="jdupont", target="dpi-db-01",
                                         justification=JUSTIFICATION, now=now - timedelta(days=4))
    glass = breakglass.declare_break_glass(core, technician="jdupont", target="dpi-app-01",
                                           justification=JUSTIFICATION, now=now - timedelta(minutes=5))
    glass_session = open_session(core, "dpi-app-01", now - timedelta(minutes=4), None,
                                 grant_id=glass.grant.id)
    return Activity(core, now, health, glass, glass_session, old)


def test_the_flags_of_a_period(activity: Activity) -> None:
    core, now = activity.core, activity.now
    flags = controls.compute_flags(core, since=now - timedelta(days=1),
                                   until=now + timedelta(minutes=1), now=now)
    kinds = [f.kind for f in flags if f.kind != controls.OFF_HOURS]  # depends on the hour
    assert sorted(kinds) == sorted(["sensitive_data", "command_rule", "command_rule",
                                    "sftp_volume", "refusal_burst", "break_glass"])
    by_kind = {f.kind: f for f in flags}
    assert by_kind["sensitive_data"].moment.session_id == activity.health_session
    assert by_kind["sftp_volume"].details["bytes"] == 120 * MB
    sftp_recording = by_kind["sftp_volume"].moment.recording_id
    with core.db.session() as db:
        assert db.get(Recording, sftp_recording).channel == "sftp"
    assert by_kind["refusal_burst"].details["who"] == "198.51.100.9"
    glass = by_kind["break_glass"]
    assert glass.details["review_id"] == activity.glass.review_id
    assert glass.moment.session_id == activity.glass_session
    assert all(f.vendor == "acme" for f in flags)
    # The four-day-old emergency is outside this period; a wider one has it.
    wider = controls.compute_flags(core, since=now - timedelta(days=5),
                                   until=now + timedelta(minutes=1),
                                   kinds=[controls.BREAK_GLASS], now=now)
    assert [f.details["review"] for f in wider] == ["overdue", "open"]
    assert controls.compute_flags(core, since=now - timedelta(days=1), until=now,
                                  vendor="someone-else") == []
    with pytest.raises(ValueError, match="unknown flag kind"):
        controls.compute_flags(core, since=now - timedelta(days=1), until=now, kinds=["nope"])
    with pytest.raises(ValueError, match="time zone"):
        controls.compute_flags(core, since=datetime(2025, 1, 1), until=now)


def test_the_report_of_a_vendor(activity: Activity) -> None:
    core, now = activity.core, activity.now
    [report] = controls.vendor_reports(core, since=now - timedelta(days=1),
                                       until=now + timedelta(minutes=1), now=now)
    assert (report.vendor, report.vendor_name) == ("acme", "Acme Santé SAS")
    assert [s.id for s in report.sessions] == [activity.health_session, activity.glass_session]
    health, glass = report.sessions
    assert health.duration_seconds == 20 * 60 and health.rule_hits == 2
    assert {"sensitive_data", "command_rule", "sftp_volume"} <= set(health.flags)
    assert glass.break_glass and glass.ended_at is None and glass.duration_seconds == 4 * 60
    assert report.total_seconds == 24 * 60
    assert report.targets == ("dpi-app-01", "dpi-db-01")
    assert report.data_categories == ("administrative", "health", "ins", "technical")
    assert (report.rule_hits, report.refusals, report.break_glass) == (2, 5, 1)
    assert report.flag_counts()["command_rule"] == 2

    out = io.StringIO()
    assert controls.write_sessions_csv([report], out, ZoneInfo("Europe/Paris")) == 2
    rows = list(csv.DictReader(io.StringIO(out.getvalue())))
    assert rows[0]["session"] == str(activity.health_session)
    assert rows[0]["duration_minutes"] == "20.0" and rows[0]["rule_hits"] == "2"
    assert rows[0]["data_categories"] == "administrative health ins"
    assert rows[1]["break_glass"] == "yes" and rows[1]["ended_at"] == ""
    assert rows[0]["started_at"].endswith(("+01:00", "+02:00"))  # hospital time, with offset

    out = io.StringIO()
    controls.write_flags_csv(report.flags, out, ZoneInfo("Europe/Paris"), "en")
    flags = list(csv.DictReader(io.StringIO(out.getvalue())))
    refused = next(r for r in flags if "pg_dump" in r["description"])
    assert refused["session"] == str(activity.health_session) and refused["recording"]

    # A vendor asked for by name has a report even without activity; an unknown one is refused.
    with core.db.session() as db:
        from bastion.models import Vendor
        db.add(Vendor(slug="quiet", name="Quiet SA"))
    [quiet] = controls.vendor_reports(core, since=now - timedelta(days=1), until=now,
                                      vendor="quiet")
    assert quiet.sessions == () and quiet.total_seconds == 0
    with pytest.raises(ValueError, match="unknown vendor"):
        controls.vendor_reports(core, since=now - timedelta(days=1), until=now, vendor="nobody")


def test_the_daily_summary_names_overdue_reviews(activity: Activity) -> None:
    core = configured(activity.core)
    now = activity.now + timedelta(minutes=1)
    summary = controls.build_daily_summary(core, now=now)
    assert [r.id for r in summary.overdue] == [activity.old_glass.review_id]
    assert [r.id for r in summary.open_reviews] == [activity.glass.review_id]
    assert summary.sessions == 2 and summary.flag_counts()["break_glass"] == 1
    subject, body = controls.summary_text(core, summary, name="Diane", language="en",
                                          zone="Europe/Paris")
    assert "1 overdue break-glass review(s)" in subject
    assert "Break-glass: OVERDUE reviews (1)" in body
    assert f"/dpo/break-glass/{activity.old_glass.review_id}" in body
    assert "Command refused (dumping the database is forbidden): pg_dump dpi" in body
    subject, body = controls.summary_text(core, summary, name="Ève", language="fr")
    assert "revue(s) de bris de glace en retard" in subject and "EN RETARD (1)" in body

    sent = controls.send_daily_summary(core, now=now)
    assert sorted(sent.queued) == ["diane@chu.example", "eve@chu.example"]
    again = controls.send_daily_summary(core, now=now + timedelta(minutes=5))
    assert again.queued == () and again.skipped == "today's summary was already sent"
    forced = controls.send_daily_summary(core, now=now, force=True)
    assert len(forced.queued) == 2
    with core.db.session() as db:
        rows = db.scalars(select(NotificationOutbox)
                          .where(NotificationOutbox.kind == "dpo.daily_summary")).all()
        assert len(rows) == 4 and all(r.channel == "email" for r in rows)
    [first, _] = audit_events(core, "report.daily_summary")
    assert first.details["overdue"] == [activity.old_glass.review_id]
    # Without SMTP there is nothing to send, and nothing is pretended.
    assert controls.send_daily_summary(activity.core, now=now).skipped.startswith("no SMTP")


PARIS = ZoneInfo("Europe/Paris")


@pytest.mark.parametrize(("now", "hour", "hours_left"), [
    (datetime(2025, 6, 17, 4, 0, tzinfo=UTC), 7, 1),  # 06:00 in Paris: one hour to go
    (datetime(2025, 6, 17, 5, 0, tzinfo=UTC), 7, 24),  # 07:00 exactly: tomorrow
    (datetime(2025, 3, 29, 7, 0, tzinfo=UTC), 7, 22),  # 08:00 the day before clocks go forward
    (datetime(2025, 10, 25, 6, 0, tzinfo=UTC), 7, 24),  # 08:00 the day before they go back
])
def test_the_summary_waits_for_its_local_hour(now: datetime, hour: int, hours_left: int) -> None:
    assert seconds_until(now, hour, PARIS) == hours_left * 3600

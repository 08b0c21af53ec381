"""``bastion reports ...`` as an operator runs it (SQLite; the logic under it is tested on
both databases in test_period.py)."""

from __future__ import annotations

import csv
import io
from datetime import timedelta

from click.testing import CliRunner

from bastion import breakglass
from bastion.cli import main_group
from bastion.models import utcnow
from tests.approvals.conftest import World, audit_events
from tests.breakglass.conftest import JUSTIFICATION
from tests.conftest import SECOND_FACTOR_OFF

from .test_period import open_session, proxy_event


def run(world: World, *args: str, **env: str):  # type: ignore[no-untyped-def]
    base = {"BASTION_PATHS__VAR_DIR": str(world.core.settings.var_dir),
            **SECOND_FACTOR_OFF}
    return CliRunner().invoke(main_group, ["reports", *args], env={**base, **env})


def test_the_daily_summary_prints_and_sends(bg_world: World) -> None:
    late = breakglass.declare_break_glass(bg_world.core, technician="jdupont", target="dpi-app-01",
                                          justification=JUSTIFICATION,
                                          now=utcnow() - timedelta(days=4))
    result = run(bg_world, "daily-summary", "--language", "en")
    assert result.exit_code == 0, result.output
    assert "Break-glass: OVERDUE reviews (1)" in result.output
    assert f"/dpo/break-glass/{late.review_id}" in result.output
    assert run(bg_world, "daily-summary", "--fail-if-overdue").exit_code == 3
    # No SMTP server configured: it says so instead of pretending.
    result = run(bg_world, "daily-summary", "--send")
    assert result.exit_code == 1 and "not sent: no SMTP server is configured" in result.output
    # With one (nothing listens on port 9: the message stays queued, to retry).
    result = run(bg_world, "daily-summary", "--send", BASTION_SMTP__HOST="127.0.0.1",
                 BASTION_SMTP__PORT="9")
    assert result.exit_code == 0, result.output
    assert "queued for diane@chu.example, eve@chu.example" in result.output
    [event] = audit_events(bg_world.core, "report.daily_summary")
    assert event.actor.startswith("cli:") and event.details["overdue"] == [late.review_id]


def test_flags_vendors_and_reviews(bg_world: World) -> None:
    core = bg_world.core
    now = utcnow().replace(microsecond=0)
    session_id = open_session(core, "dpi-db-01", now - timedelta(minutes=30), now - timedelta(minutes=5))
    proxy_event(core, "command.refused", session_id, "denied", command="pg_dump dpi",
                rule="pg_dump", reason="dumping the database is forbidden")
    breakglass.declare_break_glass(core, technician="jdupont", target="dpi-app-01",
                                   justification=JUSTIFICATION)

    result = run(bg_world, "flags", "--kind", "command_rule", "--language", "en")
    assert result.exit_code == 0, result.output
    assert f"command_rule    jdupont@dpi-db-01 [session {session_id} recording " in result.output
    assert "Command refused (dumping the database is forbidden): pg_dump dpi" in result.output
    result = run(bg_world, "flags", "--csv")
    rows = list(csv.DictReader(io.StringIO(result.output)))
    assert {"sensitive_data", "command_rule", "break_glass"} <= {r["kind"] for r in rows}
    assert run(bg_world, "flags", "--since", "yesterday").exit_code == 1

    result = run(bg_world, "vendors")
    assert result.exit_code == 0, result.output
    assert "acme (Acme Santé SAS): 1 session(s)" in result.output
    assert "rule hits 1; refusals 0; break-glass 1" in result.output
    result = run(bg_world, "vendors", "--csv", "--vendor", "acme")
    assert list(csv.DictReader(io.StringIO(result.output)))[0]["session"] == str(session_id)
    assert "unknown vendor nobody" in run(bg_world, "vendors", "--vendor", "nobody").output

    result = run(bg_world, "break-glass", "--state", "open")
    assert result.exit_code == 0 and "jdupont on dpi-app-01" in result.output and ": open" in result.output

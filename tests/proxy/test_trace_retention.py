"""Access traces outside the audit log go with the same retention period: real sessions
through the proxy, aged, then purged by the operator's commands; a recording on legal hold
keeps its session and request; an audit legal hold stops everything."""

from __future__ import annotations

import csv
import io
import time
from datetime import timedelta
from pathlib import Path

import pytest
from click.testing import CliRunner
from sqlalchemy import func, select

from bastion.cli import main_group
from bastion.config import ConfigError
from bastion.models import (
    AccessRequest,
    AuditEvent,
    Grant,
    RecordedCommand,
    Recording,
    SshSession,
    utcnow,
)
from tests.conftest import SECOND_FACTOR_OFF, make_settings
from tests.proxy.conftest import Scenario

OLD = timedelta(days=400)  # past the default 365 days


def cli(scenario: Scenario, *args: str):  # type: ignore[no-untyped-def]
    env = {"BASTION_PATHS__VAR_DIR": str(scenario.core.settings.var_dir),
           **SECOND_FACTOR_OFF}
    return CliRunner().invoke(main_group, list(args), env=env)


def session_through_the_proxy(scenario: Scenario, command: str) -> int:
    grant_id = scenario.grant()
    result = scenario.ssh(command)
    assert result.returncode == 0, result.stderr
    deadline = time.monotonic() + 10  # the session row and its recording close just after
    while True:
        with scenario.core.db.session() as s:
            row = s.scalar(select(SshSession).where(SshSession.grant_id == grant_id))
            indexed = s.scalar(select(func.count()).select_from(RecordedCommand)
                               .where(RecordedCommand.session_id == row.id))
            if (row.ended_at is not None and indexed) or time.monotonic() > deadline:
                return row.id
        time.sleep(0.1)


def age_everything(scenario: Scenario) -> None:
    """Move every trace row 400 days back (the audit log itself cannot be rewritten)."""
    with scenario.core.db.session() as s:
        for table, columns in ((AccessRequest, ("window_start", "window_end", "created_at",
                                                "updated_at", "decided_at")),
                               (Grant, ("not_before", "not_after", "created_at")),
                               (SshSession, ("started_at", "ended_at")),
                               (Recording, ("started_at", "sealed_at")),
                               (RecordedCommand, ("at",))):
            for row in s.scalars(select(table)):
                for column in columns:
                    if getattr(row, column) is not None:
                        setattr(row, column, getattr(row, column) - OLD)


def count(scenario: Scenario, model) -> int:  # type: ignore[no-untyped-def]
    with scenario.core.db.session() as s:
        return s.scalar(select(func.count()).select_from(model)) or 0


def test_old_traces_go_and_a_held_recording_keeps_its_session(scenario: Scenario) -> None:
    first = session_through_the_proxy(scenario, "echo first")
    held = session_through_the_proxy(scenario, "echo held")
    assert count(scenario, AccessRequest) == 2 and count(scenario, RecordedCommand) >= 2
    assert cli(scenario, "recordings", "hold", str(held), "--session",
               "--reason", "contentieux 2026-07").exit_code == 0
    age_everything(scenario)
    # Recordings first (their own period), then the traces with the audit purge.
    assert cli(scenario, "recordings", "purge").exit_code == 0
    result = cli(scenario, "audit", "purge")
    assert result.exit_code == 0, result.output
    # (The recording purge already dropped its indexed commands; its catalog row goes now.)
    assert ("access traces: purged recordings 1, ssh_sessions 1, grants 1, access_requests 1"
            in result.output)

    with scenario.core.db.session() as s:
        assert s.scalars(select(SshSession.id)).all() == [held]
        assert s.scalar(select(func.count()).select_from(RecordedCommand)
                        .where(RecordedCommand.session_id == first)) == 0
        assert s.scalar(select(func.count()).select_from(Recording)
                        .where(Recording.session_id == first)) == 0
        assert s.scalar(select(func.count()).select_from(Grant)) == 1
        [event] = s.scalars(select(AuditEvent).where(AuditEvent.action == "traces.purged")).all()
    assert event.details["counts"]["ssh_sessions"] == 1
    assert event.details["counts"]["access_requests"] == 1
    assert event.details["counts"]["grants"] == 1
    assert event.details["retention_days"] == 365

    # The vendor report no longer knows who connected from where in the purged session.
    since = (utcnow() - timedelta(days=500)).strftime("%Y-%m-%d")
    report = cli(scenario, "reports", "vendors", "--csv", "--since", since)
    assert report.exit_code == 0, report.output
    rows = list(csv.DictReader(io.StringIO(report.output)))
    assert [row["session"] for row in rows] == [str(held)]

    # Released, the held recording follows the same path at the next purges.
    assert cli(scenario, "recordings", "hold", str(held), "--session", "--release").exit_code == 0
    assert cli(scenario, "recordings", "purge").exit_code == 0
    assert cli(scenario, "audit", "purge").exit_code == 0
    assert count(scenario, SshSession) == 0 and count(scenario, AccessRequest) == 0


def test_recent_and_live_traces_stay(scenario: Scenario) -> None:
    session_through_the_proxy(scenario, "echo recent")
    result = cli(scenario, "audit", "purge")
    assert result.exit_code == 0 and "access traces: purged nothing" in result.output
    assert count(scenario, SshSession) == 1 and count(scenario, AccessRequest) == 1


def test_an_audit_legal_hold_keeps_every_trace(scenario: Scenario) -> None:
    session_through_the_proxy(scenario, "echo kept")
    age_everything(scenario)
    assert cli(scenario, "recordings", "purge").exit_code == 0
    assert cli(scenario, "audit", "hold", "--reason", "enquête CNIL 2026-11").exit_code == 0
    refused = cli(scenario, "audit", "purge")
    assert refused.exit_code == 1
    assert "the audit log is on legal hold: access traces are kept" in refused.output
    assert count(scenario, SshSession) == 1 and count(scenario, AccessRequest) == 1
    with scenario.core.db.session() as s:
        assert s.scalar(select(AuditEvent).where(AuditEvent.action == "traces.purge_refused"))


@pytest.mark.parametrize(("env", "problem"), [
    ({"BASTION_RECORDING__RETENTION_DAYS": "400"}, "needs audit.retention_justification"),
    ({"BASTION_RECORDING__RETENTION_DAYS": "1200",
      "BASTION_AUDIT__RETENTION_JUSTIFICATION": "known intrusion window under investigation"},
     "less than or equal to 1095"),
    ({"BASTION_AUDIT__RETENTION_DAYS": "90"}, "greater than or equal to 180"),
])
def test_one_rule_bounds_every_retention_period(tmp_path: Path, env: dict[str, str], problem: str) -> None:
    with pytest.raises(ConfigError, match=problem):
        make_settings(tmp_path, **env)

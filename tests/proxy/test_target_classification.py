"""Targets say what data they hold: no contract opens an unclassified one; reclassifying is
audited with its reason; sessions, requests and grants keep the categories in force then,
and the vendor report reads them from there."""

from __future__ import annotations

import csv
import io
from datetime import timedelta

import yaml
from click.testing import CliRunner
from sqlalchemy import select, update

from bastion.approvals import file_request
from bastion.audit import Actor
from bastion.cli import main_group
from bastion.contracts import AccessQuery, Contract, TargetFacts, decide
from bastion.models import AuditEvent, SshSession, Target, utcnow
from tests.conftest import SECOND_FACTOR_OFF
from tests.contracts.conftest import APP, EXAMPLES, TUESDAY_10H
from tests.proxy.conftest import Scenario


def cli(scenario: Scenario, *args: str):  # type: ignore[no-untyped-def]
    env = {"BASTION_PATHS__VAR_DIR": str(scenario.core.settings.var_dir),
           **SECOND_FACTOR_OFF}
    return CliRunner().invoke(main_group, list(args), env=env)


def events(scenario: Scenario, action: str) -> list[AuditEvent]:
    with scenario.core.db.session() as s:
        return list(s.scalars(select(AuditEvent).where(AuditEvent.action == action)
                              .order_by(AuditEvent.id)))


def test_no_example_contract_opens_an_unclassified_target() -> None:
    unclassified = TargetFacts(APP.name, APP.labels, frozenset(), APP.accounts)
    for path in sorted(EXAMPLES.glob("*.yaml")):
        contract = Contract.model_validate(yaml.safe_load(path.read_text()))
        technician = contract.technicians[0].id
        decision = decide(contract, AccessQuery(technician, unclassified, None, "shell",
                                                TUESDAY_10H))
        assert not decision.allowed
        assert "target_unclassified" in decision.codes, (path.name, decision.codes)
        assert any("target dpi-app-01 has no data category, so no contract can cover it" in r
                   for r in decision.reasons)


def test_targets_add_without_data_is_refused(scenario: Scenario, tmp_path) -> None:  # type: ignore[no-untyped-def]
    key = tmp_path / "host.pub"
    key.write_text(scenario.target.host_key_line)
    result = cli(scenario, "targets", "add", "dpi-new", "--host", "127.0.0.1", "--host-key",
                 str(key), "--account", "maint")
    assert result.exit_code == 1
    assert "target dpi-new has no data category: say what data it holds" in result.output
    with scenario.core.db.session() as s:
        assert s.scalar(select(Target).where(Target.name == "dpi-new")) is None
    result = cli(scenario, "targets", "add", "dpi-new", "--host", "127.0.0.1", "--host-key",
                 str(key), "--account", "maint", "--data", "technical")
    assert result.exit_code == 0, result.output


def test_an_unclassified_target_is_refused_at_the_door(scenario: Scenario) -> None:
    scenario.grant()
    # A row from before classification was required.
    with scenario.core.db.session() as s:
        s.execute(update(Target).where(Target.name == "dpi-app-01").values(data_categories=[]))
    result = scenario.ssh("echo should-not-run")
    assert result.returncode != 0 and b"should-not-run" not in result.stdout
    assert events(scenario, "session.opened") == []
    assert b"target dpi-app-01 is not classified yet; ask the hospital's IT" in result.stderr
    [refused] = events(scenario, "channel.refused")
    assert refused.reasons[0].startswith("target dpi-app-01 has no data category, so no "
                                         "contract can cover it")


def test_reports_keep_the_categories_in_force_when_the_session_opened(scenario: Scenario) -> None:
    request = file_request(scenario.core, technician="jdupont", target="dpi-app-01",
                           window_end=utcnow().replace(microsecond=0) + timedelta(hours=1),
                           channels=["exec"], reason="rotate the logs", source="api",
                           actor=Actor("technician:jdupont", "technician"))
    [filed] = events(scenario, "request.filed")
    assert filed.request_id == request.id and filed.details["data_categories"] == ["administrative"]

    scenario.grant()
    result = scenario.ssh("echo before")
    assert result.returncode == 0, result.stderr
    [opened] = events(scenario, "session.opened")
    assert opened.details["data_categories"] == ["administrative"]

    refused = cli(scenario, "targets", "reclassify", "dpi-app-01", "--data", "health",
                  "--reason", "short")
    assert refused.exit_code == 1 and "say why the target is reclassified" in refused.output
    result = cli(scenario, "targets", "reclassify", "dpi-app-01", "--data", "administrative",
                 "--data", "health", "--reason", "INC-42: the lab results moved to this server")
    assert result.exit_code == 0, result.output
    assert "administrative -> administrative, health" in result.output
    [event] = events(scenario, "target.reclassified")
    assert event.details["before"] == ["administrative"]
    assert event.details["data_categories"] == ["administrative", "health"]
    assert event.reasons == ["INC-42: the lab results moved to this server"]

    # Health data is now outside the test contract's scope: the door closes ...
    assert scenario.ssh("echo after").returncode != 0
    # ... and the report still says what the earlier session could reach.
    report = cli(scenario, "reports", "vendors", "--csv")
    assert report.exit_code == 0, report.output
    rows = list(csv.DictReader(io.StringIO(report.output)))
    assert [row["data_categories"] for row in rows] == ["administrative"]
    with scenario.core.db.session() as s:
        assert s.scalars(select(SshSession.data_categories)).all() == [["administrative"]]

"""``bastion contracts check|load|schema`` as an operator runs them."""

from __future__ import annotations

import os
from collections.abc import Callable
from datetime import datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
from click.testing import CliRunner, Result

from bastion.cli import main_group
from bastion.context import Bastion

from .conftest import EXAMPLES, base_document, with_changes

Write = Callable[..., Path]
SCHEMA = EXAMPLES.parent / "schema.json"


def run(tmp_path: Path, *args: str) -> Result:
    env = {k: None for k in os.environ if k.startswith("BASTION_")}
    env["BASTION_PATHS__VAR_DIR"] = str(tmp_path / "var")
    return CliRunner().invoke(main_group, list(args), env=env, catch_exceptions=False)


@pytest.fixture
def workdir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.chdir(tmp_path)
    return tmp_path


def test_check_without_a_database(workdir: Path) -> None:
    result = run(workdir, "contracts", "check", str(EXAMPLES))
    assert result.exit_code == 0, result.output
    assert result.stdout.splitlines() == [
        f"{EXAMPLES / 'database-vendor.yaml'}: ok (vendor quantis-db, contract QDB-2025-03, "
        "2 technician(s))",
        f"{EXAMPLES / 'dpi-editor.yaml'}: ok (vendor medilogic, contract EDI-2024-07, "
        "3 technician(s))",
        f"{EXAMPLES / 'pacs-vendor.yaml'}: ok (vendor radiance-imagerie, contract "
        "RAD-PACS-2023-11, 1 technician(s))",
    ]
    assert "target, label and account references" in result.stderr
    assert "were not checked" in result.stderr
    assert not (workdir / "var" / "bastion.db").exists()  # checking creates nothing


def test_check_reports_problems_one_per_line(workdir: Path, write_contract: Write) -> None:
    path = write_contract(with_changes({"scope.max_session_minutes": "long",
                                        "scope.data_categories": ["sante"]}))
    result = run(workdir, "contracts", "check", str(path))
    assert result.exit_code == 1
    lines = result.stdout.splitlines()
    assert len(lines) == 2
    assert all(line.startswith(f"{path}:") for line in lines)
    assert "scope.data_categories[0]: unknown data category 'sante'" in lines[0]
    assert "scope.max_session_minutes: Input should be a valid integer" in lines[1]
    assert "2 problem(s) in 1 file(s)" in result.stderr


def test_check_against_the_database_inventory(demo_core: Bastion, workdir: Path,
                                              write_contract: Write) -> None:
    assert (workdir / "var" / "bastion.db").exists()
    good = run(workdir, "contracts", "check", str(EXAMPLES))
    assert good.exit_code == 0, good.output
    assert "not checked" not in good.stderr
    path = write_contract(with_changes({"scope.targets": [{"labels": {"role": "web"},
                                                           "accounts": ["maint"]}]}))
    bad = run(workdir, "contracts", "check", str(path))
    assert bad.exit_code == 1
    assert bad.stdout.strip().endswith("no target in the inventory carries the label(s) role=web")
    offline = run(workdir, "contracts", "check", "--offline", str(path))
    assert offline.exit_code == 0 and "--offline given" in offline.stderr


def test_load_then_load_again(demo_core: Bastion, workdir: Path) -> None:
    first = run(workdir, "contracts", "load", str(EXAMPLES))
    assert first.exit_code == 0, first.output
    assert f"{EXAMPLES / 'dpi-editor.yaml'}: vendor medilogic, contract EDI-2024-07: loaded as " \
           "version 1" in first.stdout
    assert "technicians added: jdupont, mleroy, kbenali" in first.stdout
    second = run(workdir, "contracts", "load", str(EXAMPLES))
    assert second.exit_code == 0
    assert second.stdout.count("unchanged (version 1)") == 3


def test_load_refuses_a_broken_file_and_loads_nothing(demo_core: Bastion, workdir: Path,
                                                      write_contract: Write) -> None:
    path = write_contract(with_changes({"contract.valid_until": "2020-12-31",
                                        "contract.valid_from": "2020-01-01",
                                        "technicians.0.id": "amartin",
                                        "technicians.1.id": "bnoel"}))
    result = run(workdir, "contracts", "load", str(EXAMPLES), str(path))
    assert result.exit_code == 1
    assert result.stdout.strip() == f"{path}:9: contract ACME-1 expired on 2020-12-31"
    assert "nothing loaded" in result.stderr
    listing = run(workdir, "contracts", "load", str(EXAMPLES))
    assert listing.stdout.count("loaded as version 1") == 3  # the first attempt wrote nothing


def test_load_needs_an_initialised_database(workdir: Path, write_contract: Write) -> None:
    result = run(workdir, "contracts", "load", str(write_contract(base_document())))
    assert result.exit_code == 1
    assert "bastion init" in result.stderr


def test_schema_command_prints_the_committed_schema(workdir: Path) -> None:
    result = run(workdir, "contracts", "schema")
    assert result.exit_code == 0
    assert result.stdout == SCHEMA.read_text(encoding="utf-8")


def test_second_factor_off_only_as_a_dated_exception(workdir: Path, write_contract: Write) -> None:
    bare = write_contract(with_changes({"authentication": {"second_factor": "off"}}))
    refused = run(workdir, "contracts", "check", str(bare))
    assert refused.exit_code == 1
    assert "second_factor: off is only accepted as an exception: add 'exception:'" in refused.stdout
    dated = write_contract(with_changes({"authentication": {
        "second_factor": "off",
        "exception": {"reason": "vendor's security keys delivered in March (ticket SEC-12)",
                      "until": "2099-03-31"}}}))
    flagged = run(workdir, "contracts", "check", str(dated))
    assert flagged.exit_code == 0, flagged.output
    assert (f"{dated}:") in flagged.stderr
    assert ("warning: second factor off for vendor acme as an exception (vendor's security keys "
            "delivered in March (ticket SEC-12)), until 2099-03-31") in flagged.stderr
    past = write_contract(with_changes({"authentication": {
        "second_factor": "off", "exception": {"reason": "old exception", "until": "2020-01-31"}}}))
    expired = run(workdir, "contracts", "check", str(past))
    assert "expired on 2020-01-31: the second factor is required again" in expired.stderr


@pytest.mark.parametrize("placeholder", ["N/A", "n/a", "TBD", "néant", "-", "???", "à venir"])
def test_check_refuses_a_placeholder_for_the_article_28_reference(
        workdir: Path, write_contract: Write, placeholder: str) -> None:
    path = write_contract(with_changes({"contract.dpa_reference": placeholder}))
    result = run(workdir, "contracts", "check", str(path))
    assert result.exit_code == 1
    assert (f"contract.dpa_reference: {placeholder!r} is a placeholder, not a reference: write "
            "the signed agreement's reference") in result.stdout


def test_check_demands_hds_for_health_data_and_a_basis_for_transfers(
        workdir: Path, write_contract: Write) -> None:
    health = write_contract(with_changes({"scope.data_categories": ["administrative", "health"]}))
    result = run(workdir, "contracts", "check", str(health))
    assert result.exit_code == 1
    assert ("the vendor may reach health data: record its HDS certificate under "
            "contract.hds_certificate (number, valid_until)") in result.stdout
    transfer = write_contract(with_changes({"contract.data_location": {"countries": ["FR", "US"]}}))
    result = run(workdir, "contracts", "check", str(transfer))
    assert result.exit_code == 1
    assert ("contract.data_location: US is outside the EU/EEA: a transfer needs transfer_basis "
            "(adequacy-decision, standard-contractual-clauses or binding-corporate-rules) and "
            "transfer_reference") in result.stdout
    based = write_contract(with_changes({"contract.data_location": {
        "countries": ["FR", "US"], "transfer_basis": "adequacy-decision",
        "transfer_reference": "EU-US Data Privacy Framework, décision (UE) 2023/1795"}}))
    assert run(workdir, "contracts", "check", str(based)).exit_code == 0


def test_check_warns_of_an_hds_certificate_expiring_within_60_days(
        workdir: Path, write_contract: Write) -> None:
    paris_today = datetime.now(ZoneInfo("Europe/Paris")).date()
    soon = (paris_today + timedelta(days=20)).isoformat()
    path = write_contract(with_changes({
        "scope.data_categories": ["administrative", "health"],
        "contract.hds_certificate": {"number": "HDS-CERT-9", "valid_until": soon},
        "contract.data_location": {"countries": ["FR"]}}))
    result = run(workdir, "contracts", "check", str(path))
    assert result.exit_code == 0, result.output
    assert (f"warning: HDS certificate HDS-CERT-9 of vendor acme expires on {soon}, in "
            "20 day(s): ask for the renewed certificate") in result.stderr
    expired = write_contract(with_changes({
        "scope.data_categories": ["administrative", "health"],
        "contract.hds_certificate": {"number": "HDS-CERT-9", "valid_until": "2020-01-01"}}))
    result = run(workdir, "contracts", "check", str(expired))
    assert result.exit_code == 1
    assert "HDS certificate HDS-CERT-9 expired on 2020-01-01" in result.stdout

def test_check_warns_when_exec_can_bypass_the_path_rules(workdir: Path,
                                                         write_contract: Write) -> None:
    bypass = write_contract(with_changes({"channels.exec": True, "channels.sftp": {
        "access": "read", "allow": ["/var/log/app/**"]}}))
    result = run(workdir, "contracts", "check", str(bypass))
    assert result.exit_code == 0, result.output  # a warning, not a problem: it still loads
    warnings = [line for line in result.stderr.splitlines()
                if ": warning: " in line and "exec is allowed" in line]
    assert len(warnings) == 1
    assert warnings[0].startswith(f"{bypass}:")
    assert "exec is allowed with SFTP path rules" in warnings[0]
    assert "other commands (cat, tar...) can read what the rules refuse" in warnings[0]
    quiet = write_contract(with_changes({"channels.exec": False, "channels.sftp": {
        "access": "read", "allow": ["/var/log/app/**"]}}))
    assert "exec is allowed" not in run(workdir, "contracts", "check", str(quiet)).stderr


def test_check_warns_of_on_call_names_that_cannot_acknowledge(demo_core: Bastion, workdir: Path,
                                                              write_contract: Write) -> None:
    from bastion.audit import Actor
    from bastion.staff import add_staff

    with demo_core.db.session() as session:
        add_staff(session, demo_core.audit, username="alice", full_name="Alice",
                  roles=["approver"], password=None, actor=Actor("test", "admin"))
    path = write_contract(with_changes({"approval.break_glass": {
        "allowed": True, "on_sensitive": "acknowledged", "on_call": ["alice", "zoe"]}}))
    result = run(workdir, "contracts", "check", str(path))
    assert result.exit_code == 0, result.output  # a warning: staff may be added later
    warnings = [line for line in result.stderr.splitlines() if "on_call names" in line]
    assert len(warnings) == 1 and "zoe, who is not an active approver" in warnings[0]

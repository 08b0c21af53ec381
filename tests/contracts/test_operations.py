"""Single operations inside an allowed session: SFTP paths, forwards, commands, time."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest

from bastion.contracts import (
    AccessQuery,
    CommandRule,
    Constraints,
    check_channel,
    check_command,
    check_forward,
    check_sftp,
    check_time,
    decide,
    parse_contract,
)
from bastion.contracts.path_patterns import glob_regex

from .conftest import APP, DB, EXAMPLES, PACS, TUESDAY_10H, contract, paris_time


def constraints(changes: dict[str, Any]) -> Constraints:
    decision = decide(contract(changes), AccessQuery("jdupont", APP, None, "request",
                                                     TUESDAY_10H))
    assert decision.constraints is not None, decision.reasons
    return decision.constraints


READ_LOGS = {"channels.sftp": {"access": "read", "allow": ["/var/log/pacs/**"],
                               "deny": ["/var/log/pacs/**/*.dcm"]}}
READ_WRITE = {"channels.sftp": {"access": "read-write",
                                "allow": ["/opt/app/**", "/tmp/upload-*.tar"],
                                "deny": ["/opt/app/conf/secrets/**", "/**/*.pem"]}}

SFTP_CASES = [
    # (contract sftp, operation, path, second path, allowed, words in the reason)
    (READ_LOGS, "open_read", "/var/log/pacs/server.log", None, True, "allowed"),
    (READ_LOGS, "list", "/var/log/pacs", None, True, "allowed"),
    (READ_LOGS, "stat", "/var/log/pacs/2027/03/x.log", None, True, "allowed"),
    (READ_LOGS, "open_read", "/var/log/pacs/2027/study.dcm", None, False, "excluded"),
    (READ_LOGS, "open_read", "/var/log/pacsx/server.log", None, False, "outside the paths"),
    (READ_LOGS, "open_read", "/var/log/pacs/../../../etc/shadow", None, False, "/etc/shadow"),
    (READ_LOGS, "open_read", "//var/log/pacs/../secret", None, False, "/var/log/secret"),
    (READ_LOGS, "open_read", "server.log", None, False, "not an absolute path"),
    (READ_LOGS, "open_read", "/var/log/pacs/a\x00b", None, False, "not an absolute path"),
    (READ_LOGS, "list", "/var/log", None, False, "outside the paths"),
    (READ_LOGS, "open_write", "/var/log/pacs/x.log", None, False, "read only"),
    (READ_LOGS, "remove", "/var/log/pacs/x.log", None, False, "read only"),
    (READ_LOGS, "realpath", "/", None, True, "allowed"),
    (READ_LOGS, "chown_everything", "/var/log/pacs/x", None, False, "unknown SFTP operation"),
    (READ_WRITE, "open_write", "/opt/app/releases/v2.tar", None, True, "allowed"),
    (READ_WRITE, "mkdir", "/opt/app/new", None, True, "allowed"),
    (READ_WRITE, "open_write", "/opt/app/conf/secrets/db.key", None, False, "excluded"),
    (READ_WRITE, "open_write", "/opt/app/conf/tls/server.pem", None, False, "excluded"),
    (READ_WRITE, "open_write", "/tmp/upload-1.tar", None, True, "allowed"),
    (READ_WRITE, "open_write", "/tmp/sub/upload-1.tar", None, False, "outside the paths"),
    (READ_WRITE, "rename", "/opt/app/a", "/opt/app/b", True, "allowed"),
    (READ_WRITE, "rename", "/opt/app/a", "/etc/cron.d/a", False, "/etc/cron.d/a"),
    (READ_WRITE, "symlink", "/opt/app/link", "/etc/shadow", False, "/etc/shadow"),
    ({}, "open_read", "/var/log/pacs/server.log", None, False, "SFTP is not allowed"),
]


@pytest.mark.parametrize(("sftp", "operation", "path", "second", "allowed", "words"), SFTP_CASES)
def test_sftp(sftp: dict[str, Any], operation: str, path: str, second: str | None,
              allowed: bool, words: str) -> None:
    verdict = check_sftp(constraints(sftp), operation, path, second)
    assert verdict.allowed is allowed
    assert words in verdict.reason


@pytest.mark.parametrize(("pattern", "path", "matches"), [
    ("/var/log/**", "/var/log", True),
    ("/var/log/**", "/var/log/a/b/c", True),
    ("/var/log/**", "/var/logs", False),
    ("/var/*/app.log", "/var/x/app.log", True),
    ("/var/*/app.log", "/var/x/y/app.log", False),
    ("/var/**/app.log", "/var/app.log", True),
    ("/var/**/app.log", "/var/x/y/app.log", True),
    ("/data/file?.csv", "/data/file1.csv", True),
    ("/data/file?.csv", "/data/file/.csv", False),
    ("/data/a+b.txt", "/data/aab.txt", False),  # regex characters are literal
])
def test_path_patterns(pattern: str, path: str, matches: bool) -> None:
    assert bool(glob_regex(pattern).fullmatch(path)) is matches


@pytest.mark.parametrize(("host", "port", "allowed"), [
    ("127.0.0.1", 8443, True),
    ("LOCALHOST", 5432, True),
    ("::1", 5432, True),
    ("[::1]", 5432, True),
    ("127.0.0.1", 22, False),
    ("10.0.0.12", 8443, False),
])
def test_forwards(host: str, port: int, allowed: bool) -> None:
    c = constraints({"channels.forwards": ["127.0.0.1:8443", "localhost:5432", "[::1]:5432"]})
    verdict = check_forward(c, host, port)
    assert verdict.allowed is allowed
    assert f"{host}:{port}" in verdict.reason


def test_no_forward_without_the_channel() -> None:
    verdict = check_forward(constraints({}), "127.0.0.1", 8443)
    assert not verdict.allowed and "forwarding is not allowed" in verdict.reason


def example_constraints(name: str, target: Any, technician: str) -> Constraints:
    parsed = parse_contract((EXAMPLES / name).read_text(encoding="utf-8"), name)
    assert parsed.contract is not None, parsed.problems
    at = paris_time(2027, 3, 3, 21, 0) if target is DB else paris_time(2027, 3, 2, 10, 0)
    decision = decide(parsed.contract, AccessQuery(technician, target, None, "request", at))
    assert decision.constraints is not None, decision.reasons
    return decision.constraints


COMMANDS = [
    # (command, expected action, words of the reason)
    ("pg_dump -Fc dpi > /tmp/dpi.dump", "deny", "dumping databases"),
    ("/usr/bin/pg_dumpall", "deny", "dumping databases"),
    ("p''g_dump dpi", "deny", "dumping databases"),
    ("pg\\_dump dpi", "deny", "dumping databases"),
    ("psql -c \"COPY patient TO '/tmp/p.csv'\"", "deny", "COPY ... TO"),
    ("\\copy (select * from sejour) to '/tmp/s.csv' csv", "deny", "COPY ... TO"),
    ("copy patient from stdin", "allow", None),
    ("SELECT * FROM patient;", "deny", "bulk reads"),
    ("select  *  from dpi.\"patient_identite\" limit 5", "deny", "bulk reads"),
    ("SELECT nom FROM patient WHERE ipp = '123';", "allow", None),
    ("DROP DATABASE dpi;", "deny", "change request"),
    ("truncate table audit_tmp;", "flag", "reviewed by the DPO"),
    ("pg_basebackup -D /backup", "flag", "backup system"),
    ("vacuumdb --analyze dpi", "allow", None),
    ("psql -c 'reindex table sejour'", "allow", None),
]


@pytest.mark.parametrize(("command", "action", "words"), COMMANDS)
def test_database_vendor_command_rules(command: str, action: str, words: str | None) -> None:
    verdict = check_command(example_constraints("database-vendor.yaml", DB, "slambert"), command)
    assert verdict.action == action
    if words is None:
        assert verdict.rule_reason is None
    else:
        assert verdict.rule_reason is not None and words in verdict.rule_reason


def test_deny_rule_wins_over_flag_rule() -> None:
    c = constraints({"command_rules": [
        {"pattern": "sudo", "action": "flag", "reason": "reviewed"},
        {"pattern": "rm -rf", "action": "deny", "reason": "no"}]})
    assert check_command(c, "sudo rm -rf /opt").action == "deny"
    assert check_command(c, "sudo ls").action == "flag"


def test_case_sensitive_rule() -> None:
    c = constraints({"command_rules": [
        {"pattern": "SECRET", "action": "deny", "reason": "no", "case_sensitive": True}]})
    assert check_command(c, "echo SECRET").action == "deny"
    assert check_command(c, "echo secret").action == "allow"


def test_a_broken_stored_rule_denies() -> None:
    c = constraints({})
    broken = Constraints(**{**c.__dict__, "command_rules": (CommandRule("(", "flag", "x"),)})
    assert check_command(broken, "ls").action == "deny"


def test_pacs_vendor_reads_logs_only() -> None:
    c = example_constraints("pacs-vendor.yaml", PACS, "agarcia")
    assert c.channels == frozenset({"sftp"})
    assert check_sftp(c, "open_read", "/var/log/pacs/dicom-router.log").allowed
    assert not check_sftp(c, "open_read", "/var/lib/pacs/images/1.dcm").allowed
    assert not check_sftp(c, "open_write", "/var/log/pacs/x").allowed
    assert not check_channel(c, "shell").allowed
    assert check_channel(c, "sftp").allowed


def test_database_vendor_reads_but_never_writes() -> None:
    c = example_constraints("database-vendor.yaml", DB, "slambert")
    assert c.approvers_required == 2
    assert check_sftp(c, "open_read", "/var/log/postgresql/postgresql-16-main.log").allowed
    assert not check_sftp(c, "open_write", "/var/log/postgresql/x").allowed
    assert not check_forward(c, "127.0.0.1", 5432).allowed


def test_time_checks() -> None:
    c = constraints({})
    assert check_time(c, c.not_before).allowed
    assert not check_time(c, c.latest_end).allowed
    assert not check_time(c, c.not_before - timedelta(seconds=1)).allowed


def test_examples_are_where_the_tests_expect_them() -> None:
    assert sorted(p.name for p in Path(EXAMPLES).glob("*.yaml")) == [
        "database-vendor.yaml", "dpi-editor.yaml", "pacs-vendor.yaml"]

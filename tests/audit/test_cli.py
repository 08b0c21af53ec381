"""``bastion audit ...`` as an operator runs it (SQLite; the logic under it is tested on
both databases elsewhere)."""

from __future__ import annotations

import json
import os
from datetime import timedelta

import pytest
from click.testing import CliRunner
from sqlalchemy import update

import bastion.audit.log
from bastion.cli import main_group
from bastion.models import utcnow

from .conftest import EVENTS, append, events, tamper, with_interval
from .syslog_receiver import Receiver


@pytest.fixture
def cli(core, tmp_path):
    with_interval(core, 10)
    runner = CliRunner()
    env = {"BASTION_PATHS__VAR_DIR": str(tmp_path / "var"), "BASTION_AUDIT__CHECKPOINT_EVERY": "10"}

    def run(*args: str, **extra_env: str):
        return runner.invoke(main_group, ["audit", *args], env={**env, **extra_env})

    return run


def test_verify_prints_a_summary_and_fails_naming_the_first_bad_event(cli, core) -> None:
    append(core, 23)
    result = cli("verify")
    assert result.exit_code == 0, result.output
    assert result.output.startswith("audit log OK: 23 events verified (events 1-23) from the first event")
    assert "last checkpoint #2 (periodic, event 20" in result.output
    tamper(core.db, lambda c: c.execute(update(EVENTS).where(EVENTS.c.id == 7).values(target="x")))
    result = cli("verify")
    assert result.exit_code == 1
    assert "FAILED verification: audit event 7: its content no longer matches its hash" in result.output
    partial = cli("verify", "--from", "15", "--to", "22")
    assert partial.exit_code == 0 and "events 11-22" in partial.output


def test_verify_with_an_auditors_own_copy_of_the_public_key(cli, core, tmp_path) -> None:
    append(core, 12)
    public = core.keys.directory / "audit_signing.pub"
    assert cli("verify", "--public-key", str(public)).exit_code == 0
    other = tmp_path / "other.pub"
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
    other.write_bytes(Ed25519PrivateKey.generate().public_key().public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo))
    result = cli("verify", "--public-key", str(other))
    assert result.exit_code == 1 and "not the bastion's" in result.output


def test_checkpoint_on_demand(cli, core) -> None:
    assert "empty" in cli("checkpoint").output
    append(core, 4)
    result = cli("checkpoint")
    assert result.exit_code == 0 and "signs event 4" in result.output


def test_export_to_a_private_file(cli, core, tmp_path) -> None:
    append(core, 5)
    target = tmp_path / "trail.jsonl"
    result = cli("export", "--since", "2020-01-01", "--format", "jsonl", "-o", str(target))
    assert result.exit_code == 0 and "5 events written" in result.output
    assert oct(os.stat(target).st_mode & 0o777) == "0o600"
    assert [json.loads(line)["id"] for line in target.read_text().splitlines()] == [1, 2, 3, 4, 5]
    csv_out = cli("export", "--until", "2020-01-01", "--format", "csv")
    assert csv_out.output.splitlines() == ["id,at,actor,actor_role,action,outcome,vendor,technician,"
                                           "target,account,session_id,request_id,grant_id,reasons,"
                                           "details,node,message,prev_hash,hash"]
    assert cli("export", "--since", "yesterday").exit_code == 1
    assert [e["action"] for e in events(core.db)][-2:] == ["audit.exported", "audit.exported"]


def test_purge_hold_and_release(cli, core, monkeypatch) -> None:
    monkeypatch.setattr(bastion.audit.log, "utcnow", lambda: utcnow() - timedelta(days=400))
    append(core, 6)
    monkeypatch.undo()
    append(core, 2, start=6)
    assert "would purge 6 events" in cli("purge", "--dry-run").output
    held = cli("hold", "--reason", "contentieux 2026-04")
    assert held.exit_code == 0 and "legal hold placed" in held.output
    refused = cli("purge")
    assert refused.exit_code == 1 and "legal hold" in refused.output
    assert "legal hold released" in cli("hold", "--release", "--reason", "clos").output
    purged = cli("purge")
    assert purged.exit_code == 0 and "purged 6 events" in purged.output and "(events 1-6)" in purged.output
    assert cli("verify").exit_code == 0


def test_forward_once_to_the_configured_siem(cli, core) -> None:
    append(core, 3)
    assert "no SIEM configured" in cli("forward", "--once").output
    receiver = Receiver("udp")
    try:
        result = cli("forward", "--once", BASTION_SYSLOG__HOST="127.0.0.1",
                     BASTION_SYSLOG__PORT=str(receiver.port))
        assert result.exit_code == 0 and f"3 events sent to udp://127.0.0.1:{receiver.port}" in result.output
        assert [m.msgid for m in receiver.wait_for(3)] == ["test.event"] * 3
    finally:
        receiver.close()


def test_help_lists_the_audit_commands() -> None:
    result = CliRunner().invoke(main_group, ["audit", "--help"])
    for command in ("verify", "checkpoint", "export", "forward", "purge", "hold"):
        assert command in result.output

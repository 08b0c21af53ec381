"""The technicians' second factor (ANS rules from 2026), with nothing but a stock client:
a one-time code asked by keyboard-interactive after the key, or a FIDO2 security-key SSH
key whose signature flags show touch and, when the contract demands it, verification."""

from __future__ import annotations

import asyncio
import hashlib
import os
import struct
import time
from collections.abc import Iterator

import asyncssh
import pyotp
import pytest
import yaml
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat
from sqlalchemy import select

from bastion import totp
from bastion.audit import Actor
from bastion.contracts import load_contracts
from bastion.models import AuditEvent, Technician
from tests.proxy.conftest import Scenario, contract_for_tests

KBDINT = ["-o", "LogLevel=INFO", "-o", "BatchMode=no", "-o", "KbdInteractiveAuthentication=yes"]
ADMIN = Actor("test", "admin")


@pytest.fixture
def required(scenario: Scenario) -> Scenario:
    scenario.core.settings = scenario.core.settings.with_changes("ssh", second_factor="required")
    return scenario


def _enrol_totp(scenario: Scenario) -> str:
    with scenario.core.db.session() as s:
        uri = totp.enrol(s, scenario.core.audit, scenario.core.keys.master_key, "jdupont", ADMIN)
    return pyotp.parse_uri(uri).secret


def test_one_time_code_typed_into_the_real_ssh(required: Scenario, tmux) -> None:  # type: ignore[no-untyped-def]
    secret = _enrol_totp(required)
    required.grant()
    tmux.start(required.client.ssh_argv(required.user, "127.0.0.1", required.proxy.port,
                                        extra=[*KBDINT, "-t"]))
    tmux.wait_for(r"One-time code: $")
    tmux.type("123456\n" if pyotp.TOTP(secret).now() != "123456" else "654321\n")
    tmux.wait_for(r"That one-time code is not valid")
    tmux.wait_for(r"One-time code: $")
    typed_at = time.time()
    code = pyotp.TOTP(secret).at(typed_at)
    tmux.type(code + "\n")
    # Typed before the shell is up, the line can be read by ssh's prompt under load.
    tmux.wait_for(r"\$ $")
    tmux.type("PS1='dpi> '; echo second-factor-ok\n")
    tmux.wait_for(r"^second-factor-ok$")
    tmux.type("exit\n")
    # The code's step is claimed in the database: no other node, nor the portal, takes it.
    with required.core.db.session() as s:
        claimed = s.scalar(select(Technician.totp_last_step).where(Technician.ident == "jdupont"))
    assert claimed == totp.matching_step(secret, code, typed_at)
    with required.core.db.session() as s:
        assert not totp.use_code(s, "jdupont", secret, code)


def test_no_second_factor_enrolled_is_refused_saying_what_to_enrol(required: Scenario) -> None:
    required.grant()
    result = required.ssh("true", extra=["-o", "LogLevel=INFO"])
    assert result.returncode == 255
    assert ("bastion: a second factor is required: enrol a security-key SSH key "
            "(ssh-keygen -t ed25519-sk) or a one-time code (TOTP)") in result.stderr.decode()
    with required.core.db.session() as s:
        event = s.scalars(select(AuditEvent).where(AuditEvent.action == "login.refused")
                          .order_by(AuditEvent.id.desc())).first()
    assert "a second factor is required" in event.reasons[0]


# --- a software security key: the FIDO signature format OpenSSH uses is public -------------

APPLICATION = "ssh:"


class SoftSecurityKey:
    """Signs as a FIDO2 authenticator would for OpenSSH: over SHA-256(application) ||
    flags || counter || SHA-256(data), with the flags we choose (user presence 0x01, user
    verification 0x04)."""

    def __init__(self, flags: int) -> None:
        self.private = Ed25519PrivateKey.generate()
        self.flags = flags
        self.counter = 0
        public = self.private.public_key().public_bytes(Encoding.Raw, PublicFormat.Raw)
        self.key = asyncssh.sk_eddsa._SKEd25519Key(public, APPLICATION, 0x01, b"soft", b"")

    @property
    def public_line(self) -> str:
        return self.key.export_public_key().decode().strip()

    def sign(self, data: bytes, application: str, key_handle: bytes, flags: int,
             is_webauthn: bool = False) -> tuple[int, int, bytes, bytes]:
        self.counter += 1
        signed = (hashlib.sha256(application.encode()).digest() + bytes([self.flags])
                  + struct.pack(">I", self.counter) + hashlib.sha256(data).digest())
        return self.flags, self.counter, self.private.sign(signed), data


@pytest.fixture
def soft_key(required: Scenario, request: pytest.FixtureRequest,
             monkeypatch: pytest.MonkeyPatch) -> Iterator[SoftSecurityKey]:
    flags, verify_required = request.param
    key = SoftSecurityKey(flags)
    monkeypatch.setattr(asyncssh.sk_eddsa, "sk_sign", key.sign)
    document = yaml.safe_load(contract_for_tests(key.public_line, [required.target.account]))
    document["authentication"] = {"second_factor": "required", "methods": ["security_key"],
                                  "security_key_verify_required": verify_required}
    path = required.client.workdir.parent / "editeur.yaml"
    path.write_text(yaml.safe_dump(document, allow_unicode=True))
    assert load_contracts(required.core, [path], ADMIN).ok
    yield key


def _connect_with(scenario: Scenario, key: SoftSecurityKey) -> str:
    async def run() -> str:
        async with asyncssh.connect(
                "127.0.0.1", scenario.proxy.port, username=scenario.user,
                client_keys=[key.key], known_hosts=None, agent_path=None, config=None,
                preferred_auth="publickey") as conn:
            return (await conn.run("echo via-security-key", check=True)).stdout
    try:
        return asyncio.run(run())
    except asyncssh.PermissionDenied:
        return "refused"


@pytest.mark.parametrize("soft_key", [(0x01 | 0x04, True)], indirect=True)
def test_security_key_with_verification_accepted(required: Scenario, soft_key) -> None:  # type: ignore[no-untyped-def]
    required.grant()
    assert _connect_with(required, soft_key) == "via-security-key\n"


@pytest.mark.parametrize("soft_key", [(0x01, True)], indirect=True)
def test_security_key_without_verification_refused_when_required(required: Scenario, soft_key) -> None:  # type: ignore[no-untyped-def]
    required.grant()
    assert _connect_with(required, soft_key) == "refused"
    with required.core.db.session() as s:
        event = s.scalars(select(AuditEvent).where(AuditEvent.action == "login.refused")
                          .order_by(AuditEvent.id.desc())).first()
    assert "did not verify you" in event.reasons[0]


@pytest.mark.parametrize("soft_key", [(0x01, False)], indirect=True)
def test_security_key_touch_is_enough_when_verification_not_required(required: Scenario, soft_key) -> None:  # type: ignore[no-untyped-def]
    required.grant()
    assert _connect_with(required, soft_key) == "via-security-key\n"


# --- wrong one-time codes: audited, and a lock on the technician across connections ----------


def _askpass(scenario: Scenario, answer: str) -> dict[str, str]:
    """The real ssh reads keyboard-interactive answers from SSH_ASKPASS when forced to:
    each prompt of each connection gets ``answer``, as a guessing script would send."""
    script = scenario.client.workdir / "askpass"
    script.write_text(f"#!/bin/sh\necho '{answer}'\n")
    script.chmod(0o700)
    return {**os.environ, "SSH_ASKPASS": str(script), "SSH_ASKPASS_REQUIRE": "force",
            "DISPLAY": ":0"}


def _code_events(scenario: Scenario) -> list[AuditEvent]:
    with scenario.core.db.session() as s:
        return list(s.scalars(select(AuditEvent).where(AuditEvent.action == "login.code_refused")
                              .order_by(AuditEvent.id)))


def test_wrong_codes_are_audited_and_lock_the_technician_across_connections(
        required: Scenario) -> None:
    secret = _enrol_totp(required)
    required.grant()
    wrong = "000000" if pyotp.TOTP(secret).now() != "000000" else "111111"
    guessing = _askpass(required, wrong)
    seen, connections, last = 0, 0, None
    while connections < 5:
        last = required.client.ssh(required.user, "127.0.0.1", required.proxy.port, "true",
                                   extra=[*KBDINT, "-o", "NumberOfPasswordPrompts=1"],
                                   env=guessing)
        connections += 1
        assert last.returncode == 255
        now_seen = len(_code_events(required))
        assert now_seen > seen  # every wrong code is an audit event
        seen = now_seen
        if "locked until" in last.stderr.decode():
            break
    assert connections > 1  # the count spans connections
    assert "bastion: too many wrong one-time codes or passwords: locked until" in \
        last.stderr.decode()
    events = _code_events(required)
    assert len(events) == 5  # the fifth wrong code locks; no sixth code is even asked
    assert "technician locked until" in events[-1].reasons[0]
    assert all(e.technician == "jdupont" and e.outcome == "denied" for e in events)
    with required.core.db.session() as s:
        assert s.scalar(select(Technician.locked_until)
                        .where(Technician.ident == "jdupont")) is not None
    # The right code does not help while the lock holds: refused before any code is asked.
    right = _askpass(required, pyotp.TOTP(secret).now())
    locked = required.client.ssh(required.user, "127.0.0.1", required.proxy.port, "true",
                                 extra=KBDINT, env=right)
    assert locked.returncode == 255
    assert "locked until" in locked.stderr.decode()
    with required.core.db.session() as s:
        refused = s.scalars(select(AuditEvent).where(AuditEvent.action == "login.refused")
                            .order_by(AuditEvent.id.desc())).first()
    assert "locked until" in refused.reasons[0]


def test_a_right_code_clears_earlier_failures(required: Scenario) -> None:
    secret = _enrol_totp(required)
    required.grant()
    wrong = "000000" if pyotp.TOTP(secret).now() != "000000" else "111111"
    required.client.ssh(required.user, "127.0.0.1", required.proxy.port, "true",
                        extra=[*KBDINT, "-o", "NumberOfPasswordPrompts=1"],
                        env=_askpass(required, wrong))
    with required.core.db.session() as s:
        assert 0 < s.scalar(select(Technician.failed_sign_ins)
                            .where(Technician.ident == "jdupont")) < 5
    ok = required.client.ssh(required.user, "127.0.0.1", required.proxy.port, "echo in",
                             extra=KBDINT, env=_askpass(required, pyotp.TOTP(secret).now()))
    assert ok.stdout == b"in\n", ok.stderr
    with required.core.db.session() as s:
        assert s.scalar(select(Technician.failed_sign_ins)
                        .where(Technician.ident == "jdupont")) == 0

"""The grant's OpenSSH user certificate, read back with the real ``ssh-keygen -L``."""

from __future__ import annotations

import base64
import os
import re
import subprocess
from datetime import UTC, timedelta
from pathlib import Path

import asyncssh
import pytest

from bastion import approvals
from bastion.approvals import ApprovalError
from bastion.audit import Actor
from bastion.models import utcnow
from tests.approvals.conftest import World, audit_events, public_line


def keygen_list(tmp_path: Path, certificate: str) -> dict[str, object]:
    """``ssh-keygen -L`` of the certificate, parsed into its fields (times in UTC)."""
    path = tmp_path / "grant-cert.pub"
    path.write_text(certificate + "\n")
    out = subprocess.run(["ssh-keygen", "-L", "-f", str(path)], capture_output=True, text=True,
                         check=True, env={**os.environ, "TZ": "UTC"}).stdout
    fields: dict[str, object] = {}
    current = None
    for line in out.splitlines()[1:]:
        if re.match(r"^\s{8}\S", line) and ":" in line:
            key, _, value = line.strip().partition(":")
            current = key
            fields[key] = value.strip() if value.strip() else []
        elif current is not None and line.strip():
            fields[current].append(line.strip())  # type: ignore[union-attr]
    return fields


def fingerprint(line: str) -> str:
    return asyncssh.import_public_key(line).get_fingerprint("sha256")


def _grant(world: World, **fields: object) -> approvals.GrantInfo:
    request = world.file(**fields)
    grant = world.approve(request.id, "alice").grant
    assert grant is not None
    return grant


def test_ssh_keygen_shows_what_the_grant_permits(world: World, tmp_path: Path) -> None:
    grant = _grant(world, channels=["shell", "exec"], minutes=90)
    assert grant.has_certificate
    certificate = approvals.certificate_of(world.core, grant.id)
    listed = keygen_list(tmp_path, certificate)
    assert listed["Type"] == "ssh-ed25519-cert-v01@openssh.com user certificate"
    assert listed["Key ID"] == f'"grant-{grant.id}"'
    assert listed["Serial"] == str(grant.id)
    assert listed["Principals"] == ["jdupont"]
    start = grant.not_before.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S")
    end = grant.not_after.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S")
    assert listed["Valid"] == f"from {start} to {end}"
    assert listed["Critical Options"] == "(none)"
    assert listed["Extensions"] == ["permit-pty"]  # no agent, X11, port forwarding, user rc
    assert listed["Public key"] == f"ED25519-CERT {fingerprint(public_line('jdupont'))}"
    ca = world.core.keys.public_line("technician_ca")
    assert listed["Signing CA"].startswith(f"ED25519 {fingerprint(ca)}")
    assert audit_events(world.core, "grant.certificate_issued")[-1].grant_id == grant.id


@pytest.mark.parametrize(("channels", "extensions"), [
    (["exec"], "(none)"),
    (["exec", "forward"], ["permit-port-forwarding"]),
    (["shell", "sftp", "forward"], ["permit-port-forwarding", "permit-pty"]),
])
def test_extensions_follow_the_grant(world: World, tmp_path: Path, channels: list[str],
                                     extensions: object) -> None:
    grant = _grant(world, channels=channels)
    listed = keygen_list(tmp_path, approvals.certificate_of(world.core, grant.id))
    assert listed["Extensions"] == extensions


def test_with_several_keys_the_technician_names_one(world: World, tmp_path: Path) -> None:
    grant = _grant(world, technician="kbenali",
                   actor=Actor("technician:kbenali", "technician"))
    assert not grant.has_certificate and approvals.certificate_of(world.core, grant.id) is None
    with pytest.raises(ApprovalError) as caught:
        approvals.issue_certificate(world.core, grant.id)
    assert caught.value.code == "key_ambiguous"
    second = fingerprint(public_line("kbenali-2"))
    certificate = approvals.issue_certificate(world.core, grant.id, key_fingerprint=second,
                                              actor=Actor("technician:kbenali", "technician"))
    assert keygen_list(tmp_path, certificate)["Public key"] == f"ED25519-CERT {second}"
    assert approvals.certificate_of(world.core, grant.id) == certificate
    with pytest.raises(ApprovalError) as caught:
        approvals.issue_certificate(world.core, grant.id, key_fingerprint="SHA256:nope")
    assert caught.value.code == "no_technician_key"


def test_a_certificate_is_usable_only_within_its_window(world: World) -> None:
    start = utcnow() + timedelta(days=1)
    grant = _grant(world, start=start, minutes=60)
    certificate = approvals.certificate_of(world.core, grant.id)
    with pytest.raises(ApprovalError) as caught:
        approvals.check_certificate(world.core, certificate)
    assert caught.value.code == "certificate_not_yet_valid"
    inside = grant.not_before + timedelta(minutes=5)
    assert approvals.check_certificate(world.core, certificate, now=inside).id == grant.id
    with pytest.raises(ApprovalError) as caught:
        approvals.check_certificate(world.core, certificate, now=grant.not_after)
    assert caught.value.code == "certificate_expired"


def test_a_revoked_grants_certificate_is_refused_within_its_dates(world: World) -> None:
    grant = _grant(world)
    certificate = approvals.certificate_of(world.core, grant.id)
    assert approvals.check_certificate(world.core, certificate).status == "approved"
    approvals.revoke_grant(world.core, grant.id, actor=Actor("staff:bob", "approver"),
                           reason="job done early")
    with pytest.raises(ApprovalError) as caught:
        approvals.check_certificate(world.core, certificate)
    assert caught.value.code == "grant_revoked"
    with pytest.raises(ApprovalError) as caught:
        approvals.issue_certificate(world.core, grant.id)
    assert caught.value.code == "grant_revoked"


def test_certificates_not_from_our_ca_are_refused(world: World) -> None:
    grant = _grant(world)
    rogue = asyncssh.generate_private_key("ssh-ed25519")
    forged = approvals.build_certificate(
        rogue, user_key=public_line("jdupont"), grant_id=grant.id, principal="jdupont",
        not_before=grant.not_before, not_after=grant.not_after, channels=["shell"],
        forwards=False)
    for bad in (forged, "ssh-ed25519 AAAA garbage", public_line("jdupont"), ""):
        with pytest.raises(ApprovalError) as caught:
            approvals.check_certificate(world.core, bad)
        assert caught.value.code == "certificate_invalid"


def test_a_certificate_for_another_technician_or_key_is_refused(world: World) -> None:
    grant = _grant(world)
    ca = world.core.keys.technician_ca
    for principal, key in (("kbenali", "jdupont"), ("jdupont", "kbenali")):
        other = approvals.build_certificate(
            ca, user_key=public_line(key), grant_id=grant.id, principal=principal,
            not_before=grant.not_before, not_after=grant.not_after, channels=["shell"],
            forwards=False)
        with pytest.raises(ApprovalError) as caught:
            approvals.check_certificate(world.core, other)
        assert caught.value.code == "certificate_invalid"


def test_a_certificate_signature_is_checked(world: World) -> None:
    grant = _grant(world)
    certificate = approvals.certificate_of(world.core, grant.id)
    kind, blob, *rest = certificate.split()
    raw = bytearray(base64.b64decode(blob))
    raw[-5] ^= 0x01  # inside the CA's signature
    tampered = " ".join([kind, base64.b64encode(bytes(raw)).decode(), *rest])
    with pytest.raises(ApprovalError) as caught:
        approvals.check_certificate(world.core, tampered)
    assert caught.value.code == "certificate_invalid"

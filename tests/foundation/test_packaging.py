"""What a hospital's procurement and its IT team check before installing: the licence, the
security policy, pinned and bounded dependencies, an image whose volumes the non-root user
can write, and a TLS example that the distribution's nginx accepts."""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
import tomllib
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
import yaml
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID
from packaging.requirements import Requirement

ROOT = Path(__file__).resolve().parents[2]
PROJECT = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
LOCK = ROOT / "deploy" / "requirements.lock"


def _runtime_requirements() -> list[Requirement]:
    return [Requirement(line) for line in
            PROJECT["dependencies"] + PROJECT["optional-dependencies"]["s3"]]


def _locked() -> dict[str, tuple[str, list[str]]]:
    """name -> (version, hashes) from the pip-compile lock."""
    pins: dict[str, tuple[str, list[str]]] = {}
    for block in re.split(r"\n(?=[A-Za-z0-9])", LOCK.read_text()):
        match = re.match(r"([A-Za-z0-9._-]+)==(\S+)", block)
        if match:
            name = match.group(1).lower().replace("_", "-")
            pins[name] = (match.group(2), re.findall(r"--hash=sha256:([0-9a-f]{64})", block))
    return pins


def test_licence_security_policy_and_changelog_are_shipped() -> None:
    licence = (ROOT / "LICENSE").read_text()
    assert "Apache License" in licence and "Version 2.0, January 2004" in licence
    assert PROJECT["license"] == "Apache-2.0"
    security = (ROOT / "SECURITY.md").read_text()
    assert "Reporting a vulnerability" in security and "private" in security
    changelog = (ROOT / "CHANGELOG.md").read_text()
    assert f"## [{PROJECT['version']}]" in changelog


def test_every_runtime_dependency_has_an_upper_bound_and_no_test_tool_ships() -> None:
    for requirement in _runtime_requirements():
        operators = {spec.operator for spec in requirement.specifier}
        assert operators & {"<", "<=", "==", "~="}, f"{requirement.name} has no upper bound"
    runtime = {r.name.lower() for r in _runtime_requirements()}
    assert not runtime & {"paramiko", "moto", "pytest", "playwright"}
    assert "paramiko" in " ".join(PROJECT["optional-dependencies"]["test"])


def test_the_container_lock_pins_every_runtime_dependency_within_its_range() -> None:
    pins = _locked()
    for requirement in _runtime_requirements():
        name = requirement.name.lower()
        assert name in pins, f"{name} is not in {LOCK.name}: regenerate it (see Dockerfile)"
        version, digests = pins[name]
        assert requirement.specifier.contains(version), f"{name}=={version} outside {requirement}"
        assert digests, f"{name} has no hash"
    assert "paramiko" not in pins and "moto" not in pins
    dockerfile = (ROOT / "Dockerfile").read_text()
    assert "--require-hashes -r requirements.lock" in dockerfile
    assert "pip install --no-cache-dir --no-deps ." in dockerfile


def test_volumes_mounted_in_the_bastion_image_belong_to_its_user() -> None:
    compose = yaml.safe_load((ROOT / "docker-compose.yml").read_text())
    dockerfile = (ROOT / "Dockerfile").read_text()
    home = re.search(r"--home-dir (\S+)", dockerfile).group(1)
    created = set()
    for line in re.findall(r"install -d -o bastion -g bastion -m 0\d{3} ([^&\\\n]+)", dockerfile):
        created.update(line.split())
    mounts = {volume.split(":")[1] for volume in compose["x-bastion"]["volumes"]
              if not volume.startswith(".")}
    for mount in mounts:
        assert mount == home or mount in created, f"{mount} would be a root-owned volume"
    assert dockerfile.index("install -d -o bastion") < dockerfile.index("\nUSER bastion")


def _self_signed(folder: Path) -> tuple[Path, Path]:
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "bastion.example-hopital.fr")])
    now = datetime.now(UTC)
    certificate = (x509.CertificateBuilder().subject_name(name).issuer_name(name)
                   .public_key(key.public_key()).serial_number(x509.random_serial_number())
                   .not_valid_before(now).not_valid_after(now + timedelta(days=1))
                   .sign(key, hashes.SHA256()))
    (folder / "bastion.crt").write_bytes(certificate.public_bytes(serialization.Encoding.PEM))
    (folder / "bastion.key").write_bytes(key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption()))
    return folder / "bastion.crt", folder / "bastion.key"


def test_the_nginx_example_is_valid_for_debian_12_nginx(tmp_path: Path) -> None:
    nginx = shutil.which("nginx") or "/usr/sbin/nginx"
    if not Path(nginx).exists():
        pytest.fail("nginx is missing: make test installs it (scripts/system-deps.sh)")
    certificate, key = _self_signed(tmp_path)
    site = (ROOT / "deploy/nginx/bastion.conf").read_text()
    # The compose service name does not resolve here; nginx -t resolves upstreams.
    site = (site.replace("server bastion:8080", "server 127.0.0.1:8080")
            .replace("/etc/nginx/tls/bastion.crt", str(certificate))
            .replace("/etc/nginx/tls/bastion.key", str(key)))
    (tmp_path / "site.conf").write_text(site)
    (tmp_path / "nginx.conf").write_text(
        f"pid {tmp_path}/nginx.pid;\nerror_log {tmp_path}/error.log;\nevents {{}}\n"
        f"http {{\n  access_log off;\n  include {tmp_path}/site.conf;\n}}\n")
    result = subprocess.run([nginx, "-t", "-p", str(tmp_path), "-e", str(tmp_path / "error.log"),
                             "-c", str(tmp_path / "nginx.conf")],
                            capture_output=True, text=True, timeout=30)
    assert result.returncode == 0, result.stderr
    assert "test is successful" in result.stderr


def test_the_systemd_unit_verifies_and_runs_the_checked_node(tmp_path: Path) -> None:
    analyze = shutil.which("systemd-analyze")
    if analyze is None:
        pytest.fail("systemd-analyze is missing: make test installs it (scripts/system-deps.sh)")
    unit = (ROOT / "deploy/systemd/bastion.service").read_text()
    assert "ExecStartPre=/opt/bastion/bin/bastion config check --no-ports" in unit
    assert "ExecStart=/opt/bastion/bin/bastion serve" in unit
    assert "\nUser=bastion" in unit and "NoNewPrivileges=true" in unit
    # Verified against this checkout's command (systemd checks the executables exist).
    here = Path(sys.executable).parent / "bastion"
    (tmp_path / "bastion.service").write_text(unit.replace("/opt/bastion/bin/bastion", str(here)))
    result = subprocess.run([analyze, "verify", str(tmp_path / "bastion.service")],
                            capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stderr
    assert "bastion.service" not in result.stderr, result.stderr

"""The bastion's own keys, kept as files under ``keys_dir`` (mode 0600).

- ``ssh_host_ed25519_key``: the bastion's SSH host key, shown to technicians' clients;
- ``technician_ca``: signs technicians' time-boxed user certificates (grants);
- ``target_ca``: signs the bastion's per-session certificates towards targets;
- ``master.key``: 256-bit key that encrypts vaulted secrets and wraps recording keys
  (``bastion keys rotate-master`` replaces it: see ``bastion.master_key_rotation``);
- ``audit_signing.key``: Ed25519 (PKCS#8 PEM) signing the audit log's checkpoints
  (``bastion.audit.signing``), with its public half in ``audit_signing.pub``.

Creating is idempotent: an existing file is never overwritten, so re-running
``bastion init`` keeps every key (and so every issued certificate and recording readable).
"""

from __future__ import annotations

import base64
import hashlib
import os
import secrets
from dataclasses import dataclass
from pathlib import Path

import asyncssh

HOST_KEY = "ssh_host_ed25519_key"
TECHNICIAN_CA = "technician_ca"
TARGET_CA = "target_ca"
MASTER_KEY = "master.key"
WEB_SECRET = "web_secret.key"  # noqa: S105 - a file name, not a secret
AUDIT_SIGNING_KEY = "audit_signing.key"
AUDIT_SIGNING_PUB = "audit_signing.pub"


def key_id(key: bytes) -> str:
    """A master key's public name: recordings store it to say which key wraps them."""
    return hashlib.sha256(key).hexdigest()[:16]


class KeyStoreError(Exception):
    """A key file is missing or unreadable; the bastion refuses to start without it."""


def _write_private(path: Path, data: bytes) -> None:
    # O_EXCL: two concurrent `bastion init` runs can never both write the same key.
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "wb") as handle:
        handle.write(data)


@dataclass
class KeyStore:
    directory: Path

    def ensure(self) -> list[str]:
        """Create whatever key is missing; return the names of those created."""
        self.directory.mkdir(parents=True, exist_ok=True)
        os.chmod(self.directory, 0o700)
        created = []
        for name in (HOST_KEY, TECHNICIAN_CA, TARGET_CA):
            path = self.directory / name
            if not path.exists():
                key = asyncssh.generate_private_key("ssh-ed25519", comment=f"bastion {name}")
                _write_private(path, key.export_private_key())
                (self.directory / f"{name}.pub").write_bytes(key.export_public_key())
                created.append(name)
        for name, size in ((MASTER_KEY, 32), (WEB_SECRET, 32)):
            path = self.directory / name
            if not path.exists():
                _write_private(path, base64.b64encode(secrets.token_bytes(size)) + b"\n")
                created.append(name)
        created += self._ensure_audit_signing_key()
        return created

    def publish(self, public_dir: Path) -> None:
        """Copy the public halves where targets and technicians can read them, apart from
        the private keys (a target's container mounts this folder, never keys_dir)."""
        public_dir.mkdir(parents=True, exist_ok=True)
        for name in (HOST_KEY, TECHNICIAN_CA, TARGET_CA):
            source = self.directory / f"{name}.pub"
            destination = public_dir / f"{name}.pub"
            if not destination.exists() or destination.read_bytes() != source.read_bytes():
                destination.write_bytes(source.read_bytes())
                os.chmod(destination, 0o644)

    def _read(self, name: str) -> bytes:
        path = self.directory / name
        try:
            return path.read_bytes()
        except FileNotFoundError:
            raise KeyStoreError(f"key file {path} is missing: run 'bastion init'") from None
        except OSError as exc:
            raise KeyStoreError(f"key file {path} cannot be read: {exc.strerror}") from None

    def _ssh_key(self, name: str) -> asyncssh.SSHKey:
        try:
            return asyncssh.import_private_key(self._read(name))
        except (asyncssh.KeyImportError, ValueError) as exc:
            raise KeyStoreError(f"key file {self.directory / name} is not a valid key: {exc}") from None

    @property
    def host_key(self) -> asyncssh.SSHKey:
        return self._ssh_key(HOST_KEY)

    @property
    def technician_ca(self) -> asyncssh.SSHKey:
        return self._ssh_key(TECHNICIAN_CA)

    @property
    def target_ca(self) -> asyncssh.SSHKey:
        return self._ssh_key(TARGET_CA)

    def _secret(self, name: str) -> bytes:
        try:
            value = base64.b64decode(self._read(name).strip(), validate=True)
        except ValueError:
            raise KeyStoreError(f"key file {self.directory / name} is not valid base64") from None
        if len(value) != 32:
            raise KeyStoreError(f"key file {self.directory / name} must hold 32 bytes")
        return value

    @property
    def master_key(self) -> bytes:
        return self._secret(MASTER_KEY)

    def master_key_file(self, name: str) -> bytes:
        """The 32-byte key in another file of the master key's (a rotation's
        ``master.key.next`` or ``master.key.retired-<id>``), checked like ``master.key``."""
        return self._secret(name)

    @property
    def master_key_id(self) -> str:
        return key_id(self.master_key)

    @property
    def web_secret(self) -> bytes:
        return self._secret(WEB_SECRET)

    # --- audit checkpoint signing key (used by bastion.audit.signing) ------------------
    # A plain Ed25519 key rather than an SSH key: auditors verify checkpoints with any
    # tool that reads a PEM public key, without SSH in the picture.

    def _ensure_audit_signing_key(self) -> list[str]:
        path = self.directory / AUDIT_SIGNING_KEY
        if path.exists():
            return []
        from cryptography.hazmat.primitives import serialization
        from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

        key = Ed25519PrivateKey.generate()
        _write_private(path, key.private_bytes(serialization.Encoding.PEM,
                                               serialization.PrivateFormat.PKCS8,
                                               serialization.NoEncryption()))
        (self.directory / AUDIT_SIGNING_PUB).write_bytes(key.public_key().public_bytes(
            serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo))
        return [AUDIT_SIGNING_KEY]

    def audit_signing_key_pem(self) -> bytes:
        return self._read(AUDIT_SIGNING_KEY)

    # --- end of the audit signing key ---------------------------------------------------

    def public_line(self, name: str) -> str:
        return self._ssh_key(name).export_public_key().decode().strip()

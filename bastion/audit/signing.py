"""Ed25519 signatures over audit checkpoints.

The signed bytes are a canonical JSON document with a fixed ``purpose`` string, so a
signature made here can never be replayed as a signature over anything else the bastion
signs, and every column of a checkpoint except its row id is covered.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
from collections.abc import Callable, Iterable, Mapping
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey

from .chain import canonical_json

if TYPE_CHECKING:
    from bastion.keys import KeyStore

PURPOSE = "bastion audit checkpoint v1"
SIGNED_FIELDS = ("kind", "event_id", "event_hash", "event_count", "interval", "at", "node", "key_id")


class SigningKeyError(Exception):
    """The audit signing key (or a public key given to verify with) is missing or invalid."""


def key_id(public_key: Ed25519PublicKey) -> str:
    """Short, stable name of a key: lets verification say *which* key a checkpoint claims."""
    raw = public_key.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
    return hashlib.sha256(raw).hexdigest()[:16]


def document_bytes(purpose: str, fields: Mapping[str, Any]) -> bytes:
    """The bytes signed for ``fields``: canonical JSON with the ``purpose`` inside, so a
    signature over one kind of document never passes for another kind."""
    body = dict(fields)
    for name, value in body.items():
        if isinstance(value, datetime):
            # Same text whether the value comes from the clock or back from either database.
            body[name] = value.astimezone(UTC).isoformat(timespec="microseconds")
    body["purpose"] = purpose
    return canonical_json(body).encode("utf-8")


def signed_bytes(fields: Mapping[str, Any]) -> bytes:
    return document_bytes(PURPOSE, {name: fields[name] for name in SIGNED_FIELDS})


class CheckpointSigner:
    def __init__(self, private_key: Ed25519PrivateKey) -> None:
        self._key = private_key
        self.key_id = key_id(private_key.public_key())

    @classmethod
    def from_pem(cls, pem: bytes) -> CheckpointSigner:
        try:
            key = serialization.load_pem_private_key(pem, password=None)
        except (ValueError, TypeError) as exc:
            raise SigningKeyError(f"the audit signing key is not a valid PEM key: {exc}") from None
        if not isinstance(key, Ed25519PrivateKey):
            raise SigningKeyError("the audit signing key is not an Ed25519 key")
        return cls(key)

    @property
    def public_key(self) -> Ed25519PublicKey:
        return self._key.public_key()

    def sign(self, fields: Mapping[str, Any]) -> str:
        return self._sign_bytes(signed_bytes(fields))

    def sign_document(self, purpose: str, fields: Mapping[str, Any]) -> str:
        """Sign something else than a checkpoint (a recording's seal) with the same key."""
        return self._sign_bytes(document_bytes(purpose, fields))

    def _sign_bytes(self, data: bytes) -> str:
        return base64.b64encode(self._key.sign(data)).decode("ascii")


class CheckpointVerifier:
    """The public keys checkpoints may be signed with (today one; several after a key
    rotation, the old ones kept to verify old checkpoints)."""

    def __init__(self, public_keys: Iterable[Ed25519PublicKey]) -> None:
        self.keys = {key_id(key): key for key in public_keys}

    @classmethod
    def from_pem_files(cls, paths: Iterable[Path]) -> CheckpointVerifier:
        keys = []
        for path in paths:
            try:
                key = serialization.load_pem_public_key(path.read_bytes())
            except OSError as exc:
                raise SigningKeyError(f"cannot read public key {path}: {exc.strerror}") from None
            except ValueError as exc:
                raise SigningKeyError(f"{path} is not a PEM public key: {exc}") from None
            if not isinstance(key, Ed25519PublicKey):
                raise SigningKeyError(f"{path} is not an Ed25519 public key")
            keys.append(key)
        return cls(keys)

    def problem(self, fields: Mapping[str, Any], signature: str) -> str | None:
        """None when the signature holds, else what is wrong with it, in a few words."""
        return self._problem(fields["key_id"], signed_bytes(fields), signature)

    def document_problem(self, purpose: str, fields: Mapping[str, Any], key_id_: str,
                         signature: str) -> str | None:
        """:meth:`problem` for a document signed with :meth:`CheckpointSigner.sign_document`."""
        return self._problem(key_id_, document_bytes(purpose, fields), signature)

    def _problem(self, claimed_key: str, data: bytes, signature: str) -> str | None:
        key = self.keys.get(claimed_key)
        if key is None:
            return f"it claims a signing key ({claimed_key}) that is not the bastion's"
        try:
            key.verify(base64.b64decode(signature, validate=True), data)
        except (InvalidSignature, binascii.Error, ValueError):
            return "its signature does not verify: forged or altered"
        return None


def keystore_signer(keys: KeyStore) -> Callable[[], CheckpointSigner]:
    """A loader for :class:`~bastion.audit.log.AuditLog`: the key file is read when the
    first checkpoint is due, not when the process starts, and then kept."""
    cache: list[CheckpointSigner] = []

    def load() -> CheckpointSigner:
        if not cache:
            cache.append(CheckpointSigner.from_pem(keys.audit_signing_key_pem()))
        return cache[0]

    return load

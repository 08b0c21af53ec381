"""Technicians' SSH public keys: fingerprint, algorithm, strength."""

from __future__ import annotations

import base64
import binascii
import struct
from dataclasses import dataclass

import asyncssh

MIN_RSA_BITS = 3072
STRONG_ALGORITHMS = frozenset({
    "ssh-ed25519",
    "ecdsa-sha2-nistp256",
    "ecdsa-sha2-nistp384",
    "ecdsa-sha2-nistp521",
    "sk-ssh-ed25519@openssh.com",
    "sk-ecdsa-sha2-nistp256@openssh.com",
})


@dataclass(frozen=True)
class KeyInfo:
    algorithm: str
    public_key: str  # 'algorithm base64', without the comment
    fingerprint: str  # SHA256:...
    comment: str | None
    rsa_bits: int | None


def inspect_key(line: str) -> KeyInfo:
    """Raises ValueError when the line is not an OpenSSH public key."""
    try:
        key = asyncssh.import_public_key(line)
    except (asyncssh.KeyImportError, ValueError, IndexError) as exc:
        raise ValueError(f"not an OpenSSH public key line ({exc})") from None
    algorithm = key.algorithm.decode()
    parts = key.export_public_key().decode().split()
    comment = key.get_comment()
    return KeyInfo(
        algorithm=algorithm,
        public_key=" ".join(parts[:2]),
        fingerprint=key.get_fingerprint("sha256"),
        comment=comment if isinstance(comment, str) else None,
        rsa_bits=_rsa_bits(parts[1]) if algorithm == "ssh-rsa" else None,
    )


def weakness(info: KeyInfo) -> str | None:
    """Why this key is too weak for access to health-data servers, or None."""
    if info.algorithm == "ssh-rsa":
        if info.rsa_bits is None or info.rsa_bits < MIN_RSA_BITS:
            return (f"weak key {info.fingerprint}: RSA {info.rsa_bits or '?'} bits, at least "
                    f"{MIN_RSA_BITS} are required (ed25519 is preferred)")
        return None
    if info.algorithm == "ssh-dss":
        return f"weak key {info.fingerprint}: DSA keys are broken; use ed25519"
    if info.algorithm not in STRONG_ALGORITHMS:
        return f"key {info.fingerprint}: algorithm {info.algorithm} is not accepted"
    return None


def _rsa_bits(blob_b64: str) -> int | None:
    """Modulus size, read from the key blob: string 'ssh-rsa', mpint e, mpint n."""
    try:
        blob = base64.b64decode(blob_b64, validate=True)
        offset = 0
        fields = []
        for _ in range(3):
            (length,) = struct.unpack_from(">I", blob, offset)
            offset += 4
            fields.append(blob[offset:offset + length])
            offset += length
    except (binascii.Error, struct.error):
        return None
    return int.from_bytes(fields[2], "big").bit_length()

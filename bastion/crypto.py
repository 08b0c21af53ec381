"""Encryption at rest with the master key: AES-256-GCM, nonce prepended.

Used to seal vaulted target secrets and to wrap per-recording data keys. The associated
data binds each ciphertext to its purpose and owner, so a sealed blob copied from one row
to another fails to open instead of decrypting in the wrong place.
"""

from __future__ import annotations

import os

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

NONCE_BYTES = 12


class DecryptionError(Exception):
    pass


def seal(key: bytes | AESGCM, plaintext: bytes, associated_data: bytes) -> bytes:
    """``key``: the key, or an ``AESGCM`` built from it once by a caller that seals many
    values with one key (a recording's chunks: building it is a third of a small seal)."""
    nonce = os.urandom(NONCE_BYTES)
    cipher = key if isinstance(key, AESGCM) else AESGCM(key)
    return nonce + cipher.encrypt(nonce, plaintext, associated_data)


def unseal(key: bytes, sealed: bytes, associated_data: bytes) -> bytes:
    if len(sealed) < NONCE_BYTES + 16:
        raise DecryptionError("sealed value is truncated")
    try:
        return AESGCM(key).decrypt(sealed[:NONCE_BYTES], sealed[NONCE_BYTES:], associated_data)
    except InvalidTag as exc:
        raise DecryptionError(
            "sealed value does not open with this key: wrong key, or it was altered"
        ) from exc

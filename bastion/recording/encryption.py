"""Encryption at rest: one random AES-256-GCM data key per recording, wrapped by the
master key.

The wrapped key lives in the catalog (``recordings.wrapped_key``), never beside the file,
so a copied recording file alone reveals nothing. Rotating the master key re-wraps the
32-byte data keys and leaves recording files untouched.

Associated data binds every ciphertext to its place: a wrapped key to its storage key, a
chunk to the chain hash before it (so to its recording's header and every earlier chunk),
its index and flags. A chunk moved to another position or another recording, or a wrapped
key copied to another row, fails to open instead of decrypting in the wrong place.
"""

from __future__ import annotations

import secrets
import struct

from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from bastion.crypto import DecryptionError, seal, unseal

from .errors import RecordingCorrupted, RecordingError

DATA_KEY_BYTES = 32
_WRAP_CONTEXT = b"bastion recording data key\x00"
_CHUNK_CONTEXT = b"bastion recording chunk\x00"


def new_data_key() -> bytes:
    return secrets.token_bytes(DATA_KEY_BYTES)


def wrap_data_key(master_key: bytes, data_key: bytes, storage_key: str) -> bytes:
    return seal(master_key, data_key, _WRAP_CONTEXT + storage_key.encode())


def unwrap_data_key(master_key: bytes, wrapped: bytes, storage_key: str) -> bytes:
    try:
        data_key = unseal(master_key, wrapped, _WRAP_CONTEXT + storage_key.encode())
    except DecryptionError:
        raise RecordingError(
            f"the data key of recording {storage_key} does not open with the master key "
            "(wrong master key, or the key was altered)"
        ) from None
    if len(data_key) != DATA_KEY_BYTES:
        raise RecordingError(f"the data key of recording {storage_key} has a wrong size")
    return data_key


def rewrap_data_key(old_master: bytes, new_master: bytes, wrapped: bytes, storage_key: str) -> bytes:
    return wrap_data_key(new_master, unwrap_data_key(old_master, wrapped, storage_key), storage_key)


def _chunk_aad(previous_hash: bytes, index: int, flags: int) -> bytes:
    # The chain hash before this chunk covers the file header (its recording id) and every
    # earlier chunk: the key authenticates the whole chain, not just each chunk alone.
    return _CHUNK_CONTEXT + previous_hash + struct.pack(">IB", index, flags)


def encrypt_chunk(data_key: bytes | AESGCM, previous_hash: bytes, index: int, flags: int,
                  plaintext: bytes) -> bytes:
    return seal(data_key, plaintext, _chunk_aad(previous_hash, index, flags))


def decrypt_chunk(
    data_key: bytes, previous_hash: bytes, index: int, flags: int, ciphertext: bytes
) -> bytes:
    try:
        return unseal(data_key, ciphertext, _chunk_aad(previous_hash, index, flags))
    except DecryptionError:
        where = " (or the file header before it)" if index == 0 else ""
        raise RecordingCorrupted(
            f"chunk {index} fails authentication: its bytes{where} were altered, "
            "or it does not belong at this place in this recording, or the key is wrong",
            chunk=index,
        ) from None

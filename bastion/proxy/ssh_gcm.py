"""AES-GCM packets on the proxy's SSH legs, sealed and opened with one AEAD object per
direction instead of one per packet, and fewer copies of each packet.

asyncssh (2.24) builds a new ``AESGCM(key)`` for every packet, which sets up an OpenSSL
cipher context (key schedule included) each time, and copies every packet three times
around the cipher (the ciphertext joined to its tag to open it, joined again to the header
once sealed, the tag split off and joined back on by the caller). On a bulk transfer that
is every 32 KiB packet, in and out, on both legs. :func:`reuse_gcm_contexts` replaces the
two methods of asyncssh's GCM shim: the same AES-GCM, nonce sequence and associated data
(RFC 5647 as OpenSSH does it), computed by the same library; the AEAD object and the nonce
counter are kept per direction, and the copies are skipped. Process-wide and idempotent;
if a future asyncssh names these otherwise, nothing changes (a slower node, never a
weaker one)."""

from __future__ import annotations

import logging
from typing import Any

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

log = logging.getLogger(__name__)

_MARK = "_bastion_reuses_gcm_contexts"


def reuse_gcm_contexts() -> None:
    try:
        from asyncssh.encryption import GCMEncryption
    except ImportError:
        log.warning("asyncssh changed: AES-GCM keeps a cipher context per packet")
        return
    if getattr(GCMEncryption, _MARK, False):
        return
    probe = getattr(GCMEncryption, "encrypt_packet", None), getattr(GCMEncryption, "decrypt_packet", None)
    if None in probe:
        log.warning("asyncssh changed: AES-GCM keeps a cipher context per packet")
        return
    GCMEncryption.encrypt_packet = _encrypt_packet  # type: ignore[method-assign]
    GCMEncryption.decrypt_packet = _decrypt_packet  # type: ignore[method-assign]
    setattr(GCMEncryption, _MARK, True)


class _Direction:
    """One direction's AES-GCM: its AEAD object, and its nonce (RFC 5647: a fixed field and
    a 64-bit invocation counter, incremented per packet, wrapping)."""

    __slots__ = ("aead", "fixed", "counter")

    def __init__(self, key: bytes, iv: bytes) -> None:
        self.aead = AESGCM(key)
        self.fixed = iv[:4]
        self.counter = int.from_bytes(iv[4:], "big")

    def next_nonce(self) -> bytes:
        nonce = self.fixed + self.counter.to_bytes(8, "big")
        self.counter = (self.counter + 1) & 0xFFFF_FFFF_FFFF_FFFF
        return nonce


def _direction(encryption: Any) -> _Direction:
    # Taken over from asyncssh's shim at the first packet; from then on the shim's own
    # nonce is not used (these two methods are its only users).
    direction = encryption.__dict__.get("_bastion_direction")
    if direction is None:
        cipher = encryption._cipher
        direction = encryption._bastion_direction = _Direction(cipher._key, cipher._iv)
    return direction


def _encrypt_packet(self: Any, seq: int, header: bytes, packet: bytes) -> tuple[bytes, bytes]:
    direction = _direction(self)
    sealed = direction.aead.encrypt(direction.next_nonce(), packet, header)
    # Header, ciphertext and tag in one piece; the caller appends the (empty) second part
    # without a copy (bytes + b"" is the same object).
    return header + sealed, b""


def _decrypt_packet(self: Any, seq: int, first: bytes, rest: bytes, header_len: int,
                    mac: bytes) -> bytes | None:
    direction = _direction(self)
    try:
        return direction.aead.decrypt(direction.next_nonce(),
                                      b"".join((first[header_len:], rest, mac)), first[:header_len])
    except InvalidTag:
        return None

"""AES-GCM packets on the proxy's SSH legs, sealed and opened with one AEAD object per
direction instead of one per packet, and fewer copies of each packet.

asyncssh (2.24) builds a new ``AESGCM(key)`` for every packet, which sets up an OpenSSL
cipher context (key schedule included) each time, and copies every packet three times
around the cipher (the ciphertext joined to its tag to open it, joined again to the header
once sealed, the tag split off and joined back on by the caller). On a bulk transfer that
is every 32 KiB packet, in and out, on both legs. :func:`reuse_gcm_contexts` replaces the
two methods of asyncssh's GCM shim: the same AES-GCM, nonce sequence and associated data
(RFC 5647 as OpenSSH does it), computed by the same library; only the object is kept and
the copies are skipped. Process-wide and idempotent; if a future asyncssh names these
otherwise, nothing changes (a slower node, never a weaker one)."""

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


def _aead(encryption: Any) -> AESGCM:
    aead = encryption.__dict__.get("_bastion_aead")
    if aead is None:
        aead = encryption._bastion_aead = AESGCM(encryption._cipher._key)
    return aead


def _encrypt_packet(self: Any, seq: int, header: bytes, packet: bytes) -> tuple[bytes, bytes]:
    cipher = self._cipher
    sealed = _aead(self).encrypt(cipher._iv, packet, header)
    cipher._update_iv()
    # Header, ciphertext and tag in one piece; the caller appends the (empty) second part
    # without a copy (bytes + b"" is the same object).
    return header + sealed, b""


def _decrypt_packet(self: Any, seq: int, first: bytes, rest: bytes, header_len: int,
                    mac: bytes) -> bytes | None:
    cipher = self._cipher
    try:
        opened: bytes | None = _aead(self).decrypt(
            cipher._iv, b"".join((first[header_len:], rest, mac)), first[:header_len])
    except InvalidTag:
        opened = None
    cipher._update_iv()
    return opened

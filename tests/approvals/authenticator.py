"""A software WebAuthn authenticator, standing in for a security key and a browser.

It reads the JSON options the server would send the browser (``webauthn.options_to_json``)
and answers as navigator.credentials.create()/get() would, in the JSON form browsers
send back: attestation "none", EC P-256 (ES256) keys, flags UP and UV, a sign counter.
Every part a test may want to get wrong (origin, RP id, flags, counter, challenge) can be
overridden per call.
"""

from __future__ import annotations

import base64
import hashlib
import json
import os
import struct
from dataclasses import dataclass
from typing import Any

import cbor2
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec
from webauthn import options_to_json

UP, UV, AT = 0x01, 0x04, 0x40
AAGUID = bytes.fromhex("00112233445566778899aabbccddeeff")


def b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def unb64url(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def _options(options: Any) -> dict[str, Any]:
    """The options as the browser receives them (JSON), whatever the test holds."""
    if isinstance(options, str):
        return json.loads(options)
    if isinstance(options, dict):
        return options
    return json.loads(options_to_json(options))


@dataclass
class Credential:
    credential_id: bytes
    private_key: ec.EllipticCurvePrivateKey
    rp_id: str
    user_handle: bytes
    sign_count: int = 0
    discoverable: bool = True

    def cose_public_key(self) -> bytes:
        numbers = self.private_key.public_key().public_numbers()
        return cbor2.dumps({1: 2, 3: -7, -1: 1, -2: numbers.x.to_bytes(32, "big"),
                            -3: numbers.y.to_bytes(32, "big")})


class SoftAuthenticator:
    def __init__(self, origin: str = "http://localhost:8080", *, uv: bool = True,
                 counter_step: int = 1) -> None:
        self.origin = origin
        self.uv = uv
        self.counter_step = counter_step
        self.credentials: list[Credential] = []

    def _auth_data(self, rp_id: str, flags: int, count: int, attested: bytes = b"") -> bytes:
        return hashlib.sha256(rp_id.encode()).digest() + bytes([flags]) + struct.pack(">I", count) + attested

    def _client_data(self, kind: str, challenge: bytes, origin: str | None,
                     frame: dict[str, Any] | None = None) -> bytes:
        # ``frame``: WebAuthn Level 3's crossOrigin/topOrigin, as a browser sets them when
        # the ceremony runs in an iframe of another site.
        return json.dumps({"type": kind, "challenge": b64url(challenge),
                           "origin": origin or self.origin, "crossOrigin": False,
                           **(frame or {})}).encode()

    def create(self, options: Any, *, origin: str | None = None, rp_id: str | None = None,
               uv: bool | None = None, up: bool = True, challenge: bytes | None = None,
               kind: str = "webauthn.create", resident: bool = True,
               frame: dict[str, Any] | None = None) -> dict[str, Any]:
        """Answer registration options, as navigator.credentials.create() would."""
        opts = _options(options)
        rp = rp_id or opts["rp"]["id"]
        credential = Credential(os.urandom(32), ec.generate_private_key(ec.SECP256R1()), rp,
                                unb64url(opts["user"]["id"]), discoverable=resident)
        attested = (AAGUID + struct.pack(">H", len(credential.credential_id))
                    + credential.credential_id + credential.cose_public_key())
        flags = (UP if up else 0) | (UV if (self.uv if uv is None else uv) else 0) | AT
        auth_data = self._auth_data(rp, flags, 0, attested)
        client_data = self._client_data(kind, challenge or unb64url(opts["challenge"]), origin, frame)
        attestation = cbor2.dumps({"fmt": "none", "attStmt": {}, "authData": auth_data})
        self.credentials.append(credential)
        return {
            "id": b64url(credential.credential_id), "rawId": b64url(credential.credential_id),
            "type": "public-key", "authenticatorAttachment": "cross-platform",
            "response": {"clientDataJSON": b64url(client_data),
                         "attestationObject": b64url(attestation), "transports": ["usb"]},
            "clientExtensionResults": {"credProps": {"rk": resident}},
        }

    def get(self, options: Any, *, origin: str | None = None, rp_id: str | None = None,
            uv: bool | None = None, up: bool = True, challenge: bytes | None = None,
            sign_count: int | None = None, credential: Credential | None = None,
            kind: str = "webauthn.get", frame: dict[str, Any] | None = None) -> dict[str, Any]:
        """Answer request options, as navigator.credentials.get() would."""
        opts = _options(options)
        rp = rp_id or opts.get("rpId")
        chosen = credential or self._choose(opts)
        if sign_count is None:
            chosen.sign_count += self.counter_step
            sign_count = chosen.sign_count
        flags = (UP if up else 0) | (UV if (self.uv if uv is None else uv) else 0)
        auth_data = self._auth_data(rp, flags, sign_count)
        client_data = self._client_data(kind, challenge or unb64url(opts["challenge"]), origin, frame)
        signature = chosen.private_key.sign(auth_data + hashlib.sha256(client_data).digest(),
                                            ec.ECDSA(hashes.SHA256()))
        return {
            "id": b64url(chosen.credential_id), "rawId": b64url(chosen.credential_id),
            "type": "public-key", "authenticatorAttachment": "cross-platform",
            "response": {"clientDataJSON": b64url(client_data),
                         "authenticatorData": b64url(auth_data), "signature": b64url(signature),
                         "userHandle": b64url(chosen.user_handle)},
            "clientExtensionResults": {},
        }

    def _choose(self, opts: dict[str, Any]) -> Credential:
        allowed = [unb64url(c["id"]) for c in opts.get("allowCredentials") or []]
        for credential in reversed(self.credentials):
            if allowed and credential.credential_id in allowed:
                return credential
            if not allowed and credential.discoverable and credential.rp_id == opts.get("rpId"):
                return credential
        raise LookupError("this authenticator holds no credential the options allow")

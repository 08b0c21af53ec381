"""Reading and checking a WebAuthn assertion (navigator.credentials.get()), shared by
sign-in and approval.

py_webauthn does the cryptography; the checks it would fold into one exception are made
first, one by one, so each refusal gets its own stable code (wrong_origin, wrong_rp_id,
counter_regressed...) and the audit log says precisely what was wrong.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from cryptography.exceptions import InvalidSignature
from sqlalchemy import select
from sqlalchemy.orm import Session
from webauthn import verify_authentication_response
from webauthn.helpers import (
    bytes_to_base64url,
    parse_authentication_credential_json,
    parse_authenticator_data,
    parse_client_data_json,
)
from webauthn.helpers.exceptions import WebAuthnException
from webauthn.helpers.structs import (
    AuthenticationCredential,
    AuthenticatorData,
    CollectedClientData,
)

from bastion.models import WebAuthnCredential

from .client_data import refuse_framed
from .errors import ApprovalError
from .relying_party import RelyingParty

# A real assertion is well under 4 KiB; anything much larger is not one.
MAX_RESPONSE_BYTES = 64 * 1024

CredentialResponse = str | bytes | Mapping[str, Any]


def malformed(detail: str) -> ApprovalError:
    return ApprovalError("malformed_credential",
                         f"the security-key answer cannot be read: {detail}")


def load_json(response: CredentialResponse) -> dict[str, Any]:
    """The browser's JSON as a dict, refusing oversized or non-object input."""
    if isinstance(response, Mapping):
        data: Any = dict(response)
    else:
        if len(response) > MAX_RESPONSE_BYTES:
            raise malformed("it is too large")
        try:
            data = json.loads(response)
        except (ValueError, RecursionError):  # RecursionError: absurdly nested arrays
            raise malformed("it is not JSON") from None
    if not isinstance(data, dict):
        raise malformed("it is not a JSON object")
    return data


class CounterRegressed(ApprovalError):
    """The key signed with a counter no higher than the one stored: a clone, or a replayed
    authenticator state (``clone_suspicion`` suspends the key)."""

    def __init__(self, stored: int, presented: int) -> None:
        super().__init__("counter_regressed",
                         f"the security key's signature counter went from {stored} to "
                         f"{presented}: the key may have been cloned and is now suspended; "
                         "use another key and tell an administrator")
        self.presented = presented


@dataclass(frozen=True)
class Assertion:
    credential: AuthenticationCredential
    client_data: CollectedClientData
    authenticator_data: AuthenticatorData
    proof: dict[str, Any]  # the response's public parts, kept as evidence

    @property
    def challenge(self) -> bytes:
        return self.client_data.challenge

    @property
    def credential_id(self) -> bytes:
        return self.credential.raw_id


def parse_assertion(response: CredentialResponse) -> Assertion:
    data = load_json(response)
    try:
        credential = parse_authentication_credential_json(data)
        client_data = parse_client_data_json(credential.response.client_data_json)
        authenticator_data = parse_authenticator_data(credential.response.authenticator_data)
        if not isinstance(client_data.challenge, bytes) or not client_data.challenge:
            raise malformed("clientDataJSON has no challenge")
    except ApprovalError:
        raise
    except Exception as exc:  # noqa: BLE001 - hostile input: any parse failure is "malformed"
        raise malformed(_describe(exc)) from None
    response_part = data.get("response") or {}
    proof = {
        "id": credential.id,
        "rawId": credential.id,
        "type": "public-key",
        "response": {key: response_part.get(key) for key in
                     ("clientDataJSON", "authenticatorData", "signature", "userHandle")},
    }
    return Assertion(credential, client_data, authenticator_data, proof)


def _describe(exc: Exception) -> str:
    if isinstance(exc, WebAuthnException) and str(exc):
        return str(exc)
    return f"invalid structure ({type(exc).__name__})"


def verify_assertion(assertion: Assertion, stored: WebAuthnCredential, *, rp: RelyingParty,
                     expected_challenge: bytes, require_user_verification: bool) -> int:
    """Check everything about the assertion; return the authenticator's new sign count.
    The caller compares credential ownership and the challenge's binding beforehand."""
    client = assertion.client_data
    if client.type != "webauthn.get":
        raise ApprovalError("wrong_ceremony",
                            f"the browser reports a {client.type!r} ceremony, not a sign-in "
                            "or approval (webauthn.get)")
    if client.origin != rp.origin:
        raise ApprovalError("wrong_origin",
                            f"the security key was used on {client.origin!r}, not on the "
                            f"bastion's console ({rp.origin})")
    refuse_framed(assertion.credential.response.client_data_json)
    data = assertion.authenticator_data
    if data.rp_id_hash != rp.rp_id_hash:
        raise ApprovalError("wrong_rp_id",
                            f"the security key answered for another site than {rp.rp_id}")
    if not data.flags.up:
        raise ApprovalError("user_not_present", "the security key reports nobody touched it")
    if require_user_verification and not data.flags.uv:
        raise ApprovalError("user_not_verified",
                            "the security key did not verify its owner (PIN or biometrics); "
                            "this is required here")
    try:
        verified = verify_authentication_response(
            credential=assertion.credential, expected_challenge=expected_challenge,
            expected_rp_id=rp.rp_id, expected_origin=rp.origin,
            credential_public_key=stored.public_key,
            # 0: py_webauthn would refuse a regressed counter before checking the
            # signature; we check the counter ourselves below, once the signature is good,
            # so that only a genuine (cloned or replayed) key ever yields counter_regressed.
            credential_current_sign_count=0,
            require_user_verification=require_user_verification)
    except (WebAuthnException, InvalidSignature, ValueError, TypeError) as exc:
        raise ApprovalError("bad_signature",
                            "the security key's answer does not verify",
                            reasons=[str(exc) or type(exc).__name__]) from None
    new_count = verified.new_sign_count
    if (new_count or stored.sign_count) and new_count <= stored.sign_count:
        raise CounterRegressed(stored.sign_count, new_count)
    return new_count


def usable_credential(session: Session, credential_id: bytes, *,
                      owner: int | None) -> WebAuthnCredential:
    """The staff key an assertion names, if it belongs to ``owner`` (any staff member when
    None) and is neither revoked nor suspended."""
    stored = session.scalar(select(WebAuthnCredential).where(
        WebAuthnCredential.credential_id == credential_id))
    if stored is None or stored.staff_id is None or (owner is not None
                                                     and stored.staff_id != owner):
        raise ApprovalError("unknown_credential", "this security key is not registered to you")
    if stored.revoked_at is not None:
        raise ApprovalError("credential_revoked",
                            f"the security key {stored.name!r} was revoked; use another key, "
                            "or ask an administrator for an enrolment link")
    if stored.suspended_at is not None:
        raise ApprovalError("credential_suspended",
                            f"the security key {stored.name!r} is suspended because it may have "
                            "been cloned; use another key and ask an administrator to revoke it")
    return stored


def credential_b64(credential_id: bytes) -> str:
    return bytes_to_base64url(credential_id)

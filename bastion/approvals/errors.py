"""Every refusal of the approvals core: a stable ``code`` for programs, a message for people.

The JSON API returns ``{"error": {"code": ..., "message": ...}}`` with ``status`` as the
HTTP status; the console shows ``message``; the proxy shows it to the technician. The
codes are an interface: never rename one, add new ones instead.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from bastion.i18n.marker import Phrase

# code -> HTTP status the JSON API answers with.
CODES: dict[str, int] = {
    # the thing asked about does not exist
    "request_not_found": 404,
    "grant_not_found": 404,
    "staff_not_found": 404,
    "credential_not_found": 404,
    "role_change_not_found": 404,
    "unknown_technician": 404,
    "unknown_target": 404,
    # input that cannot be used as given
    "invalid_input": 400,
    "reason_required": 400,
    "malformed_credential": 400,
    # who may do what
    "not_an_approver": 403,
    "approver_is_requester": 403,
    "staff_inactive": 403,
    "not_your_request": 403,
    "account_locked": 403,
    "not_a_confirmer": 403,
    "confirmer_is_party": 403,
    "approver_on_probation": 403,
    "enrolment_link_invalid": 403,
    "acknowledgement_link_invalid": 403,
    "key_confirmation_required": 403,
    "sign_in_failed": 401,
    # staff signing in with the hospital directory or identity provider (bastion.directory)
    "directory_unavailable": 503,
    "directory_account_disabled": 403,
    "no_role_in_directory": 403,
    "roles_awaiting_confirmation": 403,
    "roles_suspended": 403,
    "directory_identity_mismatch": 403,
    "directory_sign_in_required": 403,
    "local_sign_in_disabled": 403,
    "identity_token_invalid": 401,
    # the state of things
    "already_reviewed": 409,
    "request_not_pending": 409,
    "request_expired": 409,
    "out_of_contract": 409,
    "contract_changed": 409,
    "grant_not_revocable": 409,
    "last_credential": 409,
    "no_credential": 409,
    "role_change_not_pending": 409,
    "acknowledgement_closed": 409,
    "last_admin": 409,
    "credential_revoked": 403,
    "credential_suspended": 403,
    # the WebAuthn proof
    "challenge_unknown": 400,
    "challenge_replayed": 400,
    "challenge_expired": 400,
    "challenge_for_other_request": 400,
    "challenge_for_other_staff": 400,
    "challenge_wrong_purpose": 400,
    "request_changed": 409,
    "unknown_credential": 400,
    "wrong_origin": 400,
    "cross_origin": 400,
    "wrong_rp_id": 400,
    "wrong_ceremony": 400,
    "user_not_present": 400,
    "user_not_verified": 400,
    "bad_signature": 400,
    "counter_regressed": 400,
    "registration_failed": 400,
    # certificates
    "no_technician_key": 409,
    "key_ambiguous": 409,
    "certificate_invalid": 400,
    "certificate_not_yet_valid": 403,
    "certificate_expired": 403,
    "grant_revoked": 403,
    "grant_ended": 403,
}


class ApprovalError(Exception):
    """A refusal. ``reasons`` lists the details (e.g. the contract engine's reasons)."""

    def __init__(self, code: str, message: str, *, reasons: Sequence[str] = (),
                 request_id: int | None = None, phrase: Phrase | None = None,
                 verdict: Mapping[str, Any] | None = None) -> None:
        if code not in CODES:
            # A typo in a code would silently break API clients: fail in tests instead.
            raise ValueError(f"unknown approvals error code {code!r}")
        super().__init__(message)
        self.code = code
        self.message = message
        self.reasons = tuple(reasons)
        self.request_id = request_id
        # The message as a catalogue phrase, when the person may read it in their language
        # (bastion.i18n); ``message`` stays the English text of the API and the audit.
        self.phrase = phrase
        # The contract check behind the refusal, as stored with a request (its reasons as
        # phrases too): the console shows it in the reader's words (bastion.i18n.verdicts).
        self.verdict = dict(verdict or {})

    @classmethod
    def phrased(cls, code: str, phrase: Phrase, **fields: Any) -> ApprovalError:
        """A refusal its reader gets in their language; the English stays the message."""
        return cls(code, phrase.english(), phrase=phrase, **fields)

    @property
    def status(self) -> int:
        return CODES[self.code]

    def to_dict(self) -> dict[str, object]:
        body: dict[str, object] = {"code": self.code, "message": self.message}
        if self.reasons:
            body["reasons"] = list(self.reasons)
        if self.request_id is not None:
            body["request_id"] = self.request_id
        return body

    def __str__(self) -> str:
        return f"{self.code}: {self.message}"


class OutOfContract(ApprovalError):
    """The contracts engine refuses the request; it was stored as denied with the reasons."""

    def __init__(self, message: str, *, reasons: Sequence[str], request_id: int | None,
                 phrase: Phrase | None = None, verdict: Mapping[str, Any] | None = None) -> None:
        super().__init__("out_of_contract", message, reasons=reasons, request_id=request_id,
                         phrase=phrase, verdict=verdict)

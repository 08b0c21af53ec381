"""The console's side of the WebAuthn ceremonies, which live in ``bastion.approvals``.

The console only carries JSON between the browser and the core: it asks the core for
options, hands the browser's answer back, and turns the core's refusals
(:class:`bastion.approvals.ApprovalError`, with a stable ``code``) into JSON errors whose
message is in the visitor's language. Policy (lock-out, user verification, counters,
challenge binding, audit events of the ceremonies) is the core's.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

from flask import Response, jsonify
from flask.typing import ResponseReturnValue
from flask_babel import gettext
from webauthn import options_to_json

from bastion.approvals import ApprovalError


def _messages() -> dict[str, str]:
    """What people read for the refusals they can meet in the console."""
    return {
        "challenge_expired": gettext("The security-key request has expired. Try again."),
        "challenge_replayed": gettext("This security-key answer was already used. Try again."),
        "challenge_unknown": gettext("The security-key request is unknown. Try again."),
        "unknown_credential": gettext("This security key is not registered for this account."),
        "user_not_verified": gettext(
            "The security key did not verify you: set a PIN on it, or use its fingerprint reader."),
        "counter_regressed": gettext(
            "This security key may have been copied: it was refused. Tell your administrator."),
        "last_credential": gettext("You cannot remove your last security key. Add another one first."),
        "registration_failed": gettext("The security key could not be registered."),
        "no_credential": gettext("No security key is registered for this account."),
        "account_locked": failure_message(),
        "sign_in_failed": failure_message(),
        "staff_inactive": failure_message(),
        "malformed_credential": gettext("The security key's answer could not be read. Try again."),
        "wrong_origin": gettext("The security key answered for another web address."),
        "credential_revoked": gettext("This security key is revoked. Use another key."),
        "credential_suspended": gettext(
            "This security key is suspended: it may have been copied. Use another key and tell "
            "your administrator."),
        "key_confirmation_required": gettext(
            "Confirm with one of your security keys before adding another."),
        "enrolment_link_invalid": gettext(
            "This enrolment link is unknown, used or expired. Ask an administrator for a new one."),
        "credential_not_found": gettext("This security key does not exist."),
        "directory_sign_in_required": gettext(
            "This account signs in with the hospital directory first: enter your user name and "
            "password, or use the hospital account button, then your security key."),
        "cross_origin": gettext(
            "The security key was used inside another site's page. Open the console directly and try again."),
    }


def failure_message() -> str:
    # One message for every password failure: which part was wrong, whether the account
    # exists, is disabled or is locked is not told to someone who may be guessing.
    return gettext(
        "Sign-in failed: wrong user name or password, or the account is locked for a few "
        "minutes after repeated failures."
    )


def error_body(error: ApprovalError) -> dict[str, Any]:
    message = _messages().get(error.code, gettext("The security key could not be verified."))
    return {"code": error.code, "message": message}


def error_response(error: ApprovalError) -> ResponseReturnValue:
    return jsonify(error=error_body(error)), error.status


def options_response(make: Callable[[], Any]) -> ResponseReturnValue:
    """Answer the core's WebAuthn options as the JSON the browser's API reads."""
    try:
        options = make()
    except ApprovalError as error:
        return error_response(error)
    return jsonify(options=json.loads(options_to_json(options)))


def then(reply: ResponseReturnValue, ceremony: str, next_url: str) -> ResponseReturnValue:
    """Options that the browser answers with ``ceremony`` ("get" or "register") and sends
    to ``next_url``: for ceremonies of several steps. Refusals pass through unchanged."""
    if isinstance(reply, Response) and reply.status_code == 200:
        body = reply.get_json()
        body.update(ceremony=ceremony, next=next_url)
        return jsonify(body)
    return reply


def credential_from_body(body: Any) -> dict[str, Any] | None:
    """The browser's credential from our JSON body ``{"credential": {...}, "name": ...}``."""
    if not isinstance(body, dict) or not isinstance(body.get("credential"), dict):
        return None
    return body["credential"]


def missing_credential() -> ResponseReturnValue:
    return jsonify(error={"code": "malformed_credential",
                          "message": gettext("The security key's answer is missing.")}), 400

"""Every JSON API error: ``{"error": {"code": ..., "message": ...}}``, never a page.

The codes are an interface like the approvals core's (``bastion.approvals.CODES``, reused
as they are): never rename one, add new ones. The OpenAPI file lists them all, and a test
holds the list and this table together.
"""

from __future__ import annotations

from typing import Any

from flask import Blueprint, Response, current_app, g, jsonify
from flask.typing import ResponseReturnValue
from flask_wtf.csrf import CSRFError
from werkzeug.exceptions import HTTPException, MethodNotAllowed

from bastion.approvals import CODES, ApprovalError

from ..identity import current_identity

# code -> HTTP status, for the errors that are the API's own (not the approvals core's).
API_CODES: dict[str, int] = {
    "unauthenticated": 401,
    "forbidden": 403,
    "csrf_failed": 403,
    "not_found": 404,
    "session_not_found": 404,
    "method_not_allowed": 405,
    "invalid_input": 400,  # the same code and status as the core's
    "payload_too_large": 413,
    "certificate_not_issued": 409,
    "session_not_live": 409,
    "internal_error": 500,
}
ALL_CODES: dict[str, int] = {**CODES, **API_CODES}
assert all(CODES[code] == status for code, status in API_CODES.items() if code in CODES)

# An HTTP status raised by Flask or werkzeug themselves -> our code for it.
_HTTP_CODES = {400: "invalid_input", 401: "unauthenticated", 403: "forbidden",
               404: "not_found", 405: "method_not_allowed", 413: "payload_too_large",
               415: "invalid_input"}

UNAUTHENTICATED = ("sign in to the console, or send a valid API token "
                   "(Authorization: Bearer bst_...); the token may be unknown, expired or revoked")
# RFC 6750: a 401 tells the client which scheme to use.
WWW_AUTHENTICATE = 'Bearer realm="bastion"'


class ApiError(Exception):
    def __init__(self, code: str, message: str, **extra: Any) -> None:
        if code not in ALL_CODES:
            raise ValueError(f"unknown API error code {code!r}")  # a typo would break clients
        super().__init__(message)
        self.code = code
        self.message = message
        self.extra = extra

    @property
    def status(self) -> int:
        return ALL_CODES[self.code]


def error_response(code: str, message: str, status: int | None = None,
                   **extra: Any) -> Response:
    response = jsonify(error={"code": code, "message": message, **extra})
    response.status_code = status or ALL_CODES[code]
    if response.status_code == 401:
        response.headers["WWW-Authenticate"] = WWW_AUTHENTICATE
    return response


def _api_error(error: ApiError) -> ResponseReturnValue:
    return error_response(error.code, error.message, **error.extra)


def _approval_error(error: ApprovalError) -> ResponseReturnValue:
    body = error.to_dict()
    return error_response(str(body.pop("code")), str(body.pop("message")), error.status, **body)


def _csrf(error: CSRFError) -> ResponseReturnValue:
    return error_response("csrf_failed", "the X-CSRFToken header is missing or wrong: read the "
                          "token from the console page's csrf-token meta tag, or use an API token")


def _http(error: HTTPException) -> Response:
    if error.code == 403 and g.get("access_refused"):
        # The console's access rule refused: tell nobody-signed-in apart from wrong role.
        if current_identity().principal is None:
            return error_response("unauthenticated", UNAUTHENTICATED)
        return error_response("forbidden", "your roles do not allow this action")
    code = _HTTP_CODES.get(error.code or 500)
    if code is None:
        return _unexpected(error)
    response = error_response(code, error.description or code, error.code)
    if isinstance(error, MethodNotAllowed) and error.valid_methods:
        response.headers["Allow"] = ", ".join(error.valid_methods)
    return response


def _unexpected(error: Exception) -> Response:
    # Fail closed, say nothing about internals; the traceback goes to the log.
    current_app.logger.exception("unhandled error in the JSON API", exc_info=error)
    return error_response("internal_error",
                          "something went wrong on the bastion; the action was not carried out")


def install(blueprint: Blueprint) -> None:
    """On the API's parent blueprint: its handlers win over the console's HTML ones for
    every request routed to an API view, including refusals from before_request hooks."""
    blueprint.register_error_handler(ApiError, _api_error)
    blueprint.register_error_handler(ApprovalError, _approval_error)
    blueprint.register_error_handler(CSRFError, _csrf)
    blueprint.register_error_handler(HTTPException, _http)
    blueprint.register_error_handler(Exception, _unexpected)


def routing_error(error: HTTPException) -> ResponseReturnValue:
    """An /api/ URL with no route, or a method the route lacks: no blueprint handles those
    (Flask does not know the blueprint before the URL matched), so the auth hook calls this."""
    if error.code == 405:
        return _http(error)
    return error_response("not_found", "there is no such API route; see the OpenAPI description")

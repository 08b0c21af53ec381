"""Who is calling the API: an API token (integrations) or the console's session cookie
(the browser, which then also sends the CSRF token in the ``X-CSRFToken`` header).

The console's access rules (``web.access``) then decide, exactly as for pages: this module
only establishes the identity they look at.
"""

from __future__ import annotations

from flask import current_app, g, request
from flask.typing import ResponseReturnValue

from bastion.api_tokens import TokenRefused, record_refusal
from bastion.api_tokens import authenticate as authenticate_token

from ..identity import Identity, core, load_principal
from ..throttle import Throttle, Verdict
from .errors import UNAUTHENTICATED, ApiError, routing_error

API_PATH = "/api/"
BLUEPRINT = "api"
THROTTLE_KEY = "api_token_throttle"
# Refused tokens audited per client address and window; beyond, one note then silence,
# so a client looping on a revoked token (or a scanner) cannot flood the audit log.
REFUSALS_AUDITED = 10
REFUSAL_WINDOW_SECONDS = 300


def new_throttle() -> Throttle:
    return Throttle(REFUSALS_AUDITED, REFUSAL_WINDOW_SECONDS)


def client_address() -> str:
    return request.remote_addr or "unknown"


def authenticate() -> ResponseReturnValue | None:
    """An app-level ``before_request`` hook, placed just before ``access.enforce`` so the
    access rule sees the token's identity (blueprint hooks would run after it)."""
    if request.routing_exception is not None:
        if request.path.startswith(API_PATH):
            return routing_error(request.routing_exception)
        return None
    if BLUEPRINT not in request.blueprints:
        return None
    header = request.headers.get("Authorization")
    if header is None:
        g.api_via = "cookie"
        return None
    # A request carrying a token is judged on the token alone, never on a cookie beside it.
    g.api_via = "token"
    scheme, _, token = header.partition(" ")
    address = client_address()
    try:
        if scheme.lower() != "bearer" or not token.strip():
            raise TokenRefused(f"Authorization header with scheme {scheme[:20]!r}, not Bearer")
        use = authenticate_token(core(), token.strip(), address=address)
    except TokenRefused as refused:
        _audit(refused, address)
        raise ApiError("unauthenticated", UNAUTHENTICATED) from None
    with core().db.session() as db:
        principal = load_principal(db, f"staff:{use.staff_id}")
    if principal is None:  # disabled in the instant since the token check: fail closed
        raise ApiError("unauthenticated", UNAUTHENTICATED)
    g.identity = Identity(principal.roles, principal)
    g.api_token = use
    return None


def _audit(refused: TokenRefused, address: str) -> None:
    verdict = current_app.extensions[THROTTLE_KEY].hit(address)
    if verdict is Verdict.OK:
        record_refusal(core(), refused, address=address)
    elif verdict is Verdict.LIMITED_FIRST:
        record_refusal(core(), refused, address=address,
                       note=f"more than {REFUSALS_AUDITED} refusals from {address}; further "
                            f"ones are not audited for {REFUSAL_WINDOW_SECONDS // 60} minutes")


def check_csrf() -> None:
    """The API blueprint's ``before_request`` (after the access rule, so an anonymous
    caller is told to authenticate rather than that its CSRF token is missing).

    Only cookie requests are checked: a browser attaches the cookie to a forged cross-site
    request, never an Authorization header, so token requests cannot be forged that way.
    The API is exempt from the console's global check, which cannot tell the two apart."""
    if g.get("api_via") != "cookie" or not current_app.config.get("WTF_CSRF_ENABLED", True):
        return
    current_app.extensions["csrf"].protect()  # raises CSRFError, answered as csrf_failed

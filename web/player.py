"""What pages showing the asciinema player need beyond the console's usual headers.

The player emulates the terminal in WebAssembly, embedded in its own script file. Chrome
and Firefox refuse to compile WebAssembly under ``script-src 'self'`` alone; the
``'wasm-unsafe-eval'`` source admits WebAssembly compilation and nothing else (JavaScript
``eval`` and inline scripts stay forbidden). Only the replay and live pages get it.
"""

from __future__ import annotations

from flask import make_response
from flask.typing import ResponseReturnValue

from .security import CONTENT_SECURITY_POLICY

PLAYER_CONTENT_SECURITY_POLICY = CONTENT_SECURITY_POLICY.replace(
    "script-src 'self'", "script-src 'self' 'wasm-unsafe-eval'", 1)
if PLAYER_CONTENT_SECURITY_POLICY == CONTENT_SECURITY_POLICY:  # pragma: no cover
    raise RuntimeError("web.security's policy no longer has script-src 'self': update web.player")


def with_player(page: ResponseReturnValue) -> ResponseReturnValue:
    """``page`` with the player's policy; security.add_headers keeps a policy already set."""
    response = make_response(page)
    response.headers["Content-Security-Policy"] = PLAYER_CONTENT_SECURITY_POLICY
    return response

"""The JSON API, version 1, under ``/api/v1``: requests, reviews, grants, sessions.

Described in ``web/openapi/openapi.yaml`` (tests hold the file and the routes together).
Callers authenticate with an API token (``Authorization: Bearer bst_...``, see
``bastion.api_tokens``) or, from the console's own pages, with the session cookie plus
the CSRF token in ``X-CSRFToken``. Every route carries an access rule of the console's
kind (``@requires``), enforced by the same hook; every error is JSON (``errors``).
"""

from __future__ import annotations

from flask import Blueprint, Flask

from .. import access
from . import access_requests, auth, errors, grants, reviews, sessions

PREFIX = "/api/v1"
AREAS = (access_requests, reviews, grants, sessions)

blueprint = Blueprint(auth.BLUEPRINT, __name__, url_prefix=PREFIX)
for _area in AREAS:
    blueprint.register_blueprint(_area.blueprint)
errors.install(blueprint)
blueprint.before_request(auth.check_csrf)


def install(app: Flask) -> None:
    """Register the API on the console's app (after CSRFProtect and the access hook)."""
    app.register_blueprint(blueprint)
    app.extensions[auth.THROTTLE_KEY] = auth.new_throttle()
    # The console's global CSRF check would refuse token requests (no cookie, no CSRF
    # token, nothing to forge); auth.check_csrf checks cookie requests instead.
    csrf = app.extensions["csrf"]
    for exempt in (blueprint, *(area.blueprint for area in AREAS)):
        csrf.exempt(exempt)
    # The token must be turned into an identity before the access rule looks at it, and
    # blueprint hooks run after the app's: so this one goes just before access.enforce.
    hooks = app.before_request_funcs.setdefault(None, [])
    hooks.insert(hooks.index(access.enforce), auth.authenticate)

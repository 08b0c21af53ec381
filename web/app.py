"""Application factory: configuration in one place, one blueprint per area, no globals."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from flask import Flask
from flask_login import LoginManager
from flask_wtf.csrf import CSRFProtect
from werkzeug.middleware.proxy_fix import ProxyFix

from bastion.context import Bastion

from . import (
    access,
    api,
    bounded_input,
    errors,
    i18n,
    navigation,
    notification_warning,
    security,
    statuses,
)
from .blueprints import (
    access_review,
    account,
    admin_staff,
    admin_targets,
    assets,
    audit,
    auth,
    break_glass,
    break_glass_acknowledgement,
    demo_mailbox,
    dpo,
    grants,
    health,
    home,
    live,
    logbook,
    oidc_auth,
    portal,  # vendor pages (technicians)
    portal_auth,
    replay,
    requests,
    role_changes,
    sessions,
    vendors,
)
from .config import SIGN_IN_ADDRESS_WINDOW_SECONDS, SIGN_IN_ATTEMPTS_PER_ADDRESS, flask_config
from .identity import init_login
from .throttle import Throttle

BLUEPRINTS = (health, auth, oidc_auth, home, account, admin_staff, role_changes, admin_targets, vendors,
              audit, assets,
              requests, live, sessions, replay, grants, dpo, break_glass,
              break_glass_acknowledgement,
              logbook, access_review,
              portal_auth, portal)  # vendor pages


def create_app(core: Bastion, config: Mapping[str, Any] | None = None) -> Flask:
    """``config`` overrides Flask settings (tests use it; production passes nothing)."""
    app = Flask(__name__)
    app.config.update(flask_config(core, config))
    bounded_input.install(app)  # before any route is added: the bounded int converter
    app.extensions["bastion"] = core
    app.extensions["sign_in_throttle"] = Throttle(
        SIGN_IN_ATTEMPTS_PER_ADDRESS, SIGN_IN_ADDRESS_WINDOW_SECONDS
    )

    login = LoginManager()
    init_login(login)
    login.init_app(app)

    # Order matters: idle sign-out first (it may change who the visitor is), then the
    # route's access rule, then CSRF (so an anonymous POST is told to sign in rather than
    # that its form expired).
    app.before_request(security.end_idle_sessions)
    app.before_request(access.enforce)
    CSRFProtect(app)

    i18n.install(app)
    statuses.install(app)
    security.install(app)
    errors.install(app)
    navigation.install(app)
    notification_warning.install(app)
    for module in BLUEPRINTS:
        app.register_blueprint(module.blueprint)
    if app.config.get("BASTION_DEMO_MAILBOX"):  # set by `bastion demo` only
        app.register_blueprint(demo_mailbox.blueprint)
    api.install(app)  # the JSON API under /api/v1 (web/api): after CSRFProtect and access.enforce
    trust_proxies(app, core.settings.web.trusted_proxies)
    return app


def trust_proxies(app: Flask, hops: int) -> None:
    """Behind ``hops`` reverse proxies (``[web] trusted_proxies``), take the client's
    address, scheme and host from their X-Forwarded-* headers: audit events and console
    sessions then record the browser's address, and external URLs say https. Never by
    default: a client reaching the console directly could forge those headers."""
    if hops > 0:
        app.wsgi_app = ProxyFix(app.wsgi_app, x_for=hops, x_proto=hops,  # type: ignore[method-assign]
                                x_host=hops)

"""The console's whole Flask configuration, built in one place from the bastion settings."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import timedelta
from pathlib import Path
from typing import Any

from bastion.context import Bastion

WEB_DIR = Path(__file__).parent
# Front-end packages come from npm (package.json at the repository root, `npm ci`).
NODE_MODULES = WEB_DIR.parent / "node_modules"

# Sign-in attempts per client address, in memory (see web.throttle). The per-account
# lock-out is the core's (bastion.approvals.sign_in), in the database.
SIGN_IN_ATTEMPTS_PER_ADDRESS = 20
SIGN_IN_ADDRESS_WINDOW_SECONDS = 300

AUDIT_PAGE_SIZE = 50


def flask_config(core: Bastion, overrides: Mapping[str, Any] | None = None) -> dict[str, Any]:
    web = core.settings.web
    config: dict[str, Any] = {
        "SECRET_KEY": core.keys.web_secret,
        # The cookie lives as long as the idle limit: a closed laptop lid loses it.
        "PERMANENT_SESSION_LIFETIME": timedelta(minutes=web.idle_minutes),
        "SESSION_COOKIE_NAME": "bastion_session",
        "SESSION_COOKIE_HTTPONLY": True,
        # Strict: WebAuthn ceremonies are same-origin fetches, so nothing breaks; the cost is
        # that a link followed from an e-mail lands on the sign-in page, which an approval
        # needs anyway (it asks for the key).
        "SESSION_COOKIE_SAMESITE": "Strict",
        "SESSION_COOKIE_SECURE": web.secure_cookies,
        "REMEMBER_COOKIE_DURATION": timedelta(0),
        "MAX_CONTENT_LENGTH": 1024 * 1024,
        "WTF_CSRF_TIME_LIMIT": None,  # bound to the session, which the idle limit ends
        "WTF_CSRF_SSL_STRICT": web.secure_cookies,
        "BABEL_DEFAULT_LOCALE": web.default_language,
        "BABEL_DEFAULT_TIMEZONE": web.time_zone,
        "BABEL_TRANSLATION_DIRECTORIES": str(WEB_DIR / "translations"),
        "BASTION_IDLE_MINUTES": web.idle_minutes,
        "BASTION_PUBLIC_URL": web.public_url,
        "BASTION_NODE_MODULES": str(NODE_MODULES),
        "AUDIT_PAGE_SIZE": AUDIT_PAGE_SIZE,
        # The Maildir of `bastion demo`'s mail sink; set, it adds the demo mailbox page.
        "BASTION_DEMO_MAILBOX": None,
    }
    config.update(overrides or {})
    return config

"""Application factory: configuration in one place, one blueprint per area, no globals."""

from __future__ import annotations

from flask import Flask

from bastion.context import Bastion

from .blueprints import health


def create_app(core: Bastion) -> Flask:
    app = Flask(__name__)
    settings = core.settings
    app.config.update(
        SECRET_KEY=core.keys.web_secret,
        SESSION_COOKIE_HTTPONLY=True,
        SESSION_COOKIE_SAMESITE="Lax",
        SESSION_COOKIE_SECURE=settings.web.secure_cookies,
        MAX_CONTENT_LENGTH=1024 * 1024,
    )
    app.extensions["bastion"] = core
    app.register_blueprint(health.blueprint)
    return app

"""The Flask console. ``web`` calls ``bastion``; ``bastion`` never imports ``web``."""

from .app import create_app

__all__ = ["create_app"]

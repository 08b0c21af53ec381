"""The banner staff see on every page while no notification channel is configured: then
no approver hears of a request and no one of a break-glass, and the console must say so
rather than let them believe otherwise."""

from __future__ import annotations

from typing import Any

from flask import Flask, current_app

from bastion.breakglass.channels import configured_channels

from .identity import current_identity

# Those whom notifications serve: approvers (requests), the DPO and admins (break-glass).
TOLD_ROLES = ("approver", "admin", "dpo")


def banner_globals() -> dict[str, Any]:
    principal = current_identity().principal
    shown = (principal is not None and principal.kind == "staff"
             and any(principal.has_role(role) for role in TOLD_ROLES)
             and not configured_channels(current_app.extensions["bastion"].settings))
    return {"nobody_notified": shown}


def install(app: Flask) -> None:
    app.context_processor(banner_globals)

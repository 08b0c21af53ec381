"""Front-end packages installed from npm (``npm ci``, see package.json), served from
``node_modules`` rather than copied into the repository."""

from __future__ import annotations

from pathlib import Path

from flask import Blueprint, abort, current_app, send_from_directory
from flask.typing import ResponseReturnValue

from ..access import public

blueprint = Blueprint("assets", __name__, url_prefix="/assets")

ASCIINEMA_PLAYER_DIR = Path("asciinema-player") / "dist" / "bundle"


@blueprint.get("/asciinema-player/<path:filename>")
@public()
def asciinema_player(filename: str) -> ResponseReturnValue:
    folder = Path(current_app.config["BASTION_NODE_MODULES"]) / ASCIINEMA_PLAYER_DIR
    if not folder.is_dir():
        # `npm ci` was not run: say so in the log rather than serving a confusing 404 silently.
        current_app.logger.warning("front-end packages missing: run `npm ci` (%s)", folder)
        abort(404)
    # send_from_directory refuses paths escaping the folder.
    return send_from_directory(folder, filename, max_age=3600)

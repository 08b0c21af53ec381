"""Front-end packages come from npm (package.json, package-lock.json, `npm ci` in the
Makefile) and are served from node_modules, never copied into the repository."""

from __future__ import annotations

import json
from pathlib import Path

from flask.testing import FlaskClient

ROOT = Path(__file__).resolve().parents[2]
PLAYER = ROOT / "node_modules" / "asciinema-player" / "dist" / "bundle"


def test_the_player_is_locked_and_installed() -> None:
    lock = json.loads((ROOT / "package-lock.json").read_text())
    wanted = json.loads((ROOT / "package.json").read_text())["dependencies"]["asciinema-player"]
    assert lock["packages"]["node_modules/asciinema-player"]["version"] == wanted
    assert lock["packages"]["node_modules/asciinema-player"]["integrity"].startswith("sha512-")
    assert PLAYER.is_dir(), "front-end packages are missing: run `npm ci` (make test does)"
    assert not list((ROOT / "web" / "static").rglob("asciinema-player*"))


def test_the_console_serves_the_player(client: FlaskClient) -> None:
    script = client.get("/assets/asciinema-player/asciinema-player.min.js")
    assert script.status_code == 200
    assert script.mimetype in ("text/javascript", "application/javascript")
    assert script.data == (PLAYER / "asciinema-player.min.js").read_bytes()
    style = client.get("/assets/asciinema-player/asciinema-player.css")
    assert style.status_code == 200 and style.mimetype == "text/css"
    assert "Content-Security-Policy" in script.headers
    for escape in ("../package.json", "..%2f..%2fpackage.json", "/etc/passwd"):
        assert client.get(f"/assets/asciinema-player/{escape}", follow_redirects=True).status_code == 404

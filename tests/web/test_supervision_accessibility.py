"""The supervision pages pass the console's accessibility smoke check (labels on inputs,
one h1 and headings in order, no duplicate ids: several forms share the live list and the
grants page), in French and in English, with data on every page."""

from __future__ import annotations

from pathlib import Path

from flask import Flask
from flask.testing import FlaskClient

from bastion.context import Bastion
from web import create_app

from .supervision import as_staff, make_grant, open_session, seed_sessions, supervision_world
from .test_accessibility import problems_of


def test_every_supervision_page_passes_the_smoke_check(core: Bastion, tmp_path: Path) -> None:
    world = supervision_world(core, tmp_path)
    seeded = seed_sessions(core)
    waiting = world.file()
    grant = make_grant(world, technician="kbenali")
    open_session(core, technician="kbenali", grant_id=grant)
    decided = world.file(target="dpi-db-01", account="dbmaint")
    world.approve(decided.id, "bob")
    app: Flask = create_app(core, {"TESTING": True})
    client: FlaskClient = app.test_client()
    pages = ["/requests", f"/requests/{waiting.id}", f"/requests/{decided.id}", "/sessions/live",
             f"/sessions/{seeded.live}/watch",
             f"/sessions/{seeded.live}/watch?purpose=supervising+the+upgrade", "/sessions", "/sessions?flag=flagged",
             f"/sessions/{seeded.finished}", "/sessions/commands", "/sessions/commands?q=ls",
             f"/recordings/{seeded.finished_recording}", "/grants", "/"]
    found = []
    for name in ("alice", "bob"):  # alice reads French, bob English
        as_staff(app, client, world, name)
        for path in pages:
            response = client.get(path)
            assert response.status_code == 200, (name, path, response.status_code)
            found += problems_of(f"{name} {path}", response.get_data(as_text=True))
    assert found == []

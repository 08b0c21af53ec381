"""Sessions history with its filters, a session's page, the command search, replay (the
export is an audited read; the timeline places commands and policy events), the live feed
(audited once per watcher and recording, then incremental), terminating a session and
revoking a grant. Recordings here are real ones, written through the recording service."""

from __future__ import annotations

import json
import re
from datetime import timedelta
from pathlib import Path

import pytest
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import select

from bastion.context import Bastion
from bastion.models import Recording, SshSession, utcnow
from bastion.recording import RecordingService
from tests.approvals.conftest import World
from tests.harness.queries import statements_sent
from web import create_app

from .supervision import (
    Seeded,
    as_staff,
    csrf,
    events,
    grant_status,
    make_grant,
    open_session,
    seed_sessions,
    sign_in,
    supervision_world,
    technician_id,
)


@pytest.fixture
def world(core: Bastion, tmp_path: Path) -> World:
    return supervision_world(core, tmp_path)


@pytest.fixture
def app(core: Bastion) -> Flask:
    return create_app(core, {"TESTING": True})


@pytest.fixture
def seeded(world: World) -> Seeded:
    return seed_sessions(world.core)


PURPOSE = "review+of+ticket+INC-4242+restart"


def _session_links(page: str) -> set[int]:
    return {int(n) for n in re.findall(r'href="/sessions/(\d+)"', page)}


def test_history_and_its_filters(app: Flask, client: FlaskClient, world: World,
                                 seeded: Seeded) -> None:
    as_staff(app, client, world, "erin")  # the DPO
    page = client.get("/sessions").get_data(as_text=True)
    assert _session_links(page) == {seeded.finished, seeded.live}
    assert "une commande signalée par une règle du contrat" in page
    cases = {
        "?technician=jdupont": {seeded.finished},
        "?target=dpi-db-01": {seeded.live},
        "?status=live": {seeded.live},
        "?flag=flagged": {seeded.finished},
        "?flag=emergency": set(),
        "?vendor=acme": {seeded.finished, seeded.live},
        "?start=2000-01-01&end=2000-01-02": set(),
    }
    for query, expected in cases.items():
        assert _session_links(client.get("/sessions" + query).get_data(as_text=True)) == expected, query
    assert client.get("/sessions?start=garbage").status_code == 400
    sign_in(app, client, f"technician:{technician_id(world.core)}")
    assert client.get("/sessions").status_code == 403


def test_listing_pages_load_people_with_the_page_not_per_row(app: Flask, client: FlaskClient,
                                                             world: World, seeded: Seeded) -> None:
    # A lazy load looks like "SELECT ... FROM technicians WHERE technicians.id = ?": one per
    # row is what made a 500-row page cost 249 queries.
    as_staff(app, client, world, "erin")
    lazy = re.compile(r"FROM (technicians|targets|vendors)\s+WHERE \1\.id = ")
    for path in ("/sessions", "/sessions/commands?q=systemctl"):
        with statements_sent(world.core.db.engine) as seen:
            assert client.get(path).status_code == 200
        assert not [statement for statement in seen if lazy.search(statement)], path


def test_a_sessions_page_and_the_command_search(app: Flask, client: FlaskClient, world: World,
                                                seeded: Seeded) -> None:
    as_staff(app, client, world, "erin")
    page = client.get(f"/sessions/{seeded.finished}").get_data(as_text=True)
    for text in ("ls /opt/dpi", "systemctl restart dpi-admission", "download /var/log/dpi.log",
                 "command.flagged", "restarts are reviewed", f"/recordings/{seeded.finished_recording}"):
        assert text in page, text
    found = client.get("/sessions/commands?q=SYSTEMCTL").get_data(as_text=True)
    link = re.search(rf'/recordings/{seeded.finished_recording}\?t=([0-9.]+)', found)
    assert link is not None and float(link.group(1)) > 0.5
    assert "ls /opt/dpi" not in found
    assert "download /var/log/dpi.log" in client.get("/sessions/commands?kind=sftp").get_data(as_text=True)
    assert "Aucune commande ne correspond" in client.get("/sessions/commands?q=rm+-rf").get_data(as_text=True)


def test_replay_is_an_audited_read_of_verified_data(app: Flask, client: FlaskClient, world: World,
                                                   seeded: Seeded) -> None:
    as_staff(app, client, world, "erin")
    # First the purpose, then the player: the purpose goes into the audit log.
    form = client.get(f"/recordings/{seeded.finished_recording}?t=1.5")
    assert form.status_code == 200 and 'name="purpose"' in form.get_data(as_text=True)
    assert 'id="replay-player"' not in form.get_data(as_text=True)
    assert client.get(f"/recordings/{seeded.finished_recording}?purpose=x").status_code == 400
    assert client.get(f"/recordings/{seeded.finished_recording}/cast").status_code == 400
    page = client.get(f"/recordings/{seeded.finished_recording}?t=1.5&purpose={PURPOSE}")
    assert page.status_code == 200
    # The player compiles its terminal emulator (WebAssembly): allowed here only.
    assert "'wasm-unsafe-eval'" in page.headers["Content-Security-Policy"]
    assert "'wasm-unsafe-eval'" not in client.get("/sessions").headers["Content-Security-Policy"]
    html = page.get_data(as_text=True)
    seeks = [float(x) for x in re.findall(r'data-seek="([0-9.]+)"', html)]
    assert seeks == sorted(seeks) and len(seeks) >= 4
    assert "command.flagged systemctl restart dpi-admission — restarts are reviewed" in html
    assert 'data-start="1.5"' in html
    assert events(world.core, "recording.viewed") == []  # the page reads no recording

    cast_url = re.search(r'data-cast-url="([^"]+)"', html).group(1).replace("&amp;", "&")
    cast = client.get(cast_url)
    assert cast.status_code == 200 and cast.headers["Cache-Control"] == "no-store"
    lines = [json.loads(line) for line in cast.get_data(as_text=True).splitlines()]
    assert lines[0]["version"] == 2 and lines[0]["width"] == 80
    output = "".join(e[2] for e in lines[1:] if e[1] == "o")
    assert "admission  facturation" in output
    assert all(e[1] != "i" for e in lines[1:])  # typed input is never sent
    assert any(e[1] == "m" and "sftp: download /var/log/dpi.log" in e[2] for e in lines[1:])
    (viewed,) = events(world.core, "recording.viewed")
    assert (viewed.actor, viewed.details["purpose"], viewed.session_id) == (
        "staff:erin", "replay", seeded.finished)
    assert viewed.details["reason"] == viewed.reasons[0] == "review of ticket INC-4242 restart"


def test_a_corrupted_recording_is_refused_with_its_problem(app: Flask, client: FlaskClient,
                                                           world: World, seeded: Seeded) -> None:
    with world.core.db.session() as db:
        key = db.get(Recording, seeded.finished_recording).storage_key
    path = Path(world.core.settings.recordings_dir) / key
    data = bytearray(path.read_bytes())
    data[-40] ^= 0xFF  # one bit of the last chunk's ciphertext
    path.write_bytes(bytes(data))
    as_staff(app, client, world, "alice")
    reply = client.get(f"/recordings/{seeded.finished_recording}/cast?purpose={PURPOSE}")
    assert reply.status_code == 409
    assert reply.get_json()["error"]["code"] == "recording_corrupted"
    assert "chunk" in reply.get_json()["error"]["message"]


WATCHING = "supervising request 12 for the database upgrade"


def test_the_live_feed_is_audited_once_then_incremental(app: Flask, client: FlaskClient,
                                                        world: World, seeded: Seeded) -> None:
    as_staff(app, client, world, "alice")
    asked = client.get(f"/sessions/{seeded.live}/watch")
    assert asked.status_code == 200 and 'name="purpose"' in asked.get_data(as_text=True)
    assert client.get(f"/sessions/{seeded.live}/watch?purpose=short").status_code == 400
    watch = client.get(f"/sessions/{seeded.live}/watch", query_string={"purpose": WATCHING})
    assert watch.status_code == 200 and "'wasm-unsafe-eval'" in watch.headers["Content-Security-Policy"]
    assert f'data-purpose="{WATCHING}"' in watch.get_data(as_text=True)
    missing = client.get(f"/sessions/{seeded.live}/feed")
    assert missing.status_code == 400 and missing.get_json()["error"]["code"] == "purpose_missing"
    assert events(world.core, "recording.viewed") == []  # nothing read without a purpose
    first = client.get(f"/sessions/{seeded.live}/feed", query_string={"purpose": WATCHING}).get_json()
    assert first["recording"] == seeded.live_recording and first["session_live"]
    assert not first["done"] and first["width"] == 80
    assert "".join(e[2] for e in first["events"] if e[1] == "o") == "dbmaint@dpi-db-01:~$ "
    # The file did not grow: nothing is read, nothing new is sent.
    again = client.get(f"/sessions/{seeded.live}/feed", query_string={
        "recording": first["recording"], "after": first["next"], "size": first["size"],
        "purpose": WATCHING}).get_json()
    assert again["events"] == [] and again["next"] == first["next"]
    # Asked from the start again: the same events, without a second audit event.
    replay = client.get(f"/sessions/{seeded.live}/feed", query_string={
        "recording": first["recording"], "after": 0, "purpose": WATCHING}).get_json()
    assert replay["events"] == first["events"]
    (viewed,) = events(world.core, "recording.viewed")
    assert (viewed.actor, viewed.details["purpose"]) == ("staff:alice", "live")
    assert viewed.details["reason"] == WATCHING and viewed.reasons == [WATCHING]

    # The node serving it stops: session and recording are closed as interrupted. (The
    # session is on a health-data server: once ended, it is the DPO's to watch.)
    RecordingService(world.core).mark_interrupted()
    ended = client.get(f"/sessions/{seeded.live}/feed", query_string={
        "recording": first["recording"], "after": first["next"], "purpose": WATCHING})
    assert ended.status_code == 403
    as_staff(app, client, world, "erin")
    last = client.get(f"/sessions/{seeded.live}/feed", query_string={
        "recording": first["recording"], "after": first["next"], "purpose": WATCHING}).get_json()
    assert last["done"] and "the bastion stopped" in last["end_reason"]
    assert last["events"] == []


def test_terminate_asks_the_proxy_and_is_audited(app: Flask, client: FlaskClient, world: World,
                                                 seeded: Seeded) -> None:
    as_staff(app, client, world, "dave")  # an administrator
    form = f"s{seeded.live}-reason"
    token = csrf(client, "/sessions/live")
    page = client.post(f"/sessions/{seeded.live}/terminate", data={"csrf_token": token, form: ""},
                       follow_redirects=True).get_data(as_text=True)
    assert "Dites pourquoi la session est interrompue." in page
    page = client.post(f"/sessions/{seeded.live}/terminate",
                       data={"csrf_token": token, form: "commande non prévue au ticket"},
                       follow_redirects=True).get_data(as_text=True)
    assert f"La session {seeded.live} sera fermée d&#39;ici 2 secondes." in page
    with world.core.db.session() as db:
        row = db.get(SshSession, seeded.live)
        assert (row.terminate_requested_by, row.terminate_reason) == (
            "staff:dave", "commande non prévue au ticket")
    (event,) = events(world.core, "session.terminate_requested")
    assert (event.actor, event.session_id, event.reasons) == (
        "staff:dave", seeded.live, ["commande non prévue au ticket"])
    page = client.post(f"/sessions/{seeded.finished}/terminate",
                       data={"csrf_token": token, f"s{seeded.finished}-reason": "x"},
                       follow_redirects=True).get_data(as_text=True)
    assert f"La session {seeded.finished} est déjà terminée." in page


def test_grants_current_upcoming_and_revoke(app: Flask, client: FlaskClient, world: World) -> None:
    current = make_grant(world)
    upcoming = make_grant(world, technician="kbenali", start=utcnow() + timedelta(hours=2))
    live = open_session(world.core, grant_id=current)
    as_staff(app, client, world, "carol")
    page = client.get("/grants").get_data(as_text=True)
    current_part, upcoming_part = page.split('id="upcoming-heading"')[0], page.split('id="upcoming-heading"')[1]
    assert f"g{current}-reason" in current_part and f"g{upcoming}-reason" in upcoming_part
    token = csrf(client, "/grants")
    page = client.post(f"/grants/{current}/revoke", data={"csrf_token": token},
                       follow_redirects=True).get_data(as_text=True)
    assert "Dites pourquoi l&#39;autorisation est révoquée." in page
    page = client.post(f"/grants/{current}/revoke",
                       data={"csrf_token": token, f"g{current}-reason": "ticket clos"},
                       follow_redirects=True).get_data(as_text=True)
    assert f"Autorisation {current} révoquée : 1 session(s)" in page
    assert grant_status(world.core, current) == "revoked"
    with world.core.db.session() as db:
        assert db.get(SshSession, live).terminate_reason == "ticket clos"
    page = client.post(f"/grants/{current}/revoke",
                       data={"csrf_token": token, f"g{current}-reason": "encore"},
                       follow_redirects=True).get_data(as_text=True)
    assert "Cette autorisation est déjà terminée ou révoquée." in page
    assert "ticket clos" in page  # in the recently ended or revoked table
    as_staff(app, client, world, "erin")
    page = client.get("/grants").get_data(as_text=True)
    assert f"g{upcoming}-reason" not in page  # the DPO reads, does not revoke
    assert client.post(f"/grants/{upcoming}/revoke", data={"csrf_token": csrf(client)}).status_code == 403


def test_the_live_list_shows_who_where_since_until(app: Flask, client: FlaskClient,
                                                   world: World) -> None:
    grant = make_grant(world)
    live = open_session(world.core, grant_id=grant)
    as_staff(app, client, world, "alice")
    page = client.get("/sessions/live").get_data(as_text=True)
    for text in ("Jean Dupont (jdupont)", "dpi-app-01 / maint", "192.0.2.10",
                 f"/sessions/{live}/watch", f"s{live}-reason"):
        assert text in page, text
    with world.core.db.session() as db:
        assert db.scalar(select(SshSession.status).where(SshSession.id == live)) == "live"

"""Issue 13.8: WebAuthn Level 3's ``crossOrigin``/``topOrigin``. An answer made inside a
frame of another site is refused by every ceremony (approval, sign-in, registration) with
its own code, audited like any forged payload, through the console's HTTP routes."""

from __future__ import annotations

from pathlib import Path

import pytest
from flask import Flask
from flask.testing import FlaskClient

from bastion import approvals
from bastion.context import Bastion
from tests.approvals.conftest import World, audit_events
from web import create_app

from .supervision import as_staff, csrf, supervision_world

FRAMES = [{"crossOrigin": True}, {"topOrigin": "https://evil.example"},
          {"crossOrigin": False, "topOrigin": "https://evil.example"}, {"crossOrigin": "yes"}]


@pytest.fixture
def world(core: Bastion, tmp_path: Path) -> World:
    w = supervision_world(core, tmp_path)
    w.enrol("dave", passkey=True)
    return w


@pytest.fixture
def app(core: Bastion, world: World) -> Flask:
    return create_app(core, {"TESTING": True})


def refused_with_cross_origin(reply) -> None:  # type: ignore[no-untyped-def]
    assert reply.status_code == 400, reply.get_data(as_text=True)
    error = reply.get_json()["error"]
    assert error["code"] == "cross_origin"
    assert "another site" in error["message"] or "autre site" in error["message"]


@pytest.mark.parametrize("frame", FRAMES)
def test_an_approval_made_in_a_frame_is_refused(app: Flask, client: FlaskClient, world: World,
                                                frame: dict) -> None:
    info = world.file()
    as_staff(app, client, world, "alice")
    headers = {"X-CSRFToken": csrf(client, f"/requests/{info.id}")}
    options = client.post(f"/requests/{info.id}/approve/options", json={}, headers=headers)
    answer = world.keys["alice"].get(options.get_json()["options"], frame=frame)
    refused_with_cross_origin(client.post(f"/requests/{info.id}/approve",
                                          json={"credential": answer}, headers=headers))
    assert approvals.get_request(world.core, info.id).status == "pending"
    [event] = audit_events(world.core, "request.approval_refused")
    assert event.details["code"] == "cross_origin" and "clientDataJSON reports" in event.reasons[0]
    # The same key, used on the console itself, still approves.
    options = client.post(f"/requests/{info.id}/approve/options", json={}, headers=headers)
    answer = world.keys["alice"].get(options.get_json()["options"])
    assert client.post(f"/requests/{info.id}/approve", json={"credential": answer},
                       headers=headers).status_code == 200


@pytest.mark.parametrize("frame", FRAMES[:2])
def test_a_passkey_sign_in_made_in_a_frame_is_refused(app: Flask, client: FlaskClient, world: World,
                                                      frame: dict) -> None:
    headers = {"X-CSRFToken": csrf(client, "/sign-in")}
    options = client.post("/sign-in/passkey/options", headers=headers).get_json()["options"]
    answer = world.keys["dave"].get(options, frame=frame)
    refused_with_cross_origin(client.post("/sign-in/passkey/verify", json={"credential": answer},
                                          headers=headers))
    assert client.get("/").status_code == 302  # still signed out
    [event] = audit_events(world.core, "staff.sign_in_refused")
    assert event.details["code"] == "cross_origin"


@pytest.mark.parametrize("frame", FRAMES[:2])
def test_a_key_registered_in_a_frame_is_refused(app: Flask, client: FlaskClient, world: World,
                                                frame: dict) -> None:
    as_staff(app, client, world, "alice")
    headers = {"X-CSRFToken": csrf(client, "/account/keys")}
    # Adding a key is confirmed with a key already held (a plain, unframed assertion),
    # then the new key is created: that creation is the framed one.
    confirm = client.post("/account/keys/options", headers=headers).get_json()["options"]
    confirmed = client.post("/account/keys/confirm", headers=headers,
                            json={"credential": world.keys["alice"].get(confirm)}).get_json()
    answer = world.keys["alice"].create(confirmed["options"], frame=frame)
    refused_with_cross_origin(client.post("/account/keys/verify",
                                          json={"credential": answer, "name": "framed"},
                                          headers=headers))
    assert [k.name for k in approvals.list_credentials(world.core, world.staff["alice"])] == ["alice's key"]
    [event] = audit_events(world.core, "staff.security_key_refused")
    assert event.details["code"] == "cross_origin"


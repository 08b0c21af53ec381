"""Issue 13.6: the password lock-out is no denial of service.

Five wrong passwords typed by anyone lock the password sign-in of an account; its owner's
passkey (phishing-resistant, with its own PIN) still signs them in. The per-address limit
counts failures, not the sign-ins of colleagues behind the same hospital address.
All through the console's HTTP routes, with a software security key answering the real
WebAuthn options.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from flask import Flask
from flask.testing import FlaskClient

from bastion.context import Bastion
from bastion.models import StaffUser
from tests.approvals.conftest import PASSWORD, World, audit_events, build_world
from web import create_app
from web.throttle import Throttle

from .conftest import csrf_from


@pytest.fixture
def world(core: Bastion, tmp_path: Path) -> World:
    w = build_world(core, tmp_path)
    w.enrol("carol", passkey=True)
    w.enrol("alice")
    return w


@pytest.fixture
def app(core: Bastion, world: World) -> Flask:
    return create_app(core, {"TESTING": True})


def post_password(client: FlaskClient, username: str, password: str) -> int:
    token = csrf_from(client.get("/sign-in").get_data(as_text=True))
    return client.post("/sign-in", data={"username": username, "password": password,
                                         "csrf_token": token}).status_code


def passkey_sign_in(client: FlaskClient, world: World, username: str) -> tuple[int, dict]:
    token = csrf_from(client.get("/sign-in").get_data(as_text=True))
    options = client.post("/sign-in/passkey/options", headers={"X-CSRFToken": token})
    assert options.status_code == 200, options.get_data(as_text=True)
    answer = world.keys[username].get(options.get_json()["options"])
    done = client.post("/sign-in/passkey/verify", json={"credential": answer},
                       headers={"X-CSRFToken": token})
    return done.status_code, done.get_json()


def test_wrong_passwords_do_not_lock_the_owner_out_of_their_passkey(app: Flask, core: Bastion,
                                                                     world: World) -> None:
    attacker = app.test_client()
    assert [post_password(attacker, "carol", "guess number one") for _ in range(5)] == [401] * 5
    with core.db.session() as db:
        assert db.get(StaffUser, world.staff["carol"]).locked_until is not None

    owner = app.test_client()
    status, body = passkey_sign_in(owner, world, "carol")
    assert status == 200, body
    assert body["redirect"] == "/"
    assert owner.get("/").status_code == 200  # signed in for real
    [signed] = audit_events(core, "staff.signed_in")
    assert signed.details["method"] == "passkey"

    # The lock still holds for passwords, even the right one.
    assert post_password(app.test_client(), "carol", PASSWORD) == 401
    assert audit_events(core, "staff.sign_in_refused")[-1].reasons[0].startswith("account locked until")


def test_the_address_limit_counts_failures_not_sign_ins(core: Bastion, world: World) -> None:
    app = create_app(core, {"TESTING": True})
    app.extensions["sign_in_throttle"] = Throttle(3, 300)
    # A ward of colleagues behind one address: many good sign-ins in a row.
    for _ in range(5):
        assert post_password(app.test_client(), "alice", PASSWORD) == 302
        status, body = passkey_sign_in(app.test_client(), world, "carol")
        assert status == 200, body
    assert audit_events(core, "staff.sign_in_rate_limited") == []
    # Failures still add up and are slowed down.
    codes = [post_password(app.test_client(), "bob", "wrong password!") for _ in range(4)]
    assert codes == [401, 401, 401, 429]
    assert len(audit_events(core, "staff.sign_in_rate_limited")) == 1

"""The JSON API on the approvals world (tests/approvals/conftest.py): the console's app,
API tokens for staff, console sessions (cookie + CSRF token) for technicians and staff,
and every JSON answer checked against the OpenAPI file as it goes."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import pytest
from flask import Flask, session
from flask.testing import FlaskClient
from flask_wtf.csrf import generate_csrf
from sqlalchemy import select
from werkzeug.test import TestResponse

from bastion.api_tokens import create_token
from bastion.audit import Actor
from bastion.context import Bastion
from bastion.models import Technician
from bastion.staff import add_staff
from tests.approvals.conftest import World, build_world
from web import create_app, signin_state
from web.identity import load_principal

from .spec import Spec, load_spec

ADMIN = Actor("cli:test", "admin")


@dataclass
class Api:
    """One caller: a token, or a console session. Every call is checked against the spec."""

    client: FlaskClient
    spec: Spec
    headers: dict[str, str] = field(default_factory=dict)
    csrf: str | None = None

    def call(self, method: str, path: str, body: Any = None, *, check: bool = True,
             headers: dict[str, str] | None = None, **kwargs: Any) -> TestResponse:
        sent = dict(self.headers)
        if self.csrf is not None and method != "GET":
            sent["X-CSRFToken"] = self.csrf
        sent.update(headers or {})
        if body is not None:
            kwargs["json"] = body
        response = self.client.open(f"/api/v1{path}", method=method, headers=sent, **kwargs)
        if check:
            self.spec.check(method, path, response, body)
        return response

    def get(self, path: str, **kwargs: Any) -> TestResponse:
        return self.call("GET", path, **kwargs)

    def post(self, path: str, body: Any = None, **kwargs: Any) -> TestResponse:
        return self.call("POST", path, body, **kwargs)


@dataclass
class ApiWorld:
    world: World
    app: Flask
    spec: Spec

    @property
    def core(self) -> Bastion:
        return self.world.core

    def token_for(self, username: str, *, days: int = 30) -> str:
        return create_token(self.core, name=f"{username}'s integration", staff_username=username,
                            days=days, actor=ADMIN)[1]

    def as_token(self, token: str) -> Api:
        return Api(self.app.test_client(), self.spec, {"Authorization": f"Bearer {token}"})

    def as_staff(self, username: str) -> Api:
        return self.as_token(self.token_for(username))

    def as_console(self, key: str, *, with_csrf: bool = True) -> Api:
        """A browser signed in to the console as ``key`` (``staff:3``, ``technician:1``),
        with the session the console itself writes, and the page's CSRF token."""
        client = self.app.test_client()
        with self.app.test_request_context():
            with self.core.db.session() as db:
                principal = load_principal(db, key)
            assert principal is not None
            signin_state.complete(principal, "password+key")
            token = generate_csrf()
            contents = dict(session)
        with client.session_transaction() as stored:
            stored.update(contents)
        return Api(client, self.spec, csrf=token if with_csrf else None)

    def as_technician(self, ident: str, **kwargs: Any) -> Api:
        with self.core.db.session() as db:
            technician_id = db.scalar(select(Technician.id).where(Technician.ident == ident))
        return self.as_console(f"technician:{technician_id}", **kwargs)

    def as_staff_console(self, username: str, **kwargs: Any) -> Api:
        return self.as_console(f"staff:{self.world.staff[username]}", **kwargs)


def _build(world: World) -> ApiWorld:
    with world.core.db.session() as db:
        erin = add_staff(db, world.core.audit, username="erin", full_name="Erin", roles=["dpo"],
                         password=None, actor=ADMIN)
        world.staff["erin"] = erin.id
    app = create_app(world.core, {"TESTING": True})
    return ApiWorld(world, app, load_spec())


@pytest.fixture
def api(core: Bastion, tmp_path) -> Iterator[ApiWorld]:
    """SQLite. Staff: alice and bob (approvers, with software keys), carol (approver and
    admin, no key), dave (admin), erin (dpo); technicians jdupont and kbenali (two keys)."""
    world = build_world(core, tmp_path)
    world.enrol("alice")
    world.enrol("bob")
    yield _build(world)


@pytest.fixture
def any_api(any_core: Bastion, tmp_path) -> Iterator[ApiWorld]:
    """The same, once on SQLite and once on PostgreSQL."""
    world = build_world(any_core, tmp_path)
    world.enrol("alice")
    world.enrol("bob")
    yield _build(world)

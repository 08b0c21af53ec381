"""Fixtures for the console: an app on a fresh bastion core, staff of every role, and a
way to put a test client in any sign-in state through the console's own session code."""

from __future__ import annotations

import functools
import secrets
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

import pytest
from flask import Flask, session
from flask.testing import FlaskClient
from webauthn import options_to_json

from bastion import approvals
from bastion.audit import Actor
from bastion.context import Bastion
from bastion.models import AuditEvent, StaffUser, Technician, Vendor, WebAuthnCredential, utcnow
from bastion.passwords import hash_password
from bastion.staff import add_staff
from tests.approvals.authenticator import SoftAuthenticator
from web import create_app, signin_state
from web.identity import load_principal

PASSWORD = "correct horse battery staple"
TEST_ACTOR = Actor("test:setup", "admin")


@dataclass(frozen=True)
class People:
    """Database ids of one account per identity kind (see web.access.IDENTITIES)."""

    approver: int
    admin: int
    dpo: int
    technician: int
    keyless: int  # a staff member without any security key yet (first sign-in)


def add_credential(core: Bastion, staff_id: int, name: str = "blue key") -> int:
    """A stored security key. The bytes are random: these tests never verify an assertion
    with it (the ceremonies' own tests and the browser test do)."""
    with core.db.session() as db:
        credential = WebAuthnCredential(staff_id=staff_id, credential_id=secrets.token_bytes(16),
                                        public_key=secrets.token_bytes(77), name=name)
        db.add(credential)
        db.flush()
        return credential.id


@functools.cache
def password_hash() -> str:
    # argon2 is slow on purpose; hashing the one test password once keeps the suite quick.
    return hash_password(PASSWORD)


def make_staff(core: Bastion, username: str, roles: list[str], *, with_key: bool = True,
               full_name: str | None = None) -> int:
    with core.db.session() as db:
        user = add_staff(db, core.audit, username=username, full_name=full_name or username.title(),
                         roles=roles, password=None, actor=TEST_ACTOR)
        user.password_hash = password_hash()
        staff_id = user.id
    if with_key:
        add_credential(core, staff_id)
    return staff_id


def soft_key(core: Bastion, staff_id: int, name: str = "soft key") -> SoftAuthenticator:
    """Give this staff member a real software security key (the real registration
    ceremony); the placeholder keys ``add_credential`` made, which no authenticator holds,
    are revoked first, as an administrator would for lost keys."""
    for placeholder in approvals.list_credentials(core, staff_id):
        if placeholder.usable:
            approvals.revoke_credential(core, staff_id, placeholder.id, actor=TEST_ACTOR,
                                        reason="placeholder replaced by a software key")
    key = SoftAuthenticator(core.settings.web.public_url)
    options = approvals.registration_options(core, staff_id)
    approvals.register_credential(core, staff_id, key.create(options_to_json(options)), name=name)
    return key


def enrolment_token(core: Bastion, staff_id: int) -> str:
    """A one-time enrolment link's token, as an administrator issues it."""
    with core.db.session() as db:
        user = db.get(StaffUser, staff_id)
        assert user is not None
        return approvals.issue_link(db, core, user, actor=TEST_ACTOR, now=utcnow())


def make_technician(core: Bastion, ident: str = "jdupont", vendor_slug: str = "medilogic") -> int:
    with core.db.session() as db:
        vendor = db.query(Vendor).filter_by(slug=vendor_slug).one_or_none()
        if vendor is None:
            vendor = Vendor(slug=vendor_slug, name="Médilogic SAS")
            db.add(vendor)
            db.flush()
        technician = Technician(ident=ident, vendor_id=vendor.id, employer=vendor.name,
                                full_name="Jean Dupont", email=f"{ident}@medilogic.example")
        db.add(technician)
        db.flush()
        return technician.id


@pytest.fixture
def people(core: Bastion) -> People:
    return People(
        approver=make_staff(core, "alice", ["approver"], full_name="Alice Martin"),
        admin=make_staff(core, "bob", ["admin"], full_name="Bob Bernard"),
        dpo=make_staff(core, "chloe", ["dpo"], full_name="Chloé Petit"),
        technician=make_technician(core),
        keyless=make_staff(core, "david", ["approver"], with_key=False, full_name="David Roux"),
    )


@pytest.fixture
def app(core: Bastion) -> Flask:
    return create_app(core, {"TESTING": True})


@pytest.fixture
def client(app: Flask) -> Iterator[FlaskClient]:
    with app.test_client() as test_client:
        yield test_client


def session_for(app: Flask, identity: str, people: People,
                headers: dict[str, str] | None = None) -> dict[str, Any]:
    """The session contents the console itself writes for ``identity``, built with its own
    sign-in code (flask-login's ``login_user`` included) in a request like the client's."""
    core: Bastion = app.extensions["bastion"]
    with app.test_request_context(headers=headers or {}):
        if identity == "key-pending":
            signin_state.begin_pending(people.approver, "key")
        elif identity == "enrol-pending":
            signin_state.begin_pending(people.keyless, "enrol")
        elif identity != "anonymous":
            key = f"technician:{people.technician}" if identity == "technician" else \
                f"staff:{getattr(people, identity)}"
            with core.db.session() as db:
                principal = load_principal(db, key)
            assert principal is not None
            signin_state.complete(principal, "password+key")
        return dict(session)


@pytest.fixture
def sign_in_as(app: Flask, client: FlaskClient, people: People) -> Callable[[str], None]:
    """Put the test client in a sign-in state: an identity name from web.access.IDENTITIES."""

    def apply(identity: str) -> None:
        contents = session_for(app, identity, people)
        with client.session_transaction() as stored:
            stored.clear()
            stored.update(contents)

    return apply


def audit_actions(core: Bastion, prefix: str = "") -> list[tuple[str, str, str]]:
    """(action, outcome, actor) of every audit event, oldest first."""
    with core.db.session() as db:
        rows = db.query(AuditEvent).order_by(AuditEvent.id).all()
        return [(e.action, e.outcome, e.actor) for e in rows if e.action.startswith(prefix)]


def csrf_from(html: str) -> str:
    marker = 'name="csrf-token" content="'
    start = html.index(marker) + len(marker)
    return html[start:html.index('"', start)]

"""Console sessions kept server-side (bastion.console_sessions): a copied cookie dies with
its session; owners, admins, disabling an account and idleness end sessions; the client
address is the proxy's unless [web] trusted_proxies says to believe X-Forwarded-For.

Sign-ins here are the real ones (password, then a software security key answering the
WebAuthn challenge), so the cookie is the one the console itself hands out."""

from __future__ import annotations

import hashlib
from datetime import timedelta

import pytest
from flask import Flask, request, url_for
from flask.testing import FlaskClient
from sqlalchemy import func, select

from bastion.api_tokens import create_token
from bastion.console_sessions import RETENTION, purge_ended
from bastion.context import Bastion
from bastion.models import AuditEvent, ConsoleSession, StaffRole, StaffUser, utcnow
from tests.approvals.authenticator import SoftAuthenticator
from web import create_app, signin_state
from web.access import public

from .conftest import PASSWORD, TEST_ACTOR, People, audit_actions, csrf_from, session_for, soft_key

COOKIE = "bastion_session"


def sign_in(client: FlaskClient, username: str, key: SoftAuthenticator) -> None:
    token = csrf_from(client.get("/sign-in").get_data(as_text=True))
    step = client.post("/sign-in", data={"username": username, "password": PASSWORD,
                                         "csrf_token": token})
    assert step.location == "/sign-in/key"
    token = csrf_from(client.get("/sign-in/key").get_data(as_text=True))
    options = client.post("/sign-in/key/options", headers={"X-CSRFToken": token}).get_json()
    done = client.post("/sign-in/key/verify", json={"credential": key.get(options["options"])},
                       headers={"X-CSRFToken": token})
    assert done.status_code == 200, done.get_data(as_text=True)
    assert client.get("/").status_code == 200


def copy_of(app: Flask, client: FlaskClient) -> FlaskClient:
    """Another browser holding a copy of the client's session cookie (a stolen one)."""
    other = app.test_client()
    cookie = client.get_cookie(COOKIE)
    assert cookie is not None
    other.set_cookie(COOKIE, cookie.value)
    return other


def cookie_token(client: FlaskClient) -> str:
    with client.session_transaction() as stored:
        return stored[signin_state.CONSOLE_SESSION_KEY]


def row_of(core: Bastion, client: FlaskClient) -> ConsoleSession:
    """The row of the client's session (read before the client is signed out: signing out
    clears the cookie)."""
    return reloaded(core, hashlib.sha256(cookie_token(client).encode()).hexdigest())


def reloaded(core: Bastion, session_id: str) -> ConsoleSession:
    with core.db.session() as db:
        row = db.get(ConsoleSession, session_id)
        assert row is not None
        db.expunge(row)
        return row


def post_form(client: FlaskClient, page: str, action: str, data: dict[str, str] | None = None):  # type: ignore[no-untyped-def]
    token = csrf_from(client.get(page).get_data(as_text=True))
    return client.post(action, data={**(data or {}), "csrf_token": token})


def signed_out(client: FlaskClient) -> bool:
    response = client.get("/")
    return response.status_code == 302 and response.location.startswith("/sign-in")


@pytest.fixture
def client(app: Flask) -> FlaskClient:
    """Not conftest's client, which keeps its last request's context open (``with``): a
    second client's request would then share its ``g``, identity included."""
    return app.test_client()


@pytest.fixture
def alice_key(core: Bastion, people: People) -> SoftAuthenticator:
    return soft_key(core, people.approver)


def test_only_the_hash_of_the_token_is_stored(app: Flask, client: FlaskClient, core: Bastion,
                                              people: People, alice_key) -> None:
    sign_in(client, "alice", alice_key)
    token = cookie_token(client)
    assert len(token) >= 40
    with core.db.session() as db:
        rows = db.scalars(select(ConsoleSession)).all()
        assert len(rows) == 1
        row = rows[0]
        assert row.id == hashlib.sha256(token.encode()).hexdigest() != token
        values = [getattr(row, column.key) for column in ConsoleSession.__table__.columns]
        assert not any(token in str(value) for value in values)
        assert (row.principal_kind, row.principal_id) == ("staff", people.approver)
        assert row.client_address == "127.0.0.1" and row.user_agent.startswith("Werkzeug")
        assert row.expires_at - row.created_at == timedelta(seconds=signin_state.ABSOLUTE_SECONDS)
        assert row.revoked_at is None


def test_a_copied_cookie_stops_working_after_sign_out(app: Flask, client: FlaskClient,
                                                      core: Bastion, people: People,
                                                      alice_key) -> None:
    sign_in(client, "alice", alice_key)
    thief = copy_of(app, client)
    assert thief.get("/").status_code == 200  # a copy works while the session lives...
    page = client.get("/").get_data(as_text=True)
    assert client.post("/sign-out", data={"csrf_token": csrf_from(page)}).location == "/sign-in"
    assert signed_out(thief)  # ...and not a moment after
    with core.db.session() as db:
        row = db.scalars(select(ConsoleSession)).one()
        assert row.revoked_at is not None and row.revoked_reason == "signed out"
        event = db.scalars(select(AuditEvent).where(AuditEvent.action == "staff.signed_out")).one()
        assert event.details["session"] == row.id[:12]


def test_sign_out_all_other_sessions(app: Flask, client: FlaskClient, core: Bastion,
                                     people: People, alice_key) -> None:
    sign_in(client, "alice", alice_key)
    laptop = app.test_client()
    sign_in(laptop, "alice", alice_key)
    page = client.get("/account/sessions").get_data(as_text=True)
    assert page.count("Déconnecter cette connexion") == 2 and "(cette connexion)" in page
    response = post_form(client, "/account/sessions", "/account/sessions/revoke-others")
    assert response.location == "/account/sessions"
    assert signed_out(laptop)
    assert client.get("/").status_code == 200  # the session that asked lives on
    assert client.get("/account/sessions").get_data(as_text=True).count(
        "Déconnecter cette connexion") == 1
    with core.db.session() as db:
        event = db.scalars(select(AuditEvent).where(
            AuditEvent.action == "console_session.revoked")).one()
        assert event.actor == "staff:alice"
        assert event.reasons == ["other sessions signed out by their owner"]
        assert event.details["owner"] == "staff:alice"


def test_sign_out_one_session_from_the_list(app: Flask, client: FlaskClient, core: Bastion,
                                            people: People, alice_key) -> None:
    sign_in(client, "alice", alice_key)
    laptop = app.test_client()
    sign_in(laptop, "alice", alice_key)
    ref = row_of(core, laptop).id[:12]
    # Someone else's session (or a made-up one) is not found.
    bob = app.test_client()
    with bob.session_transaction() as stored:
        stored.update(session_for(app, "admin", people))
    bob_ref = row_of(core, bob).id[:12]
    assert post_form(client, "/account/sessions",
                     f"/account/sessions/{bob_ref}/revoke").status_code == 404
    assert bob.get("/").status_code == 200
    response = post_form(client, "/account/sessions", f"/account/sessions/{ref}/revoke")
    assert response.location == "/account/sessions"
    assert signed_out(laptop) and client.get("/").status_code == 200
    # Signing out the session in use from the list is a sign-out.
    own = row_of(core, client).id[:12]
    assert post_form(client, "/account/sessions",
                     f"/account/sessions/{own}/revoke").location == "/sign-in"
    assert signed_out(client)
    assert audit_actions(core, "console_session.revoked") == [("console_session.revoked", "ok", "staff:alice")] * 2


def test_disabling_an_account_ends_its_live_session_at_once(app: Flask, client: FlaskClient,
                                                            core: Bastion, people: People,
                                                            alice_key) -> None:
    alice = app.test_client()
    sign_in(alice, "alice", alice_key)
    session_id = row_of(core, alice).id
    with client.session_transaction() as stored:
        stored.update(session_for(app, "admin", people))
    page = f"/admin/staff/{people.approver}"
    assert "Werkzeug" in client.get(page).get_data(as_text=True)  # the admin sees it
    post_form(client, page, f"{page}/active")
    with core.db.session() as db:
        assert db.get(StaffUser, people.approver).active is False
    # Re-enabling the account at once does not bring the session back.
    post_form(client, page, f"{page}/active")
    assert signed_out(alice)
    assert reloaded(core, session_id).revoked_reason == "account disabled"
    with core.db.session() as db:
        event = db.scalars(select(AuditEvent).where(
            AuditEvent.action == "console_session.revoked")).one()
        assert (event.actor, event.reasons) == ("staff:bob", ["account disabled"])


def test_removing_a_role_ends_the_sessions(app: Flask, client: FlaskClient, core: Bastion,
                                           people: People, alice_key) -> None:
    alice = app.test_client()
    sign_in(alice, "alice", alice_key)
    session_id = row_of(core, alice).id
    with client.session_transaction() as stored:
        stored.update(session_for(app, "admin", people))
    page = f"/admin/staff/{people.approver}"
    post_form(client, page, page, {"roles": ["approver", "dpo"]})  # adding one: it waits
    assert alice.get("/").status_code == 200
    with core.db.session() as db:  # as a second person's confirmation would
        db.add(StaffRole(staff_id=people.approver, role="dpo"))
    post_form(client, page, page, {"roles": ["dpo"]})
    assert signed_out(alice)
    assert reloaded(core, session_id).revoked_reason == "roles removed: approver"


def test_an_admin_signs_out_one_session_or_all(app: Flask, client: FlaskClient, core: Bastion,
                                               people: People, alice_key) -> None:
    phone, laptop = app.test_client(), app.test_client()
    sign_in(phone, "alice", alice_key)
    sign_in(laptop, "alice", alice_key)
    with client.session_transaction() as stored:
        stored.update(session_for(app, "admin", people))
    page = f"/admin/staff/{people.approver}"
    session_id = row_of(core, phone).id
    assert post_form(client, page, f"{page}/sessions/{session_id[:12]}/revoke").location == page
    assert signed_out(phone) and laptop.get("/").status_code == 200
    assert reloaded(core, session_id).revoked_reason == "signed out by an administrator"
    post_form(client, page, f"{page}/sessions/revoke-all")
    assert signed_out(laptop)
    assert client.get("/").status_code == 200  # the admin's own session is untouched
    assert ("console_session.revoked", "ok", "staff:bob") in audit_actions(core)


def test_idle_is_judged_on_the_database_row(app: Flask, client: FlaskClient, core: Bastion,
                                            people: People, alice_key) -> None:
    sign_in(client, "alice", alice_key)
    session_id = row_of(core, client).id

    def seen(ago: timedelta) -> None:
        with core.db.session() as db:
            db.get(ConsoleSession, session_id).last_seen_at = utcnow() - ago

    # Touched at most once a minute: a recent activity is not written again...
    seen(timedelta(seconds=30))
    assert client.get("/").status_code == 200
    assert utcnow() - row_of(core, client).last_seen_at >= timedelta(seconds=30)
    # ...an older one is.
    seen(timedelta(minutes=5))
    assert client.get("/").status_code == 200
    assert utcnow() - row_of(core, client).last_seen_at < timedelta(seconds=30)
    # Idle by the row (15 minutes, plus the minute the touch may lag), even though the
    # cookie's own clock says the visitor was just here (a copied cookie in active use).
    seen(timedelta(minutes=16, seconds=30))
    assert client.get("/").status_code == 302
    assert reloaded(core, session_id).revoked_reason == "idle"
    assert ("staff.signed_out", "ok", "staff:alice") in audit_actions(core)
    assert signed_out(client)


def test_the_absolute_limit_is_judged_on_the_database_row(client: FlaskClient, core: Bastion,
                                                          people: People, alice_key) -> None:
    sign_in(client, "alice", alice_key)
    session_id = row_of(core, client).id
    with core.db.session() as db:
        db.get(ConsoleSession, session_id).expires_at = utcnow() - timedelta(seconds=1)
    assert signed_out(client)
    assert reloaded(core, session_id).revoked_reason == "expired"


def test_a_session_that_cannot_be_checked_is_signed_out(client: FlaskClient, core: Bastion,
                                                        people: People, alice_key,
                                                        monkeypatch: pytest.MonkeyPatch) -> None:
    sign_in(client, "alice", alice_key)

    def broken(*args: object, **kwargs: object) -> None:
        raise RuntimeError("database unreachable")

    monkeypatch.setattr("web.identity.check_session", broken)
    assert signed_out(client)
    monkeypatch.undo()
    assert signed_out(client)  # and stays so: the cookie was cleared


def test_a_deleted_row_signs_out(client: FlaskClient, core: Bastion, people: People,
                                 alice_key) -> None:
    sign_in(client, "alice", alice_key)
    with core.db.session() as db:
        db.delete(db.scalars(select(ConsoleSession)).one())
    assert signed_out(client)


def test_api_tokens_do_not_use_console_sessions(app: Flask, client: FlaskClient, core: Bastion,
                                                people: People, alice_key) -> None:
    token = create_token(core, name="ticketing", staff_username="alice", actor=TEST_ACTOR)[1]
    api = app.test_client()
    assert api.get("/api/v1/grants", headers={"Authorization": f"Bearer {token}"}).status_code == 200
    with core.db.session() as db:
        assert db.scalar(select(func.count()).select_from(ConsoleSession)) == 0
    # The console's own API calls ride on the session cookie, and end with it.
    sign_in(client, "alice", alice_key)
    thief = copy_of(app, client)
    assert thief.get("/api/v1/grants").status_code == 200
    post_form(client, "/", "/sign-out")
    assert thief.get("/api/v1/grants").status_code == 401
    assert api.get("/api/v1/grants", headers={"Authorization": f"Bearer {token}"}).status_code == 200


def test_ended_sessions_are_deleted_after_thirty_days(client: FlaskClient, core: Bastion,
                                                      people: People, alice_key) -> None:
    sign_in(client, "alice", alice_key)
    now = utcnow()
    with core.db.session() as db:
        live = db.scalars(select(ConsoleSession)).one().id
        for name, revoked, expires in (("a" * 64, now - RETENTION - timedelta(hours=1), now),
                                       ("b" * 64, now - RETENTION + timedelta(hours=1), now),
                                       ("c" * 64, None, now - RETENTION - timedelta(hours=1))):
            db.add(ConsoleSession(id=name, principal_kind="staff", principal_id=people.approver,
                                  created_at=now - timedelta(days=40), last_seen_at=now,
                                  expires_at=expires, revoked_at=revoked))
    assert purge_ended(core) == 2
    with core.db.session() as db:
        assert sorted(db.scalars(select(ConsoleSession.id))) == sorted([live, "b" * 64])


# --- behind a TLS reverse proxy ([web] trusted_proxies) ----------------------------------

FORWARDED = {"X-Forwarded-For": "203.0.113.7", "X-Forwarded-Proto": "https",
             "X-Forwarded-Host": "bastion.example-hopital.fr"}


def proxied_app(core: Bastion, hops: int) -> Flask:
    core.settings = core.settings.with_changes("web", trusted_proxies=hops)
    app = create_app(core, {"TESTING": True})

    @public()
    def probe() -> dict[str, str]:  # what the console believes of the request
        return {"address": request.remote_addr or "", "scheme": request.scheme,
                "external": url_for("auth.sign_in", _external=True)}

    app.add_url_rule("/probe", view_func=probe)
    return app


@pytest.mark.parametrize(("hops", "address"), [(1, "203.0.113.7"), (0, "127.0.0.1")])
def test_forwarded_addresses_are_believed_only_from_trusted_proxies(
        core: Bastion, people: People, alice_key, hops: int, address: str) -> None:
    app = proxied_app(core, hops)
    client = app.test_client()
    client.environ_base.update({f"HTTP_{k.upper().replace('-', '_')}": v
                                for k, v in FORWARDED.items()})
    sign_in(client, "alice", alice_key)
    with core.db.session() as db:
        event = db.scalars(select(AuditEvent).where(AuditEvent.action == "staff.signed_in")).one()
        assert event.details["address"] == address
    assert row_of(core, client).client_address == address
    probe = client.get("/probe").get_json()
    assert probe["address"] == address
    if hops:
        assert probe["external"] == "https://bastion.example-hopital.fr/sign-in"
    else:
        assert probe["scheme"] == "http" and probe["external"] == "http://localhost/sign-in"


# --- technicians (vendor portal) ---------------------------------------------------------

def test_technician_portal_sessions_are_rows_too(core: Bastion, tmp_path) -> None:
    from tests.approvals.conftest import build_world, contract_document, load_contract

    from .test_portal import setup_technician
    from .test_portal import sign_in as portal_sign_in

    build_world(core, tmp_path)
    app = create_app(core, {"TESTING": True})
    totp = setup_technician(core, "jdupont")
    assert totp is not None
    client = app.test_client()
    assert portal_sign_in(client, "jdupont", totp).status_code == 302
    row = row_of(core, client)
    assert (row.principal_kind, row.revoked_at) == ("technician", None)
    thief = copy_of(app, client)
    assert thief.get("/portal/requests").status_code == 200
    # Dropped from the vendor's contract: the technician's portal sessions end with it.
    document = contract_document()
    document["technicians"] = [t for t in document["technicians"] if t["id"] != "jdupont"]
    load_contract(core, document)
    assert thief.get("/portal/requests").status_code == 302
    assert reloaded(core, row.id).revoked_reason.startswith("removed from contract:ACME-1")


def test_technician_sign_out_ends_the_row(core: Bastion, tmp_path) -> None:
    from tests.approvals.conftest import build_world

    from .test_portal import setup_technician
    from .test_portal import sign_in as portal_sign_in

    build_world(core, tmp_path)
    app = create_app(core, {"TESTING": True})
    totp = setup_technician(core, "jdupont")
    assert totp is not None
    client = app.test_client()
    portal_sign_in(client, "jdupont", totp)
    session_id = row_of(core, client).id
    thief = copy_of(app, client)
    post_form(client, "/portal/requests", "/sign-out")
    assert thief.get("/portal/requests").status_code == 302
    assert reloaded(core, session_id).revoked_reason == "signed out"

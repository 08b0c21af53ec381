"""Sign-in, sessions and the protections around them (the WebAuthn steps themselves run
in a real browser in test_browser.py)."""

from __future__ import annotations

import time

from flask import Flask
from flask.testing import FlaskClient

from bastion.context import Bastion
from bastion.models import StaffUser
from web import create_app, signin_state
from web.access import safe_next
from web.throttle import Throttle, Verdict

from .conftest import PASSWORD, People, audit_actions, csrf_from, enrolment_token


def post_password(client: FlaskClient, username: str, password: str, next_url: str = ""):
    token = csrf_from(client.get("/sign-in").get_data(as_text=True))
    return client.post("/sign-in", data={"username": username, "password": password,
                                         "next": next_url, "csrf_token": token})


def test_a_password_alone_reaches_only_the_key_step(client: FlaskClient, people: People) -> None:
    response = post_password(client, "alice", PASSWORD, next_url="/vendors")
    assert response.status_code == 302 and response.location == "/sign-in/key"
    assert client.get("/sign-in/key").status_code == 200
    for page in ("/", "/vendors", "/account/keys", "/sign-in/enrol"):
        refused = client.get(page)
        assert refused.status_code == 302 and refused.location == "/sign-in/key", page
    assert client.post("/account/keys/options").status_code == 403


def test_a_first_sign_in_must_register_a_key_before_anything_else(client: FlaskClient, core: Bastion,
                                                                  people: People) -> None:
    # Only with the one-time enrolment link an admin issued (test_separation_of_duties.py).
    client.get(f"/enrol/{enrolment_token(core, people.keyless)}")
    response = post_password(client, "david", PASSWORD)
    assert response.location == "/sign-in/enrol"
    assert client.get("/").location == "/sign-in/enrol"
    assert client.get("/sign-in/key").location == "/sign-in/enrol"
    options = client.post("/sign-in/enrol/options", headers={"X-CSRFToken": csrf_from(
        client.get("/sign-in/enrol").get_data(as_text=True))})
    assert options.status_code == 200
    body = options.get_json()["options"]
    assert body["user"]["name"] == "david"
    assert body["authenticatorSelection"]["userVerification"] == "required"


def test_the_key_step_gives_options_for_the_staff_members_own_keys(client: FlaskClient,
                                                                   people: People) -> None:
    post_password(client, "alice", PASSWORD)
    token = csrf_from(client.get("/sign-in/key").get_data(as_text=True))
    options = client.post("/sign-in/key/options", headers={"X-CSRFToken": token}).get_json()["options"]
    assert len(options["allowCredentials"]) == 1
    refused = client.post("/sign-in/key/verify", json={"credential": {"id": "x"}},
                          headers={"X-CSRFToken": token})
    assert refused.status_code == 400
    assert refused.get_json()["error"]["code"] == "malformed_credential"
    assert client.get("/").location == "/sign-in/key"  # still not signed in


def test_wrong_passwords_lock_the_account_and_are_audited(client: FlaskClient, core: Bastion,
                                                          people: People) -> None:
    for _ in range(5):
        response = post_password(client, "bob", "not the password at all")
        assert response.status_code == 401
        assert "Échec de la connexion" in response.get_data(as_text=True)
    with core.db.session() as db:
        assert db.get(StaffUser, people.admin).locked_until is not None
    # Now even the right password is refused, with the same message.
    response = post_password(client, "bob", PASSWORD)
    assert response.status_code == 401
    refusals = [e for e in audit_actions(core, "staff.sign_in_refused") if e[2] == "staff:bob"]
    assert len(refusals) == 6
    unknown = post_password(client, "nobody", PASSWORD)
    assert unknown.status_code == 401  # same answer for an unknown user name


def test_many_attempts_from_one_address_are_slowed_down(core: Bastion, people: People) -> None:
    app = create_app(core, {"TESTING": True})
    app.extensions["sign_in_throttle"] = Throttle(3, 300)
    client = app.test_client()
    codes = [post_password(client, "alice", "wrong password!").status_code for _ in range(5)]
    assert codes == [401, 401, 401, 429, 429]
    # One audit event for the first refusal of the window, not one per request.
    assert len(audit_actions(core, "staff.sign_in_rate_limited")) == 1


def test_throttle_window_ends() -> None:
    throttle = Throttle(2, 10)
    assert [throttle.hit("a", t) for t in (0, 1, 2, 3)] == [
        Verdict.OK, Verdict.OK, Verdict.LIMITED_FIRST, Verdict.LIMITED]
    assert throttle.hit("b", 3) is Verdict.OK
    assert throttle.hit("a", 11.5) is Verdict.OK


def test_idle_visitors_are_signed_out_and_it_is_audited(app: Flask, client: FlaskClient,
                                                        core: Bastion, sign_in_as) -> None:
    sign_in_as("approver")
    assert client.get("/").status_code == 200
    with client.session_transaction() as stored:
        stored[signin_state.LAST_SEEN_KEY] = time.time() - 16 * 60
    response = client.get("/")
    assert response.status_code == 302 and response.location == "/sign-in"
    assert client.get("/").location.startswith("/sign-in")
    assert ("staff.signed_out", "ok", "staff:alice") in audit_actions(core)


def test_a_half_done_sign_in_expires(client: FlaskClient, people: People) -> None:
    post_password(client, "alice", PASSWORD)
    with client.session_transaction() as stored:
        stored[signin_state.PENDING_KEY]["since"] = time.time() - signin_state.PENDING_SECONDS - 1
        stored.modified = True
    assert client.get("/sign-in/key").location.startswith("/sign-in?next=")


def test_sign_out_is_a_post_with_csrf(client: FlaskClient, core: Bastion, sign_in_as) -> None:
    sign_in_as("dpo")
    page = client.get("/").get_data(as_text=True)
    assert client.get("/sign-out").status_code == 405
    assert client.post("/sign-out").status_code == 400  # no CSRF token
    assert client.get("/").status_code == 200
    response = client.post("/sign-out", data={"csrf_token": csrf_from(page)})
    assert response.location == "/sign-in"
    assert client.get("/").location.startswith("/sign-in")
    assert ("staff.signed_out", "ok", "staff:chloe") in audit_actions(core)


def test_forms_without_csrf_are_refused(client: FlaskClient, sign_in_as) -> None:
    sign_in_as("admin")
    response = client.post("/admin/staff/new", data={"username": "mallory", "full_name": "M",
                                                     "roles": "admin", "password": "x" * 20,
                                                     "confirm": "x" * 20})
    assert response.status_code == 400
    assert "Le formulaire a expiré" in response.get_data(as_text=True)


def test_a_disabled_account_is_signed_out_at_its_next_click(client: FlaskClient, core: Bastion,
                                                            people: People, sign_in_as) -> None:
    sign_in_as("approver")
    assert client.get("/").status_code == 200
    with core.db.session() as db:
        db.get(StaffUser, people.approver).active = False
    assert client.get("/").location.startswith("/sign-in")


def test_headers_and_cookie(client: FlaskClient, core: Bastion) -> None:
    response = client.get("/sign-in")
    csp = response.headers["Content-Security-Policy"]
    assert "script-src 'self'" in csp and "style-src 'self'" in csp
    assert "unsafe-inline" not in csp and "unsafe-eval" not in csp
    assert "frame-ancestors 'none'" in csp
    assert response.headers["X-Frame-Options"] == "DENY"
    assert response.headers["Referrer-Policy"] == "same-origin"
    assert response.headers["X-Content-Type-Options"] == "nosniff"
    assert response.headers["Cache-Control"] == "no-store"
    cookie = response.headers["Set-Cookie"]
    assert "HttpOnly" in cookie and "SameSite=Strict" in cookie and "Secure" not in cookie
    page = response.get_data(as_text=True)
    assert "<script>" not in page and " style=" not in page and "<style" not in page


def test_secure_cookies_behind_tls(core: Bastion) -> None:
    core.settings = core.settings.with_changes("web", secure_cookies=True)
    app = create_app(core, {"TESTING": True})
    response = app.test_client().get("/sign-in", base_url="https://localhost")
    assert "Secure" in response.headers["Set-Cookie"]
    assert response.headers["Strict-Transport-Security"].startswith("max-age=")


def test_next_is_only_ever_a_local_path() -> None:
    assert safe_next("/vendors?x=1") == "/vendors?x=1"
    for hostile in ("https://evil.example/", "//evil.example/", "/\\evil.example", "", None, "vendors"):
        assert safe_next(hostile) is None

"""Staff sign-in with an OpenID Connect provider started here (tests/harness/oidc_provider):
the authorization code flow with PKCE through the real console (Flask test client), the
security-key step that follows, and forged or replayed answers refused with a clear message
and an audit event."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

import pytest
from flask.testing import FlaskClient
from sqlalchemy import select
from webauthn import options_to_json

from bastion import approvals
from bastion.config import load_settings
from bastion.context import Bastion
from bastion.models import AuditEvent, RoleChange, StaffUser
from tests.conftest import SECOND_FACTOR_OFF, _initialised_core
from tests.harness.oidc_provider import CLIENT_ID, CLIENT_SECRET, Account, OidcProvider
from web import create_app

from .conftest import csrf_from, enrolment_token, make_staff, soft_key

PUBLIC_URL = "http://localhost:8080"


@pytest.fixture
def provider() -> Iterator[OidcProvider]:
    idp = OidcProvider(accounts={
        "amartin": Account("sub-0001", "amartin@hopital.example", "Alice Martin", ("dpi-approvers",)),
        "fcafe": Account("sub-0002", "fcafe", "Fanny Cafe", ("cafeteria",)),
    }, redirect_uris=(f"{PUBLIC_URL}/sign-in/oidc/callback",))
    with idp:
        yield idp


@pytest.fixture
def oidc_core(provider: OidcProvider, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Bastion]:
    monkeypatch.chdir(tmp_path)
    (tmp_path / "oidc-secret.txt").write_text(CLIENT_SECRET)
    config = tmp_path / "bastion.toml"
    config.write_text(f"""
[paths]
var_dir = "{tmp_path / 'var'}"
[web]
public_url = "{PUBLIC_URL}"
[oidc]
issuer = "{provider.issuer}"
client_id = "{CLIENT_ID}"
client_secret_file = "oidc-secret.txt"
scopes = ["openid", "profile", "email", "groups"]
label = "Hôpital (test)"
[oidc.role_groups]
approver = ["dpi-approvers"]
""")
    core = _initialised_core(load_settings(config, env=SECOND_FACTOR_OFF))
    yield core
    core.close()


@pytest.fixture
def client(oidc_core: Bastion) -> Iterator[FlaskClient]:
    with create_app(oidc_core, {"TESTING": True}).test_client() as test_client:
        yield test_client


def through_provider(client: FlaskClient, provider: OidcProvider, who: str) -> str:
    """Start at the console, follow the provider's redirect back; returns the callback URL."""
    provider.login_as = who
    start = client.get("/sign-in/oidc")
    assert start.status_code == 302 and start.location.startswith(provider.issuer + "/authorize")
    query = parse_qs(urlsplit(start.location).query)
    assert query["code_challenge_method"] == ["S256"] and query["nonce"][0] and query["state"][0]
    assert "code_verifier" not in query  # only its S256 digest leaves the console
    import requests

    back = requests.get(start.location, allow_redirects=False, timeout=10)
    assert back.status_code == 302 and back.headers["Location"].startswith(PUBLIC_URL)
    return back.headers["Location"][len(PUBLIC_URL):]


def refusals(core: Bastion) -> list[AuditEvent]:
    with core.db.session() as db:
        rows = db.scalars(select(AuditEvent).where(AuditEvent.action == "staff.sign_in_refused")
                          .order_by(AuditEvent.id)).all()
        db.expunge_all()
        return list(rows)


def test_oidc_sign_in_then_the_security_key(client: FlaskClient, oidc_core: Bastion,
                                            provider: OidcProvider) -> None:
    core = oidc_core
    page = client.get("/sign-in").get_data(as_text=True)
    assert "Hôpital (test)" in page and 'href="/sign-in/oidc' in page

    # First time: the account is created, its directory role waits for a confirmation.
    reply = client.get(through_provider(client, provider, "amartin"))
    assert reply.status_code == 302 and reply.location == "/sign-in"
    assert "attendent la confirmation" in client.get("/sign-in").get_data(as_text=True)
    with core.db.session() as db:
        alice = db.scalar(select(StaffUser).where(StaffUser.username == "amartin"))
        assert (alice.identity_source, alice.external_id) == ("oidc", f"{provider.issuer}|sub-0001")
        change = db.scalar(select(RoleChange).where(RoleChange.staff_id == alice.id))
        assert change.origin == "directory" and change.roles_after == ["approver"]
        alice_id, change_id = alice.id, change.id
    assert refusals(core)[-1].details == {"code": "roles_awaiting_confirmation", "step": "oidc",
                                          "source": "oidc", "external_id": f"{provider.issuer}|sub-0001",
                                          "address": "127.0.0.1"}

    admin = make_staff(core, "bob", ["admin"])
    admin_key = soft_key(core, admin)
    options = approvals.role_change_options(core, change_id, admin)
    approvals.confirm_role_change(core, change_id, admin, admin_key.get(options_to_json(options)))

    # Confirmed, but no security key yet: the admin's one-time enrolment link is needed.
    reply = client.get(through_provider(client, provider, "amartin"))
    assert reply.location == "/sign-in"
    assert "enrôlement à usage unique" in client.get("/sign-in").get_data(as_text=True)
    client.get(f"/enrol/{enrolment_token(core, alice_id)}")
    reply = client.get(through_provider(client, provider, "amartin"))
    assert reply.location == "/sign-in/enrol"

    # With a key: the provider's sign-in is followed by the key step, as after a password.
    key = soft_key(core, alice_id)
    reply = client.get(through_provider(client, provider, "amartin"))
    assert reply.location == "/sign-in/key"
    assert client.get("/").status_code == 302  # not signed in before the key
    token = {"X-CSRFToken": csrf_from(client.get("/sign-in/key").get_data(as_text=True))}
    options = client.post("/sign-in/key/options", headers=token).get_json()["options"]
    done = client.post("/sign-in/key/verify", json={"credential": key.get(options)}, headers=token)
    assert done.status_code == 200, done.get_json()
    assert client.get("/").status_code == 200
    with core.db.session() as db:
        signed = db.scalars(select(AuditEvent).where(AuditEvent.action == "staff.signed_in")).all()[-1]
        assert signed.details["method"] == "oidc+key" and signed.details["source"] == "oidc"
    assert provider.seen_challenges and all(m == "S256" for m, _ in provider.seen_challenges)


@pytest.mark.parametrize(("forgery", "reason"), [
    ("bad_signature", "signature does not verify against the provider's published keys"),
    ("wrong_audience", "issued for another client (audience)"),
    ("expired", "the ID token has expired"),
    ("replayed_nonce", "nonce is not this sign-in's (a replayed token)"),
    ("wrong_issuer", "comes from another issuer"),
])
def test_forged_id_tokens_are_refused_and_audited(client: FlaskClient, oidc_core: Bastion,
                                                  provider: OidcProvider, forgery: str,
                                                  reason: str) -> None:
    # An earlier, finished sign-in whose nonce a replay can carry.
    client.get(through_provider(client, provider, "fcafe"))
    provider.forge = forgery
    reply = client.get(through_provider(client, provider, "amartin"))
    assert reply.status_code == 302 and reply.location == "/sign-in"
    page = client.get("/sign-in").get_data(as_text=True)
    assert "La réponse du fournisseur d&#39;identité n&#39;a pas pu être vérifiée" in page
    event = refusals(oidc_core)[-1]
    assert event.details["code"] == "identity_token_invalid" and event.details["source"] == "oidc"
    assert reason in event.reasons[-1]
    with oidc_core.db.session() as db:  # the forged identity got no account
        assert db.scalar(select(StaffUser).where(StaffUser.username == "amartin")) is None


def test_a_replayed_or_foreign_callback_is_refused(client: FlaskClient, oidc_core: Bastion,
                                                   provider: OidcProvider) -> None:
    callback = through_provider(client, provider, "fcafe")
    assert client.get(callback).location == "/sign-in"
    assert refusals(oidc_core)[-1].details["code"] == "no_role_in_directory"
    # The same answer again: the flow was used up (without it, the console first reloads
    # the page from its own origin in case the cookie was held back, then refuses).
    assert "bounced=1" in client.get(callback).get_data(as_text=True)
    client.get(callback + "&bounced=1")
    assert "no sign-in in progress" in refusals(oidc_core)[-1].reasons[-1]
    # An answer with another state than the one this browser's sign-in holds.
    callback = through_provider(client, provider, "fcafe")
    forged = callback.replace("state=", "state=x")
    client.get(forged)
    assert "state does not match" in refusals(oidc_core)[-1].reasons[-1]


def test_back_from_the_provider_without_the_strict_cookie_bounces_once(
        oidc_core: Bastion, provider: OidcProvider) -> None:
    app = create_app(oidc_core, {"TESTING": True})
    cookieless = app.test_client()
    with app.test_client() as browser:
        callback = through_provider(browser, provider, "fcafe")
        page = cookieless.get(callback)
        assert page.status_code == 200 and "bounced=1" in page.get_data(as_text=True)
        assert "Set-Cookie" not in page.headers  # the real session cookie stays as it was
        assert refusals(oidc_core) == []  # nothing decided on the cookie-less request
        browser.get(callback + "&bounced=1")
        assert refusals(oidc_core)[-1].details["code"] == "no_role_in_directory"



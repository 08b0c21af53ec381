"""The console in headless Chromium: a first sign-in that registers a security key, every
page of every role (screenshots in test-artifacts/screenshots/), forms that change things,
English, sign-out, passkey sign-in, and key management, all with no CSP violation."""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest
from playwright.sync_api import Route

from bastion.context import Bastion
from bastion.models import AuditEvent, Target, WebAuthnCredential
from tests.conftest import _initialised_core, make_settings
from tests.harness.ports import free_port
from web import create_app

from .browser import LiveServer, Tab, chromium, open_enrolment_link, open_tab
from .conftest import PASSWORD, make_staff
from .seed import host_key_line, seed_activity, seed_inventory, seed_vendors

pytestmark = pytest.mark.skipif(not shutil.which("chromium") and not os.path.exists("/usr/bin/chromium"),
                                reason="Debian's chromium is not installed (scripts/system-deps.sh)")


@pytest.fixture
def live(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[tuple[Bastion, str]]:
    monkeypatch.chdir(tmp_path)
    port = free_port()
    # The WebAuthn relying party is the console's public URL: it must be what the browser uses.
    core = _initialised_core(make_settings(tmp_path, BASTION_WEB__PUBLIC_URL=f"http://localhost:{port}"))
    with LiveServer(create_app(core), port) as server:
        yield core, server.url
    core.close()


def sign_in_with_password(tab: Tab, username: str) -> None:
    tab.go("/sign-in")
    tab.page.fill("#username", username)
    tab.page.fill("#password", PASSWORD)
    tab.page.click("form[action='/sign-in'] button[type=submit]")


def test_first_sign_in_then_every_page(live: tuple[Bastion, str]) -> None:
    core, base = live
    seed_inventory(core)
    technicians = seed_vendors(core)
    seed_activity(core, technicians["jdupont"])
    make_staff(core, "bob", ["admin", "approver", "dpo"], with_key=False, full_name="Bob Bernard")

    with chromium() as browser:
        tab = open_tab(browser, base)
        page = tab.page
        tab.add_authenticator()

        tab.go("/")
        assert page.url.startswith(base + "/sign-in?next=/")
        assert tab.heading() == "Connexion"  # French by default
        tab.shot("01-sign-in")

        # A password alone opens nothing, not even the enrolment of a first key: that
        # takes the one-time link an administrator hands over.
        sign_in_with_password(tab, "bob")
        page.wait_for_load_state()
        assert "lien d'enrôlement à usage unique" in page.inner_text("body")
        assert tab.errors == ["Failed to load resource: the server responded with a status of "
                              "403 (FORBIDDEN)"]  # that refusal's own status, logged by Chromium
        tab.errors.clear()
        open_enrolment_link(tab, core, "bob")
        sign_in_with_password(tab, "bob")
        page.wait_for_url(base + "/sign-in/enrol")
        tab.shot("02-enrol-first-key")
        tab.go("/admin/staff")
        page.wait_for_url(base + "/sign-in/enrol")

        page.fill("#key-name", "Clé bleue")
        page.click("form[data-webauthn=register] button[type=submit]")
        page.wait_for_url(base + "/sign-in/key")
        tab.shot("03-key-step")
        assert len(tab.credentials()) == 1

        page.click("button[data-webauthn=sign-in]")
        page.wait_for_url(base + "/")
        assert "Bob Bernard" in tab.heading()
        assert "INC-4242" in page.inner_text("main")  # the pending request, for the approver
        tab.shot("04-home-admin-approver-dpo")

        pages = {
            "05-vendors": "/vendors",
            "06-targets": "/targets",
            "07-target-new": "/targets/new",
            "08-staff": "/admin/staff",
            "09-staff-new": "/admin/staff/new",
            "10-audit": "/audit",
            "11-audit-integrity": "/audit/integrity",
            "12-my-keys": "/account/keys",
            "13-preferences": "/account/preferences",
        }
        for name, path in pages.items():
            tab.go(path)
            assert page.url == base + path, f"{path} redirected to {page.url}"
            assert tab.heading(), path
            tab.shot(name)

        # Admin forms: add a target with a pasted host key, then an account on it.
        tab.go("/targets/new")
        page.fill("#name", "dpi-web-02")
        page.fill("#host", "10.20.0.42")
        page.fill("#host_key", host_key_line())
        page.fill("#accounts", "maint, webadmin")
        page.fill("#labels", "role=web\nenv=prod")
        page.check("input[name=data_categories][value=administrative]")
        page.click("main form button[type=submit]")
        page.wait_for_url(f"{base}/targets/*")
        assert "SHA256:" in page.inner_text("main")
        page.fill("#account", "backup")
        page.click("form[action$='/accounts'] button[type=submit]")
        page.wait_for_load_state()
        tab.shot("14-target-detail")
        with core.db.session() as db:
            target = db.query(Target).filter_by(name="dpi-web-02").one()
            assert sorted(a.name for a in target.accounts) == ["backup", "maint", "webadmin"]
            assert target.labels == {"role": "web", "env": "prod"}

        # Create a staff member, then look at their account page.
        tab.go("/admin/staff/new")
        page.fill("#username", "emma")
        page.fill("#full_name", "Emma Laurent")
        page.check("input[name=roles][value=approver]")
        page.fill("#password", "un mot de passe assez long")
        page.fill("#confirm", "un mot de passe assez long")
        page.click("main form button[type=submit]")
        page.wait_for_url(f"{base}/admin/staff/*")
        tab.shot("15-staff-edit")

        tab.go("/audit?action=staff.&outcome=ok")
        assert "staff.signed_in" in page.inner_text("table")
        tab.shot("16-audit-filtered")

        # English on request, from any page's footer.
        page.select_option("#lang-language", "en")
        page.click("footer button[type=submit]")
        page.wait_for_load_state()
        assert tab.heading() == "Audit log"
        tab.shot("17-audit-english")

        page.click("header form.who button[type=submit]")
        page.wait_for_url(base + "/sign-in")
        assert tab.heading() == "Sign in"

        # A passkey alone: the key registered above is discoverable.
        page.click("button[data-webauthn=sign-in]")
        page.wait_for_url(base + "/")
        assert "Bob Bernard" in tab.heading()

        assert tab.errors == []  # no CSP violation, no script error on any page

    with core.db.session() as db:
        actions = [e.action for e in db.query(AuditEvent).order_by(AuditEvent.id)]
    assert actions.count("staff.signed_in") == 2
    for action in ("staff.security_key_registered", "staff.signed_out", "target.created",
                   "target.account_added", "staff.created"):
        assert action in actions


def test_adding_or_revoking_a_key_takes_a_key_already_held(live: tuple[Bastion, str]) -> None:
    core, base = live
    make_staff(core, "alice", ["approver"], with_key=False, full_name="Alice Martin")
    with chromium() as browser:
        tab = open_tab(browser, base)
        page = tab.page
        tab.add_authenticator()
        open_enrolment_link(tab, core, "alice")
        sign_in_with_password(tab, "alice")
        page.wait_for_url(base + "/sign-in/enrol")
        page.click("form[data-webauthn=register] button[type=submit]")
        page.wait_for_url(base + "/sign-in/key")
        page.click("button[data-webauthn=sign-in]")
        page.wait_for_url(base + "/")

        tab.go("/account/keys")
        assert "Votre dernière clé ne peut pas être révoquée." in page.inner_text("main")

        # A second key: the browser first signs with the key alice holds, then creates the
        # new one. The first authenticator is unplugged between the two steps and a new
        # one plugged in, as a person swaps keys when the page asks for the new one.
        def swap_keys(route: Route) -> None:
            response = route.fetch()
            tab.remove_authenticator()
            tab.add_authenticator()
            route.fulfill(response=response)

        page.route("**/account/keys/confirm", swap_keys)
        page.fill("#key-name", "Clé de secours")
        with page.expect_navigation(url=base + "/account/keys"):
            page.click("form[data-webauthn=register] button[type=submit]")
        page.unroute("**/account/keys/confirm")
        assert "Clé de secours" in page.inner_html("main")
        with core.db.session() as db:
            first, spare = db.query(WebAuthnCredential).order_by(WebAuthnCredential.id).all()
            first_id = first.id
            assert spare.name == "Clé de secours"
        tab.shot("18-my-keys-two")

        # Revoking the first key (no longer plugged in) is confirmed with the spare one; the
        # revoked key stays listed, the spare one is now the last and cannot be revoked.
        with page.expect_navigation(url=base + "/account/keys"):
            page.click(f"button[data-options-url='/account/keys/{first_id}/remove/options']")
        main = page.inner_text("main")
        assert "révoquée le" in main and "Votre dernière clé ne peut pas être révoquée." in main
        assert tab.errors == []
    with core.db.session() as db:
        assert db.get(WebAuthnCredential, first_id).revoked_at is not None
        actions = [e.action for e in db.query(AuditEvent).order_by(AuditEvent.id)]
    assert "staff.security_key_addition_confirmed" in actions
    assert "staff.security_key_revoked" in actions

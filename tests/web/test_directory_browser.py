"""In headless Chromium: an approver of the hospital directory (a real slapd) signs in with
their directory password, registers a first security key through the admin's one-time
enrolment link (Chromium's virtual authenticator), and approves a request with that key:
the directory replaces the password, never the key."""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path

import pytest
from sqlalchemy import select
from webauthn import options_to_json

from bastion import approvals
from bastion.audit import Actor
from bastion.config import load_settings
from bastion.context import Bastion
from bastion.models import AuditEvent, RoleChange, StaffUser, utcnow
from tests.conftest import SECOND_FACTOR_OFF, _initialised_core
from tests.directory.conftest import DIRECTORY_PEOPLE, ldap_toml
from tests.harness.ports import free_port
from tests.harness.slapd import SlapdServer
from web import create_app

from .browser import LiveServer, chromium, open_enrolment_link, open_tab
from .conftest import make_staff, soft_key
from .seed import seed_inventory, seed_vendors

pytestmark = pytest.mark.skipif(not shutil.which("chromium") and not os.path.exists("/usr/bin/chromium"),
                                reason="Debian's chromium is not installed (scripts/system-deps.sh)")

ALICE_PASSWORD = "alice's directory password"


@pytest.fixture
def live(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[tuple[Bastion, str]]:
    monkeypatch.chdir(tmp_path)
    slapd = SlapdServer(people=list(DIRECTORY_PEOPLE)).start()
    port = free_port()
    try:
        settings = load_settings(ldap_toml(slapd, tmp_path), env={
            **SECOND_FACTOR_OFF, "BASTION_WEB__PUBLIC_URL": f"http://localhost:{port}"})
        core = _initialised_core(settings)
        with LiveServer(create_app(core), port) as server:
            yield core, server.url
        core.close()
    finally:
        slapd.stop()


def test_a_directory_approver_signs_in_enrols_a_key_and_approves(live: tuple[Bastion, str]) -> None:
    core, base = live
    seed_inventory(core)
    seed_vendors(core, at_all_hours=True)
    dpo = make_staff(core, "chloe", ["dpo"], full_name="Chloé Petit")
    request = approvals.file_request(
        core, technician="jdupont", target="dpi-app-01", window_end=utcnow() + timedelta(hours=1),
        channels=["shell"], reason="Mise à jour du module d'admission", ticket="INC-7001",
        source="portal", actor=Actor("technician:jdupont", "technician"))

    with chromium() as browser:
        tab = open_tab(browser, base)
        page = tab.page
        tab.add_authenticator()

        def directory_sign_in() -> None:
            tab.go("/sign-in")
            assert "annuaire de l'hôpital" in page.inner_text("main")
            page.fill("#username", "amartin")
            page.fill("#password", ALICE_PASSWORD)
            page.click("form[action='/sign-in'] button[type=submit]")
            page.wait_for_load_state()

        # 1. First sign-in: the directory's group gives the approver role, which waits for
        # a second person's confirmation; nothing opens meanwhile.
        directory_sign_in()
        assert "attendent la confirmation" in page.inner_text("main")
        tab.shot("dir-01-role-awaiting-confirmation")
        with core.db.session() as db:
            change_id = db.scalar(select(RoleChange.id).where(RoleChange.origin == "directory"))
            alice = db.scalar(select(StaffUser).where(StaffUser.username == "amartin")).id
        # The DPO confirms it with their key (which also spares the new approver's probation).
        key = soft_key(core, dpo)
        options = approvals.role_change_options(core, change_id, dpo)
        approvals.confirm_role_change(core, change_id, dpo, key.get(options_to_json(options)))

        # 2. No key yet: the directory password alone enrols none without the admin's link.
        directory_sign_in()
        assert "enrôlement à usage unique" in page.inner_text("main")
        open_enrolment_link(tab, core, "amartin")
        directory_sign_in()
        page.wait_for_url(base + "/sign-in/enrol")
        page.fill("#key-name", "Clé d'Alice")
        page.click("form[data-webauthn=register] button[type=submit]")
        page.wait_for_url(base + "/sign-in/key")
        page.click("button[data-webauthn=sign-in]")
        page.wait_for_url(base + "/")
        assert "Alice Martin" in tab.heading()
        tab.shot("dir-02-signed-in")

        # 3. A passkey alone would skip the directory: refused for a directory account.
        page.click("header form.who button[type=submit]")
        page.wait_for_url(base + "/sign-in")
        page.click("button[data-webauthn=sign-in]")
        page.wait_for_selector(".webauthn-status >> text=annuaire de l'hôpital")
        directory_sign_in()
        page.wait_for_url(base + "/sign-in/key")
        page.click("button[data-webauthn=sign-in]")
        page.wait_for_url(base + "/")

        # 4. Approve with the key.
        tab.go(f"/requests/{request.id}")
        assert "INC-7001" in page.inner_text("main")
        with page.expect_navigation(url=f"{base}/requests/{request.id}"):
            page.click("button[data-webauthn=approve]")
        assert f"Demande {request.id} approuvée" in page.inner_text("main")
        tab.shot("dir-03-request-approved")
        # Chromium logs the refusals' HTTP statuses (the sign-in page's 403s); nothing else.
        assert [e for e in tab.errors if "403" not in e] == [], tab.errors

    assert approvals.get_request(core, request.id).status == "approved"
    with core.db.session() as db:
        signed = db.scalars(select(AuditEvent).where(AuditEvent.action == "staff.signed_in")
                            .order_by(AuditEvent.id)).all()
        assert [e.details["method"] for e in signed] == ["ldap+key", "ldap+key"]
        refused = db.scalars(select(AuditEvent).where(AuditEvent.action == "staff.sign_in_refused")
                             ).all()
        assert {e.details["code"] for e in refused} >= {"roles_awaiting_confirmation",
                                                       "enrolment_link_invalid",
                                                       "directory_sign_in_required"}
        approved = db.scalars(select(AuditEvent).where(AuditEvent.action.like("request.approved%"))).all()
        assert approved and approved[-1].actor == "staff:amartin"
    assert alice


def test_an_oidc_sign_in_comes_back_through_the_strict_cookie_and_asks_for_the_key(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The provider (127.0.0.1) is another site than the console (localhost): Chromium
    withholds the SameSite=Strict cookie on the redirect back, and the console's one
    same-origin reload brings it."""
    from tests.harness.oidc_provider import CLIENT_ID, CLIENT_SECRET, Account, OidcProvider

    monkeypatch.chdir(tmp_path)
    port = free_port()
    base = f"http://localhost:{port}"
    provider = OidcProvider(accounts={"amartin": Account("sub-1", "amartin", "Alice Martin",
                                                         ("dpi-approvers",))},
                            login_as="amartin", redirect_uris=(f"{base}/sign-in/oidc/callback",),
                            interactive=True)
    (tmp_path / "oidc-secret.txt").write_text(CLIENT_SECRET)
    (tmp_path / "bastion.toml").write_text(f"""
[paths]
var_dir = "{tmp_path / 'var'}"
[web]
public_url = "{base}"
[oidc]
issuer = "{provider.issuer}"
client_id = "{CLIENT_ID}"
client_secret_file = "oidc-secret.txt"
label = "Hôpital"
[oidc.role_groups]
approver = ["dpi-approvers"]
""")
    core = _initialised_core(load_settings(tmp_path / "bastion.toml", env=SECOND_FACTOR_OFF))
    dpo = make_staff(core, "chloe", ["dpo"], full_name="Chloé Petit")
    try:
        with provider, LiveServer(create_app(core), port), chromium() as browser:
            tab = open_tab(browser, base)
            page = tab.page
            tab.add_authenticator()
            visited: list[str] = []
            page.on("request", lambda r: visited.append(r.url) if r.is_navigation_request() else None)
            tab.go("/sign-in")
            page.click("#oidc-sign-in")
            page.click("#idp-sign-in")  # at the provider's own login page
            page.wait_for_url(base + "/sign-in")
            assert "attendent la confirmation" in page.inner_text("main")
            with core.db.session() as db:
                change_id = db.scalar(select(RoleChange.id))
            key = soft_key(core, dpo)
            options = approvals.role_change_options(core, change_id, dpo)
            approvals.confirm_role_change(core, change_id, dpo, key.get(options_to_json(options)))

            open_enrolment_link(tab, core, "amartin")
            page.click("#oidc-sign-in")
            page.click("#idp-sign-in")
            page.wait_for_url(base + "/sign-in/enrol")
            page.fill("#key-name", "Clé d'Alice")
            page.click("form[data-webauthn=register] button[type=submit]")
            page.wait_for_url(base + "/sign-in/key")
            page.click("button[data-webauthn=sign-in]")
            page.wait_for_url(base + "/")
            assert "Alice Martin" in tab.heading()
            tab.shot("dir-04-oidc-signed-in")
            # Each return from the provider came back cookie-less, then once more from here.
            assert len([u for u in visited if "/sign-in/oidc/callback" in u and "bounced=1" in u]) == 2
            assert [e for e in tab.errors if "403" not in e] == [], tab.errors
        with core.db.session() as db:
            signed = db.scalars(select(AuditEvent).where(AuditEvent.action == "staff.signed_in")).all()
            assert [e.details["method"] for e in signed] == ["oidc+key"]
    finally:
        core.close()

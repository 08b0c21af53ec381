"""The campaign pages in headless Chromium (Debian's, with a virtual security key): an
admin signs in, opens a campaign from the form, confirms one access and revokes another
(accepting the confirmation dialog), and sees the campaign on the home page; no CSP
violation or script error on the way. Screenshots in test-artifacts/screenshots/."""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest

from bastion.access_review import get_campaign, list_campaigns
from bastion.context import Bastion
from tests.access_review.conftest import tomorrow
from tests.approvals.conftest import PASSWORD, build_world
from tests.conftest import _initialised_core, make_settings
from tests.harness.ports import free_port
from tests.web.browser import LiveServer, Tab, chromium, open_enrolment_link, open_tab
from web import create_app

pytestmark = pytest.mark.skipif(not shutil.which("chromium") and not os.path.exists("/usr/bin/chromium"),
                                reason="Debian's chromium is not installed (scripts/system-deps.sh)")


@pytest.fixture
def live(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[tuple[Bastion, str]]:
    monkeypatch.chdir(tmp_path)
    port = free_port()
    # WebAuthn binds to the console's public URL: it must be the one the browser uses.
    core = _initialised_core(make_settings(tmp_path, BASTION_WEB__PUBLIC_URL=f"http://localhost:{port}"))
    build_world(core, tmp_path)  # vendor acme and its contract; dave: admin, no key yet
    with LiveServer(create_app(core), port) as server:
        yield core, server.url
    core.close()


def first_sign_in(tab: Tab, username: str) -> None:
    page = tab.page
    tab.go("/sign-in")
    page.fill("#username", username)
    page.fill("#password", PASSWORD)
    page.click("form[action='/sign-in'] button[type=submit]")
    page.wait_for_url(tab.base + "/sign-in/enrol")
    page.fill("#key-name", "Clé de test")
    page.click("form[data-webauthn=register] button[type=submit]")
    page.wait_for_url(tab.base + "/sign-in/key")
    page.click("button[data-webauthn=sign-in]")
    page.wait_for_url(tab.base + "/")


def test_an_admin_runs_a_campaign_in_the_browser(live: tuple[Bastion, str]) -> None:
    core, base = live
    with chromium() as browser:
        tab = open_tab(browser, base)
        page = tab.page
        page.on("dialog", lambda dialog: dialog.accept())  # "Revoke this access now?"
        tab.add_authenticator()
        open_enrolment_link(tab, core, "dave")
        first_sign_in(tab, "dave")

        page.click("header nav a[href='/access-reviews']")
        page.wait_for_url(base + "/access-reviews")
        assert tab.heading() == "Revues des accès"
        page.select_option("#vendor", "acme")
        page.fill("#deadline", tomorrow().isoformat())
        page.fill("#note", "Revue annuelle 2026")
        tab.shot("access-review-01-index")
        page.click("form[action='/access-reviews'] button[type=submit]")
        page.wait_for_url(f"{base}/access-reviews/*")
        [campaign] = list_campaigns(core)
        assert tab.heading() == "Revue des accès 1 de Acme Santé SAS"
        assert page.locator("table.review-lines tbody tr").count() == 4

        row = page.locator("tr[data-line='jdupont+dpi-app-01+maint']")
        row.locator("input[name$='-comment']").fill("Toujours sous contrat")
        row.locator("button[type=submit]", has_text="Confirmer").click()
        page.wait_for_load_state()
        assert "Accès de Jean Dupont à maint@dpi-app-01 confirmé." in page.inner_text("main")

        row = page.locator("tr[data-line='kbenali+dpi-db-01+dbmaint']")
        row.locator("input[name$='-reason']").fill("N'intervient plus sur la base")
        row.locator("button[type=submit]", has_text="Révoquer").click()
        page.wait_for_load_state()
        assert "révoqué" in page.inner_text("tr[data-line='kbenali+dpi-db-01+dbmaint']")
        tab.shot("access-review-02-campaign")

        decisions = {(x.technician, x.target): x.decision for x in get_campaign(core, campaign.id).lines}
        assert decisions == {("jdupont", "dpi-app-01"): "confirmed", ("jdupont", "dpi-db-01"): "pending",
                             ("kbenali", "dpi-app-01"): "pending", ("kbenali", "dpi-db-01"): "revoked"}

        tab.go("/")
        block = page.inner_text("section[aria-labelledby=access-review-heading]")
        assert "2 accès sur 4 à confirmer" in block
        tab.shot("access-review-03-home")
        assert tab.errors == []  # no CSP violation, no script error

"""In headless Chromium: the DPO signs in with a security key, sees an overdue emergency
access on their home page, closes its review with a verdict, then opens a vendor's report
and its printable page (print stylesheet applied), with no CSP violation anywhere."""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path

import pytest

from bastion import breakglass
from bastion.context import Bastion
from bastion.models import utcnow
from tests.approvals.conftest import World
from tests.conftest import _initialised_core, make_settings
from tests.controls.test_period import open_session
from tests.harness.ports import free_port
from tests.web.browser import LiveServer, chromium, open_enrolment_link, open_tab
from tests.web.test_browser import sign_in_with_password
from web import create_app

from .conftest import JUSTIFICATION, build_break_glass_world

pytestmark = pytest.mark.skipif(not shutil.which("chromium") and not os.path.exists("/usr/bin/chromium"),
                                reason="Debian's chromium is not installed (scripts/system-deps.sh)")


@pytest.fixture
def live(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[tuple[World, str]]:
    monkeypatch.chdir(tmp_path)
    port = free_port()
    core: Bastion = _initialised_core(make_settings(
        tmp_path, BASTION_WEB__PUBLIC_URL=f"http://localhost:{port}"))
    world = build_break_glass_world(core, tmp_path)
    with LiveServer(create_app(core), port) as server:
        yield world, server.url
    core.close()


def test_the_dpo_closes_a_review_and_prints_a_report(live: tuple[World, str]) -> None:
    world, base = live
    now = utcnow()
    overdue = breakglass.declare_break_glass(world.core, technician="jdupont", target="dpi-db-01",
                                             justification=JUSTIFICATION, ticket="INC-99",
                                             now=now - timedelta(days=4))
    open_session(world.core, "dpi-db-01", now - timedelta(minutes=40), now - timedelta(minutes=10),
                 channels=("shell",))

    with chromium() as browser:
        tab = open_tab(browser, base)
        page = tab.page
        page.on("dialog", lambda dialog: dialog.accept())  # "close this review?"
        tab.add_authenticator()
        open_enrolment_link(tab, world.core, "diane")
        sign_in_with_password(tab, "diane")  # a DPO without a key yet: enrols one first
        page.wait_for_url(base + "/sign-in/enrol")
        page.fill("#key-name", "DPO key")
        page.click("form[data-webauthn=register] button[type=submit]")
        page.wait_for_url(base + "/sign-in/key")
        page.click("button[data-webauthn=sign-in]")
        page.wait_for_url(base + "/")

        page.click("nav >> text=Controls")
        page.wait_for_url(base + "/dpo")
        overdue_section = page.locator("section[aria-labelledby=overdue-heading]")
        assert "overdue" in overdue_section.inner_text() and "jdupont" in overdue_section.inner_text()
        tab.shot("bg-01-dpo-home-overdue")

        overdue_section.locator(f"a[href='/dpo/break-glass/{overdue.review_id}']").click()
        page.wait_for_url(base + f"/dpo/break-glass/{overdue.review_id}")
        assert JUSTIFICATION in page.inner_text("main")
        page.check("input[name=verdict][value=justified]")
        page.fill("#comment", "Admissions outage confirmed with the ward (INC-99).")
        tab.shot("bg-02-review-form")
        page.click("form[data-confirm] button[type=submit]")
        page.wait_for_selector(".flash-success")
        assert "The review is closed." in page.inner_text(".flash-success")
        assert "Admissions outage confirmed" in page.inner_text("main")
        tab.shot("bg-03-review-closed")
        assert breakglass.get_review(world.core, overdue.review_id).verdict == "justified"

        tab.go("/dpo")
        assert "No review is overdue." in page.inner_text("main")

        tab.go("/dpo/reports")
        page.select_option("#vendor", "acme")
        page.click("form.filters button[type=submit]")
        page.wait_for_selector("section.report")
        report = page.inner_text("section.report")
        assert "Acme Santé SAS" in report and "dpi-db-01" in report and "Health data" in report
        tab.shot("bg-04-report")
        page.click("text=Printable report")
        page.wait_for_selector("h1 >> text=Maintenance access report")
        assert page.is_visible("header.top")
        page.emulate_media(media="print")
        # The print stylesheet hides the console's chrome and the buttons.
        assert not page.is_visible("header.top") and not page.is_visible("button[data-print]")
        assert page.is_visible("section.report")
        tab.shot("bg-05-printable-report")
        assert tab.errors == []

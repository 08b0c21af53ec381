"""The DPO's pages with their charts in headless Chromium: the SVG charts draw under the
console's Content-Security-Policy (no violation logged), keep their size on screen and on
paper, and their tables print. Screenshots go to test-artifacts/screenshots/; with
DOCS_SCREENSHOTS=1 (scripts/dpo-screenshots.sh) they also replace docs/screenshots/*.png,
which docs/operations.md shows."""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path

import pytest

from bastion.audit.service import checkpoint as audit_checkpoint
from bastion.context import Bastion
from tests.approvals.conftest import World
from tests.breakglass.conftest import build_break_glass_world
from tests.conftest import _initialised_core, make_settings
from tests.harness.ports import free_port
from tests.web.browser import SCREENSHOTS, LiveServer, Tab, chromium, open_enrolment_link, open_tab
from tests.web.test_browser import sign_in_with_password
from web import create_app

from .test_dpo_charts import build_activity

pytestmark = pytest.mark.skipif(not shutil.which("chromium") and not os.path.exists("/usr/bin/chromium"),
                                reason="Debian's chromium is not installed (scripts/system-deps.sh)")

DOCS = Path(__file__).resolve().parents[2] / "docs" / "screenshots"
CHART_IDS = ("chart-sessions", "chart-sensitive-hours", "chart-flags", "chart-break-glass")


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


def shot(tab: Tab, name: str, *, full_page: bool = True) -> None:
    if full_page:
        tab.shot(name)
    else:  # the audit log's first screen: a full page of events is megabytes of PNG
        SCREENSHOTS.mkdir(parents=True, exist_ok=True)
        tab.page.screenshot(path=str(SCREENSHOTS / f"{name}.png"))
    if os.environ.get("DOCS_SCREENSHOTS") == "1":
        DOCS.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(SCREENSHOTS / f"{name}.png", DOCS / f"{name}.png")


def assert_charts_drawn(tab: Tab) -> None:
    for chart in CHART_IDS:
        box = tab.page.locator(f"svg#{chart}").bounding_box()
        assert box is not None and box["width"] > 300 and box["height"] > 150, (chart, box)
    # Bars are drawn with their palette colour, not the black a blocked style would leave.
    fill = tab.page.locator("svg#chart-sessions g.series").first.evaluate(
        "g => getComputedStyle(g).fill")
    assert fill == "rgb(29, 59, 92)", fill


def test_the_dpo_pages_with_charts(live: tuple[World, str]) -> None:
    world, base = live
    activity = build_activity(world.core)
    with chromium() as browser:
        tab = open_tab(browser, base, locale="en-GB")
        page = tab.page
        tab.add_authenticator()
        open_enrolment_link(tab, world.core, "diane")  # a DPO; English in her profile
        sign_in_with_password(tab, "diane")
        page.wait_for_url(base + "/sign-in/enrol")
        page.fill("#key-name", "DPO key")
        page.click("form[data-webauthn=register] button[type=submit]")
        page.wait_for_url(base + "/sign-in/key")
        page.click("button[data-webauthn=sign-in]")
        page.wait_for_url(base + "/")

        tab.go("/dpo")
        assert "Sessions per vendor per week" in page.inner_text("main")
        assert_charts_drawn(tab)
        # The numbers behind a chart open without script.
        page.click("#chart-sessions ~ details summary")
        assert page.is_visible("#chart-sessions ~ details table")
        shot(tab, "dpo-overview")

        start = (activity.monday - timedelta(weeks=10)).isoformat()
        tab.go(f"/dpo/reports?start={start}&end={activity.monday.isoformat()}")
        page.wait_for_selector("section.report")
        assert_charts_drawn(tab)
        shot(tab, "dpo-reports")

        page.click("text=Printable report")
        page.wait_for_selector("h1 >> text=Maintenance access report")
        page.wait_for_load_state()
        page.emulate_media(media="print")
        assert not page.is_visible("header.top")
        assert_charts_drawn(tab)
        assert page.is_visible("#chart-break-glass ~ details table")  # printed with its numbers
        shot(tab, "dpo-printable-report")
        page.emulate_media(media="screen")

        tab.go("/audit")
        assert "A staff member signed in to the console." in page.inner_text("table.audit")
        shot(tab, "audit-log", full_page=False)
        signed = audit_checkpoint(world.core)  # as `bastion audit checkpoint` does
        assert signed is not None
        tab.go("/audit/integrity")
        assert "What this check means" in page.inner_text("main")
        assert f"Newest signed checkpoint: event no. {signed.event_id}" in page.inner_text("main")
        shot(tab, "audit-integrity")
        assert tab.errors == []  # no CSP violation, no script error

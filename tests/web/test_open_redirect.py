"""Issue 13.5: the sign-in pages' ``next`` only ever leads to a page of this console.

Browsers drop tabs and line breaks inside a URL and read ``\\`` as ``/``, so a ``next`` of
``/<tab>/evil.example/phish`` is, to them, ``//evil.example/phish``: another site. The
browser test follows a real sign-in in Chromium; the client tests cover the staff and the
vendor sign-ins for each way of spelling another site.
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import quote

import pytest
from flask.testing import FlaskClient

from bastion.context import Bastion
from tests.conftest import _initialised_core, make_settings
from tests.harness.ports import free_port
from web import create_app

from .browser import LiveServer, chromium, open_enrolment_link, open_tab
from .conftest import PASSWORD, People, csrf_from, make_staff
from .test_portal import post, setup_technician

HOSTILE = [
    "/\t/evil.example/phish",
    "/\n/evil.example/phish",
    "/\r\n/evil.example/phish",
    "/\\evil.example/phish",
    "\\/evil.example/phish",
    "//evil.example/phish",
    "/ /evil.example/phish",
    "https://evil.example/phish",
    "javascript:alert(1)",
    "/\x00/evil.example",
    "evil.example/phish",
]


def hidden_next(html: str) -> str:
    marker = 'name="next" type="hidden" value="'
    if marker not in html:
        marker = 'id="next" name="next" type="hidden" value="'
    start = html.index(marker) + len(marker)
    return html[start:html.index('"', start)]


@pytest.mark.parametrize("target", HOSTILE)
def test_staff_sign_in_keeps_no_foreign_next(client: FlaskClient, people: People, target: str) -> None:
    page = client.get("/sign-in?next=" + quote(target, safe=""))
    assert page.status_code == 200
    assert hidden_next(page.get_data(as_text=True)) == ""
    # Posted straight, bypassing the page: the password step keeps nothing either.
    token = csrf_from(page.get_data(as_text=True))
    answer = client.post("/sign-in", data={"username": "alice", "password": PASSWORD,
                                           "next": target, "csrf_token": token})
    assert answer.status_code == 302 and answer.headers["Location"] == "/sign-in/key"
    with client.session_transaction() as stored:
        assert "next_url" not in stored


def test_staff_sign_in_keeps_a_local_next(client: FlaskClient, people: People) -> None:
    page = client.get("/sign-in?next=" + quote("/audit?page=2", safe=""))
    assert hidden_next(page.get_data(as_text=True)) == "/audit?page=2"


@pytest.mark.parametrize("target", HOSTILE)
def test_vendor_sign_in_lands_on_the_portal(core: Bastion, target: str) -> None:
    from tests.approvals.conftest import build_world
    build_world(core, Path(core.settings.var_dir))
    totp = setup_technician(core, "jdupont")
    assert totp is not None
    client = create_app(core, {"TESTING": True}).test_client()
    first = post(client, "/portal/sign-in", {"ident": "jdupont", "password": PASSWORD, "next": target},
                 page="/portal/sign-in?next=" + quote(target, safe=""))
    assert first.status_code == 302
    done = post(client, "/portal/sign-in/code", {"code": totp.now()})
    assert done.status_code == 302 and done.headers["Location"] == "/portal/requests"


def test_vendor_sign_in_returns_to_the_page_asked_for(core: Bastion) -> None:
    from tests.approvals.conftest import build_world
    build_world(core, Path(core.settings.var_dir))
    totp = setup_technician(core, "jdupont")
    assert totp is not None
    client = create_app(core, {"TESTING": True}).test_client()
    asked = client.get("/portal/grants")
    assert asked.status_code == 302
    assert asked.headers["Location"] == "/portal/sign-in?next=/portal/grants"
    page = client.get(asked.headers["Location"]).get_data(as_text=True)
    assert hidden_next(page) == "/portal/grants"
    first = post(client, "/portal/sign-in", {"ident": "jdupont", "password": PASSWORD,
                                             "next": "/portal/grants"})
    assert first.status_code == 302
    done = post(client, "/portal/sign-in/code", {"code": totp.now()})
    assert done.headers["Location"] == "/portal/grants"


@pytest.fixture
def live(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[tuple[Bastion, str]]:
    monkeypatch.chdir(tmp_path)
    port = free_port()
    core = _initialised_core(make_settings(tmp_path, BASTION_WEB__PUBLIC_URL=f"http://localhost:{port}"))
    with LiveServer(create_app(core), port) as server:
        yield core, server.url
    core.close()


@pytest.mark.skipif(not shutil.which("chromium") and not os.path.exists("/usr/bin/chromium"),
                    reason="Debian's chromium is not installed (scripts/system-deps.sh)")
def test_a_tab_in_next_does_not_leave_the_console_in_chromium(live: tuple[Bastion, str]) -> None:
    core, base = live
    make_staff(core, "bob", ["approver"], with_key=False, full_name="Bob Bernard")
    with chromium() as browser:
        tab = open_tab(browser, base)
        page = tab.page
        tab.add_authenticator()
        # Bob has no key yet: his administrator's one-time enrolment link comes first.
        open_enrolment_link(tab, core, "bob")
        tab.go("/sign-in?next=%2F%09%2Fevil.example%2Fphish")
        page.fill("#username", "bob")
        page.fill("#password", PASSWORD)
        page.click("form[action='/sign-in'] button[type=submit]")
        page.wait_for_url(base + "/sign-in/enrol")
        page.fill("#key-name", "Clé bleue")
        page.click("form[data-webauthn=register] button[type=submit]")
        page.wait_for_url(base + "/sign-in/key")
        page.click("button[data-webauthn=sign-in]")
        page.wait_for_url(lambda url: not url.startswith(base + "/sign-in"), timeout=15_000)
        assert page.url == base + "/", page.url
        assert "Bob Bernard" in tab.heading()

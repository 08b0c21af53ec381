"""The supervision pages in headless Chromium, end to end with real parts: an approver signs
in and registers a security key (Chromium's virtual authenticator), approves a request
with it, watches the technician's real ssh session (OpenSSH client in tmux, through the
proxy, to a real sshd) as it happens, terminates it (the technician's terminal shows it
closed), replays it and clicks a command in the timeline (the player's time moves there).
Then the DPO, read-only, finds the command by search and replays it. Screenshots of each
page go to test-artifacts/screenshots/."""

from __future__ import annotations

import os
import shutil
import time
from datetime import timedelta
from pathlib import Path

import pytest
from sqlalchemy import select

from bastion import approvals
from bastion.audit import Actor
from bastion.config import Settings
from bastion.context import Bastion
from bastion.models import AccessRequest, AuditEvent, RecordedCommand, Recording, SshSession, utcnow
from tests.conftest import make_settings
from tests.harness.ports import free_port
from tests.harness.tmux import TmuxSession
from tests.proxy.conftest import Scenario, scenario  # noqa: F401 - the fixture, used below
from web import create_app

from .browser import LiveServer, Tab, chromium, open_enrolment_link, open_tab
from .conftest import PASSWORD, make_staff

pytestmark = pytest.mark.skipif(not shutil.which("chromium") and not os.path.exists("/usr/bin/chromium"),
                                reason="Debian's chromium is not installed (scripts/system-deps.sh)")


@pytest.fixture
def console_port() -> int:
    return free_port()


@pytest.fixture
def settings(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, console_port: int) -> Settings:
    """The core's settings with the console's real address: WebAuthn binds to it."""
    monkeypatch.chdir(tmp_path)
    return make_settings(tmp_path, BASTION_WEB__PUBLIC_URL=f"http://localhost:{console_port}")


def wait_until(check, timeout: float = 20.0, what: str = "condition"):  # type: ignore[no-untyped-def]
    deadline = time.monotonic() + timeout
    while True:
        value = check()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"{what}: not true after {timeout} s")
        time.sleep(0.1)


def page_true(tab: Tab, expression: str, timeout: float = 10.0) -> None:
    """Wait until ``expression`` is true in the page. Polled from here: Playwright's own
    wait_for_function evaluates strings with eval, which the console's CSP forbids."""
    wait_until(lambda: tab.page.evaluate(expression), timeout, expression)


def first_sign_in(tab: Tab, username: str) -> None:
    """Password, then register a first key, then sign in with it (the enrolment)."""
    page = tab.page
    tab.go("/sign-in")
    page.fill("#username", username)
    page.fill("#password", PASSWORD)
    page.click("form[action='/sign-in'] button[type=submit]")
    page.wait_for_url(tab.base + "/sign-in/enrol")
    page.fill("#key-name", f"Clé de {username}")
    page.click("form[data-webauthn=register] button[type=submit]")
    page.wait_for_url(tab.base + "/sign-in/key")
    page.click("button[data-webauthn=sign-in]")
    page.wait_for_url(tab.base + "/")


def live_session(core: Bastion) -> int:
    def find() -> int | None:
        with core.db.session() as db:
            return db.scalar(select(SshSession.id).where(SshSession.status == "live"))
    return wait_until(find, what="a live session")


def test_approve_watch_terminate_replay(scenario: Scenario, tmux: TmuxSession,  # noqa: F811
                                        console_port: int) -> None:
    core = scenario.core
    make_staff(core, "alice", ["approver", "admin"], with_key=False, full_name="Alice Martin")
    make_staff(core, "erin", ["dpo"], with_key=False, full_name="Erin Leroux")
    # Planned work filed from the vendor portal: waiting for one approval.
    request = approvals.file_request(
        core, technician="jdupont", target="dpi-app-01", window_end=utcnow() + timedelta(hours=1),
        channels=["shell"], reason="Redémarrage du service d'admission", ticket="INC-4242",
        source="portal", actor=Actor("technician:jdupont", "technician"))

    with LiveServer(create_app(core), console_port) as server, chromium() as browser:
        tab = open_tab(browser, server.url)
        page = tab.page
        page.on("dialog", lambda dialog: dialog.accept())  # the "are you sure?" questions
        tab.add_authenticator()
        open_enrolment_link(tab, core, "alice")
        first_sign_in(tab, "alice")

        # 1. Approve the request with the key.
        tab.go("/requests")
        assert "Redémarrage du service d'admission" in page.inner_text("main")
        tab.shot("sup-01-requests")
        page.click(f"a[href='/requests/{request.id}']")
        page.wait_for_url(f"{server.url}/requests/{request.id}")
        assert "INC-4242" in page.inner_text("main") and "conforme au contrat" in page.inner_text("main")
        tab.shot("sup-02-request")
        with page.expect_navigation(url=f"{server.url}/requests/{request.id}"):
            page.click("button[data-webauthn=approve]")
        assert f"Demande {request.id} approuvée" in page.inner_text("main")
        tab.shot("sup-03-request-approved")
        assert approvals.get_request(core, request.id).status == "approved"

        # A refused approval says precisely why: here the request expired meanwhile.
        late = approvals.file_request(
            core, technician="jdupont", target="dpi-app-01",
            window_end=utcnow() + timedelta(hours=1), channels=["shell"],
            reason="Purge des journaux", source="portal",
            actor=Actor("technician:jdupont", "technician"))
        tab.go(f"/requests/{late.id}")
        with core.db.session() as db:
            db.get(AccessRequest, late.id).expires_at = utcnow() - timedelta(seconds=5)
        page.click("button[data-webauthn=approve]")
        page.wait_for_selector(".webauthn-status >> text=Cette demande a expiré sans décision")
        tab.shot("sup-03b-approval-refused")
        # The browser logs the refusal's HTTP status; nothing else may have gone wrong.
        assert [e for e in tab.errors if "409" not in e] == [], tab.errors
        tab.errors.clear()

        tab.go("/grants")
        assert "dpi-app-01" in page.inner_text("main")
        tab.shot("sup-04-grants")

        # 2. The technician connects; the approver watches what they do, as they do it.
        tmux.start(scenario.client.ssh_argv(scenario.user, "127.0.0.1", scenario.proxy.port,
                                            extra=["-t"]))
        # As a person does: wait for the prompt, type, then Enter (a carriage return).
        tmux.wait_for(r"\$ $")
        tmux.type("PS1='dpi> '")
        tmux.press("Enter")
        tmux.wait_for(r"^dpi> $")
        session_id = live_session(core)
        tab.go("/sessions/live")
        assert "Jean Dupont (jdupont)" in page.inner_text("main")
        tab.shot("sup-05-live-sessions")
        page.click(f"a[href='/sessions/{session_id}/watch']")
        page.fill("#purpose", "supervising the request just approved")  # said first
        page.click("form.purpose button[type=submit]")
        page.wait_for_url(f"{server.url}/sessions/{session_id}/watch?purpose=*")
        page_true(tab, "document.querySelector('#live-player').dataset.state === 'live'")
        tmux.type("echo watched-$((6*7))")
        tmux.press("Enter")
        tmux.wait_for(r"^watched-42$")
        page_true(tab, "document.querySelector('#live-player').innerText.includes('watched-42')")
        tab.shot("sup-06-watch-live")

        # 3. Terminate it: the technician's terminal says so.
        page.fill(f"#s{session_id}-reason", "intervention hors ticket")
        page.click("form.terminate button[type=submit]")
        page.wait_for_url(f"{server.url}/sessions/{session_id}/watch?purpose=*")
        tmux.wait_for(r"session closed: terminated by staff:alice: intervention hors ticket",
                      timeout=10)
        page_true(tab, "document.querySelector('#live-player').dataset.state === 'ended'")
        assert "La session est terminée" in page.inner_text("main")
        tab.shot("sup-07-terminated")

        # 4. Replay it; a click in the timeline moves the player there.
        def indexed() -> list[tuple[str, float]]:
            with core.db.session() as db:
                return [(core.traces.command_text(db, c), c.offset_seconds) for c in db.scalars(
                    select(RecordedCommand).where(RecordedCommand.session_id == session_id))]
        commands = dict(wait_until(indexed, what="the session's commands indexed"))
        offset = commands["echo watched-$((6*7))"]
        tab.go(f"/sessions/{session_id}")
        assert "echo watched-$((6*7))" in page.inner_text("main")
        tab.shot("sup-08-session")
        with core.db.session() as db:
            recording_id = db.scalar(select(Recording.id).where(Recording.session_id == session_id,
                                                                Recording.channel == "shell"))
        page.click(f"a[href='/recordings/{recording_id}']")
        page.wait_for_url(f"{server.url}/recordings/{recording_id}")
        page.fill("#purpose", "supervision of request for the watched session")  # said first
        page.click("form.purpose button[type=submit]")
        page.wait_for_selector("#replay-player .ap-player")
        page.click("[data-seek] >> text=echo watched-$((6*7))")
        page_true(tab, "Math.abs(Number(document.querySelector('.replay-time').dataset.seconds)"
                       f" - {offset}) < 0.3")
        assert page.get_attribute("button[aria-current]", "data-seek") == f"{offset:.3f}"
        tab.shot("sup-09-replay-timeline")
        assert tab.errors == [], tab.errors  # no CSP violation, no script error

        # 5. The DPO, read-only: finds the command, replays from there; no live, no terminate.
        page.click("header form.who button[type=submit]")
        page.wait_for_url(server.url + "/sign-in")
        tab.remove_authenticator()
        tab.add_authenticator()
        open_enrolment_link(tab, core, "erin")
        first_sign_in(tab, "erin")
        tab.go("/sessions/commands?q=watched")
        tab.shot("sup-10-command-search")
        page.click("a >> text=Revoir à partir d'ici")
        page.wait_for_url(f"{server.url}/recordings/{recording_id}?t=*")
        page.fill("#purpose", "DPO check of the command flagged in the review")
        page.click("form.purpose button[type=submit]")
        page.wait_for_selector("#replay-player .ap-player")
        tab.shot("sup-11-replay-dpo")
        # The DPO may watch too (read-only: no terminate form), after saying why.
        asked = page.goto(f"{server.url}/sessions/{session_id}/watch")
        assert asked is not None and asked.status == 200 and page.locator("#purpose").count() == 1
        assert tab.errors == [], tab.errors

    with core.db.session() as db:
        viewed = [(e.actor, e.details["purpose"]) for e in db.scalars(
            select(AuditEvent).where(AuditEvent.action == "recording.viewed"))]
        asked = db.scalar(select(AuditEvent).where(AuditEvent.action == "session.terminate_requested"))
        row = db.get(SshSession, session_id)
    assert ("staff:alice", "live") in viewed and ("staff:alice", "replay") in viewed
    assert ("staff:erin", "replay") in viewed
    assert asked is not None and asked.actor == "staff:alice"
    assert row.status == "terminated"

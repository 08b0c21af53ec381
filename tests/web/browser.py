"""A real console in a thread and Debian's Chromium driven by Playwright, with a virtual
WebAuthn authenticator (Chrome DevTools Protocol) standing in for a security key."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from flask import Flask
from playwright.sync_api import Browser, CDPSession, Page, sync_playwright
from sqlalchemy import select
from werkzeug.serving import BaseWSGIServer, make_server

from bastion.approvals import issue_link
from bastion.audit import Actor
from bastion.context import Bastion
from bastion.models import StaffUser, utcnow

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
    "--disable-background-networking", "--disable-component-update", "--disable-sync",
    # WebAuthn needs a real host name as RP id; keep "localhost" on IPv4 where we listen.
    "--host-resolver-rules=MAP localhost 127.0.0.1",
]
SCREENSHOTS = Path(__file__).resolve().parents[2] / "test-artifacts" / "screenshots"


class LiveServer:
    def __init__(self, app: Flask, port: int) -> None:
        self.server: BaseWSGIServer = make_server("127.0.0.1", port, app, threaded=True)
        self.url = f"http://localhost:{port}"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    def __enter__(self) -> LiveServer:
        self.thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.server.shutdown()
        self.thread.join(5)


@contextmanager
def chromium() -> Iterator[Browser]:
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        try:
            yield browser
        finally:
            browser.close()


@dataclass
class Tab:
    """One page plus what it reported: console errors (a CSP violation shows there)."""

    page: Page
    base: str
    errors: list[str] = field(default_factory=list)
    cdp: CDPSession | None = None
    authenticator: str | None = None

    def go(self, path: str) -> None:
        self.page.goto(self.base + path)

    def shot(self, name: str) -> None:
        SCREENSHOTS.mkdir(parents=True, exist_ok=True)
        self.page.screenshot(path=str(SCREENSHOTS / f"{name}.png"), full_page=True)

    def heading(self) -> str:
        return self.page.inner_text("h1")

    def add_authenticator(self) -> str:
        """A platform authenticator with a PIN/biometric (user verification) that stores
        discoverable credentials: what a security key with a PIN, or a passkey, gives."""
        if self.cdp is None:
            self.cdp = self.page.context.new_cdp_session(self.page)
            self.cdp.send("WebAuthn.enable")
        reply: dict[str, Any] = self.cdp.send("WebAuthn.addVirtualAuthenticator", {"options": {
            "protocol": "ctap2", "transport": "internal", "hasResidentKey": True,
            "hasUserVerification": True, "isUserVerified": True,
            "automaticPresenceSimulation": True}})
        self.authenticator = reply["authenticatorId"]
        return self.authenticator

    def remove_authenticator(self) -> None:
        assert self.cdp is not None and self.authenticator is not None
        self.cdp.send("WebAuthn.removeVirtualAuthenticator", {"authenticatorId": self.authenticator})
        self.authenticator = None

    def credentials(self) -> list[dict[str, Any]]:
        assert self.cdp is not None and self.authenticator is not None
        return self.cdp.send("WebAuthn.getCredentials",
                             {"authenticatorId": self.authenticator})["credentials"]


def open_tab(browser: Browser, base: str, locale: str = "fr-FR") -> Tab:
    context = browser.new_context(locale=locale, viewport={"width": 1366, "height": 768})
    page = context.new_page()
    tab = Tab(page, base)
    page.on("console", lambda message: tab.errors.append(message.text) if message.type == "error" else None)
    page.on("pageerror", lambda error: tab.errors.append(str(error)))
    return tab


def open_enrolment_link(tab: Tab, core: Bastion, username: str) -> None:
    """What an admin hands a colleague without a security key: a one-time enrolment link,
    opened before signing in (a password alone enrols no key)."""
    with core.db.session() as db:
        user = db.scalar(select(StaffUser).where(StaffUser.username == username))
        assert user is not None
        token = issue_link(db, core, user, actor=Actor("test:setup", "admin"), now=utcnow())
    tab.go(f"/enrol/{token}")

"""Break-glass over SSH: outside the maintenance windows a normal request is impossible, but
the technician can declare an emergency at the last question; access opens at once, is
recorded, and a review is opened for the DPO."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from datetime import timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
import yaml
from sqlalchemy import select

from bastion.audit import Actor
from bastion.breakglass import list_reviews
from bastion.contracts import load_contracts
from bastion.models import Grant, Recording, Target, utcnow
from tests.proxy.conftest import Scenario, contract_for_tests

KBDINT = ["-o", "LogLevel=INFO", "-o", "BatchMode=no", "-o", "KbdInteractiveAuthentication=yes"]
DAYS = ["mon", "tue", "wed", "thu", "fri", "sat", "sun"]


def _closed_window_contract(scenario: Scenario) -> None:
    """Windows only on another day of the week than today (Paris): now is outside them."""
    document = yaml.safe_load(contract_for_tests(scenario.client.public_key,
                                                 [scenario.target.account]))
    tomorrow = DAYS[(utcnow() + timedelta(days=1, hours=1)).weekday()]
    document["scope"]["windows"] = [{"days": [tomorrow], "start": "10:00", "end": "11:00"}]
    document["approval"]["break_glass"] = {"allowed": True, "max_minutes": 30,
                                           "outside_windows": True}
    path = scenario.client.workdir.parent / "editeur.yaml"
    path.write_text(yaml.safe_dump(document, allow_unicode=True))
    assert load_contracts(scenario.core, [path], Actor("test", "admin")).ok


def test_emergency_opens_at_once_outside_the_windows(scenario: Scenario, tmux) -> None:  # type: ignore[no-untyped-def]
    _closed_window_contract(scenario)
    tmux.start(scenario.client.ssh_argv(scenario.user, "127.0.0.1", scenario.proxy.port,
                                        extra=[*KBDINT, "-t"]))
    tmux.wait_for(r"only an emergency can open access now")
    tmux.wait_for(r"Reason for this access: $")
    tmux.type("le serveur DPI ne répond plus aux urgences\n")
    tmux.wait_for(r"Ticket reference \(optional\): $")
    tmux.type("INC-9001\n")
    tmux.wait_for(r"Emergency\? type URGENCE or press Enter: $")
    tmux.type("URGENCE\n")
    tmux.wait_for(r"EMERGENCY ACCESS opened until .* review \d+ is opened")
    tmux.type("PS1='dpi> '; echo urgence-$((6*7))\n")
    tmux.wait_for(r"^urgence-42$")
    tmux.type("exit\n")
    with scenario.core.db.session() as s:
        grant = s.scalars(select(Grant)).one()
        assert grant.break_glass and grant.not_after - grant.not_before <= timedelta(minutes=30)
        assert s.scalars(select(Recording)).first() is not None  # recorded like any session
    (review,) = list_reviews(scenario.core, state="open")
    assert "ne répond plus" in review.justification


def test_without_emergency_the_closed_window_refuses(scenario: Scenario, tmux) -> None:  # type: ignore[no-untyped-def]
    _closed_window_contract(scenario)
    tmux.start(scenario.client.ssh_argv(scenario.user, "127.0.0.1", scenario.proxy.port,
                                        extra=[*KBDINT, "-t"]))
    tmux.wait_for(r"Reason for this access: $")
    tmux.type("mise à jour planifiée du module\n")
    tmux.wait_for(r"Ticket reference \(optional\): $")
    tmux.type("\n")
    tmux.wait_for(r"Emergency\? type URGENCE or press Enter: $")
    tmux.type("\n")
    tmux.wait_for(r"bastion: .*(maintenance window|outside)")


# --- the notice tells who was actually told ---------------------------------------------------


@pytest.fixture
def webhook() -> Iterator[tuple[str, list[int]]]:
    """A real HTTP receiver; answers with the status in the list (tests change it)."""
    status = [204]

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:  # noqa: N802
            self.rfile.read(int(self.headers["Content-Length"]))
            self.send_response(status[0])
            self.end_headers()

        def log_message(self, *args: object) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{server.server_port}/hooks?token=s3cr3t", status
    server.shutdown()


def _declare_over_ssh(scenario: Scenario, tmux) -> None:  # type: ignore[no-untyped-def]
    tmux.start(scenario.client.ssh_argv(scenario.user, "127.0.0.1", scenario.proxy.port,
                                        extra=[*KBDINT, "-t"]))
    tmux.wait_for(r"Reason for this access: $")
    tmux.type("le serveur DPI ne répond plus aux urgences\n")
    tmux.wait_for(r"Ticket reference \(optional\): $")
    tmux.type("INC-9002\n")
    tmux.wait_for(r"Emergency\? type URGENCE or press Enter: $")
    tmux.type("URGENCE\n")


def test_the_notice_names_who_was_told(scenario: Scenario, tmux, webhook) -> None:  # type: ignore[no-untyped-def]
    url, _status = webhook
    scenario.core.settings = scenario.core.settings.with_changes("webhook", url=url)
    _closed_window_contract(scenario)
    _declare_over_ssh(scenario, tmux)
    screen = tmux.wait_for(r"EMERGENCY ACCESS opened until .*").group(0)
    tmux.wait_for(r"told: webhook 127\.0\.0\.1\.")
    assert "NOBODY" not in tmux.screen() and "s3cr3t" not in screen


def test_the_notice_says_when_nobody_could_be_told(scenario: Scenario, tmux, webhook) -> None:  # type: ignore[no-untyped-def]
    url, status = webhook
    status[0] = 500
    scenario.core.settings = scenario.core.settings.with_changes("webhook", url=url)
    _closed_window_contract(scenario)
    _declare_over_ssh(scenario, tmux)
    tmux.wait_for(r"NOBODY could be told yet \(webhook 127\.0\.0\.1 \(webhook answered HTTP "
                  r"500\)\): call the hospital's IT on-call line now\.")


def test_the_notice_says_when_no_channel_is_configured(scenario: Scenario, tmux) -> None:  # type: ignore[no-untyped-def]
    assert not scenario.core.settings.smtp.host and not scenario.core.settings.webhook.url
    _closed_window_contract(scenario)
    _declare_over_ssh(scenario, tmux)
    tmux.wait_for(r"NOBODY was told: no notification channel is configured \(\[smtp\] host, "
                  r"\[webhook\] url\): call the hospital's IT on-call line now\.")


# --- health and INS servers: an emergency only reads ------------------------------------------


def test_an_emergency_on_a_health_server_only_reads(scenario: Scenario, tmux) -> None:  # type: ignore[no-untyped-def]
    with scenario.core.db.session() as s:
        target = s.scalar(select(Target).where(Target.name == scenario.target_name))
        target.data_categories = ["administrative", "health"]
    document = yaml.safe_load(contract_for_tests(scenario.client.public_key,
                                                 [scenario.target.account]))
    tomorrow = DAYS[(utcnow() + timedelta(days=1, hours=1)).weekday()]
    document["scope"]["windows"] = [{"days": [tomorrow], "start": "10:00", "end": "11:00"}]
    document["scope"]["data_categories"] += ["health"]
    document["contract"]["hds_certificate"] = {"number": "HDS-T-1", "valid_until": "2099-12-31"}
    document["approval"]["break_glass"] = {"allowed": True, "max_minutes": 30,
                                           "outside_windows": True}
    path = scenario.client.workdir.parent / "editeur.yaml"
    path.write_text(yaml.safe_dump(document, allow_unicode=True))
    assert load_contracts(scenario.core, [path], Actor("test", "admin")).ok
    # A shell is not what an emergency may open here: the line says why.
    _declare_over_ssh(scenario, tmux)
    tmux.wait_for(r"bastion: refused: an emergency access on dpi-app-01 \(health data\) is "
                  r"read-only: SFTP read only")
    # The real sftp client, interactive: the emergency opens, reading works, writing not.
    tmux.kill()
    tmux.start(["sftp", *scenario.client.options(KBDINT), "-P", str(scenario.proxy.port),
                f"{scenario.user}@127.0.0.1"])
    tmux.wait_for(r"Reason for this access: $")
    tmux.type("le serveur DPI ne répond plus aux urgences\n")
    tmux.wait_for(r"Ticket reference \(optional\): $")
    tmux.type("INC-9003\n")
    tmux.wait_for(r"Emergency\? type URGENCE or press Enter: $")
    tmux.type("URGENCE\n")
    tmux.wait_for(r"sftp> $")
    with scenario.core.db.session() as s:
        grant = s.scalars(select(Grant).where(Grant.break_glass.is_(True))).one()
    assert grant.scope["channels"] == ["sftp"] and grant.scope["sftp"]["access"] == "read"
    tmux.type("ls /\n")
    tmux.wait_for(r"/etc")
    upload = scenario.client.workdir / "patch.txt"
    upload.write_text("not allowed\n")
    tmux.type(f"put {upload} /tmp/patch.txt\n")
    tmux.wait_for(r"(denied|not allowed|Permission|failure)", timeout=20)
    tmux.type("bye\n")
    # Commands are refused under the emergency grant as well, in one line.
    command = scenario.ssh("id")
    assert command.returncode != 0
    assert "read-only" in command.stderr.decode() or "not allowed" in command.stderr.decode()

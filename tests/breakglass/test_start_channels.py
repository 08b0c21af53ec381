"""A real ``bastion serve`` refuses to start while a contract allows break-glass and no
notification channel works (one line naming the settings, audited); with a real SMTP
server answering EHLO it starts."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from collections.abc import Iterator

import pytest
from aiosmtpd.controller import Controller

from tests.approvals.conftest import World, audit_events
from tests.conftest import SECOND_FACTOR_OFF
from tests.harness.ports import free_port, wait_for_port


def _environment(world: World, **extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("BASTION_")}
    env.update({"BASTION_PATHS__VAR_DIR": str(world.core.settings.var_dir),
                "BASTION_SSH__LISTEN_PORT": str(free_port()),
                "BASTION_WEB__LISTEN_PORT": str(free_port()), **SECOND_FACTOR_OFF, **extra})
    return env


@pytest.fixture
def smtp_port() -> Iterator[int]:
    class Sink:
        async def handle_DATA(self, server, session, envelope) -> str:  # type: ignore[no-untyped-def]  # noqa: N802
            return "250 OK"

    port = free_port()
    controller = Controller(Sink(), hostname="127.0.0.1", port=port)
    controller.start()
    yield port
    controller.stop()


def test_serve_refuses_break_glass_that_could_tell_nobody(bg_world: World) -> None:
    dead_port = free_port()
    result = subprocess.run([sys.executable, "-m", "bastion", "serve"], capture_output=True,
                            text=True, timeout=120, env=_environment(
                                bg_world, BASTION_SMTP__HOST="127.0.0.1",
                                BASTION_SMTP__PORT=str(dead_port)))
    assert result.returncode == 1
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, lines
    assert lines[0].startswith("bastion: break-glass is allowed in the contract(s) of acme but "
                               "no notification channel works: smtp.host 127.0.0.1:"
                               f"{dead_port} does not answer")
    assert "webhook.url is not set" in lines[0]
    assert "Set [smtp] host or [webhook] url to a working server" in lines[0]
    (event,) = audit_events(bg_world.core, "node.start_refused")
    assert event.outcome == "failed" and "break-glass" in event.reasons[0]


def test_serve_starts_when_the_smtp_server_answers(bg_world: World, smtp_port: int) -> None:
    env = _environment(bg_world, BASTION_SMTP__HOST="127.0.0.1",
                       BASTION_SMTP__PORT=str(smtp_port))
    serve = subprocess.Popen([sys.executable, "-m", "bastion", "serve"], env=env,
                             stderr=subprocess.PIPE)
    try:
        wait_for_port(int(env["BASTION_SSH__LISTEN_PORT"]))
    finally:
        serve.send_signal(signal.SIGTERM)
        serve.wait(20)
    assert not audit_events(bg_world.core, "node.start_refused")

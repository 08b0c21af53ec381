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


def test_on_call_acknowledgements_need_e_mail(core, tmp_path) -> None:  # type: ignore[no-untyped-def]
    """Under on_sensitive: acknowledged the on-call approvers' one-time links go by e-mail
    only: a working webhook is not enough to start."""
    import socket

    from .conftest import build_break_glass_world

    world = build_break_glass_world(core, tmp_path, on_sensitive="acknowledged",
                                    on_call=["alice"])
    with socket.create_server(("127.0.0.1", 0)) as hook:  # a host that accepts connections
        result = subprocess.run([sys.executable, "-m", "bastion", "serve"], capture_output=True,
                                text=True, timeout=120, env=_environment(
                                    world, BASTION_WEBHOOK__URL=(
                                        f"http://127.0.0.1:{hook.getsockname()[1]}/hook")))
    assert result.returncode == 1
    (line,) = result.stderr.strip().splitlines()
    assert line == ("bastion: break-glass needs an on-call acknowledgement in the contract(s) "
                    "of acme but e-mail does not work: smtp.host is not set. Set [smtp] host "
                    "to a working server, or set approval.break_glass.on_sensitive: read_only")
    (event,) = audit_events(world.core, "node.start_refused")
    assert "on-call acknowledgement" in event.reasons[0]

"""What the hospital's monitoring sees of a real `bastion serve`: /metrics whose counters move
with real SSH logins, refusals and recorded bytes, /readyz that names what is missing, and
JSON process logs with one line per decision."""

from __future__ import annotations

import json
import re
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from bastion.context import Bastion
from tests.harness.clients import OpenSshClient

from .cluster import Node, base_environment, grant, node, technician_world

TOKEN = "prometheus-scrape-token-0123456789"


@dataclass
class World:
    core: Bastion
    node: Node
    client: OpenSshClient
    workdir: Path
    env: dict[str, str]


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> Iterator[World]:
    workdir = tmp_path_factory.mktemp("observability")
    var_dir = workdir / "var"
    url = f"sqlite:///{var_dir / 'bastion.db'}"
    core, target, client = technician_world(workdir, url)
    env = base_environment(var_dir, url)
    served = node("node-obs", env, workdir, BASTION_LOGGING__FORMAT="json",
                  BASTION_WEB__METRICS_TOKEN=TOKEN).start()
    client.trust("127.0.0.1", served.ssh_port, core.keys.public_line("ssh_host_ed25519_key"))
    try:
        yield World(core, served, client, workdir, env)
    finally:
        served.stop()
        target.stop()
        core.close()


def get(port: int, path: str, token: str | None = None) -> tuple[int, str]:
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    request = urllib.request.Request(f"http://127.0.0.1:{port}{path}", headers=headers)
    try:
        with urllib.request.urlopen(request, timeout=10) as answer:  # noqa: S310 - loopback
            return answer.status, answer.read().decode()
    except urllib.error.HTTPError as error:
        return error.code, error.read().decode()


def sample(text: str, name: str, **labels: str) -> float:
    """The value of one sample of a Prometheus text exposition (0 when absent)."""
    for line in text.splitlines():
        match = re.match(r"^([a-z_]+)(?:\{(.*)\})? (\S+)$", line)
        if not match or match.group(1) != name:
            continue
        found = dict(re.findall(r'(\w+)="((?:[^"\\]|\\.)*)"', match.group(2) or ""))
        if all(found.get(k) == v for k, v in labels.items()):
            return float(match.group(3))
    return 0.0


def scrape(world: World) -> str:
    status, text = get(world.node.web_port, "/metrics", TOKEN)
    assert status == 200, text
    return text


def decisions(world: World) -> list[dict[str, object]]:
    lines = []
    for line in world.node.log().splitlines():
        try:
            lines.append(json.loads(line))
        except ValueError:
            continue
    return lines


def wait_until(condition, timeout: float = 10):  # type: ignore[no-untyped-def]
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = condition()
        if value:
            return value
        time.sleep(0.1)
    return condition()


def test_metrics_need_the_token_and_count_real_logins_refusals_and_recorded_bytes(
        world: World) -> None:
    assert get(world.node.web_port, "/metrics")[0] == 403
    assert get(world.node.web_port, "/metrics", "wrong-token-0123456789")[0] == 403
    before = scrape(world)
    grant(world.core, "jdupont", "dpi-app-01")
    result = world.client.ssh("jdupont+dpi-app-01", "127.0.0.1", world.node.ssh_port,
                              "printf 'hello monitoring\\n'")
    assert result.returncode == 0, result.stderr
    refused = world.client.ssh("nobody+dpi-app-01", "127.0.0.1", world.node.ssh_port, "true")
    assert refused.returncode != 0

    def moved() -> str | None:
        text = scrape(world)
        return text if sample(text, "bastion_ssh_refusals_total", action="login.refused") > \
            sample(before, "bastion_ssh_refusals_total", action="login.refused") else None

    after = wait_until(moved)
    assert after, "the refusal was not counted"
    assert sample(after, "bastion_ssh_logins_total") == sample(before, "bastion_ssh_logins_total") + 1
    assert sample(after, "bastion_recording_bytes_total") >= \
        sample(before, "bastion_recording_bytes_total") + len("hello monitoring\n")
    assert sample(after, "bastion_audit_events_total", action="session.opened",
                  outcome="allowed") >= 1
    assert sample(after, "bastion_audit_chain_length") > sample(before, "bastion_audit_chain_length")
    assert sample(after, "bastion_database_up") == 1
    assert sample(after, "bastion_approvals_pending") == 0
    assert "process_resident_memory_bytes" in after


def test_json_process_logs_have_one_line_per_decision(world: World) -> None:
    world.client.ssh("ghost+dpi-app-01", "127.0.0.1", world.node.ssh_port, "true")
    refusal = wait_until(lambda: [d for d in decisions(world) if d.get("action") == "login.refused"
                                  and d.get("actor") == "ssh:ghost+dpi-app-01"])
    assert refusal, world.node.log()[-3000:]
    line = refusal[-1]
    assert line["logger"] == "bastion.decisions" and line["outcome"] == "denied"
    assert line["reasons"] and isinstance(line["audit_event"], int)
    assert line["client_address"] == "127.0.0.1"
    assert line["time"].endswith("+00:00")
    # Every line of the node's output is JSON, start-up messages included.
    for text in world.node.log().splitlines():
        if text.strip():
            json.loads(text)


def test_readyz_names_what_keeps_the_node_from_taking_sessions(world: World) -> None:
    status, body = get(world.node.web_port, "/readyz")
    assert status == 200 and json.loads(body)["status"] == "ready", body
    assert get(world.node.web_port, "/healthz")[0] == 200
    not_a_folder = world.workdir / "not-a-folder"
    not_a_folder.write_text("")
    broken = node("node-unready", world.env, world.workdir,
                  BASTION_PATHS__RECORDINGS_DIR=str(not_a_folder)).start()
    try:
        status, body = get(broken.web_port, "/readyz")
    finally:
        broken.stop()
    assert status == 503
    assert json.loads(body) == {"status": "not ready", "node": "node-unready",
                                "failed": ["recordings"]}

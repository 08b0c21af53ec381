"""No grant yet: the technician's own ssh asks why, files the request, waits, and goes on
into the target once an approver has signed the approval with a security key."""

from __future__ import annotations

import re
import time
from datetime import timedelta

import paramiko
import pytest
from sqlalchemy import select
from webauthn import options_to_json

from bastion import approvals
from bastion.audit import Actor
from bastion.models import AccessRequest, utcnow
from bastion.staff import add_staff
from tests.approvals.authenticator import SoftAuthenticator
from tests.proxy.conftest import Scenario

KBDINT = ["-o", "LogLevel=INFO", "-o", "BatchMode=no", "-o", "KbdInteractiveAuthentication=yes",
          "-o", "PreferredAuthentications=publickey,keyboard-interactive"]


def _approver(scenario: Scenario) -> tuple[int, SoftAuthenticator]:
    core = scenario.core
    with core.db.session() as s:
        staff_id = add_staff(s, core.audit, username="alice", full_name="Alice Martin",
                             roles=["approver"], password="correct horse battery staple",
                             actor=Actor("test", "admin")).id
    key = SoftAuthenticator(core.settings.web.public_url)
    options = approvals.registration_options(core, staff_id)
    approvals.register_credential(core, staff_id, key.create(options_to_json(options)),
                                  name="clé d'Alice")
    return staff_id, key


def _approve(scenario: Scenario, request_id: int, staff_id: int, key: SoftAuthenticator) -> None:
    options = approvals.approval_options(scenario.core, request_id, staff_id)
    approvals.approve(scenario.core, request_id, staff_id, key.get(options_to_json(options)))


def _wait_request(scenario: Scenario) -> int:
    for _ in range(200):
        with scenario.core.db.session() as s:
            found = s.scalar(select(AccessRequest.id).where(AccessRequest.status == "pending"))
        if found:
            return found
        time.sleep(0.05)
    raise AssertionError("no request was filed")


def test_ssh_waits_then_proceeds_into_the_target_once_approved(scenario: Scenario, tmux) -> None:  # type: ignore[no-untyped-def]
    staff_id, key = _approver(scenario)
    tmux.start(scenario.client.ssh_argv(scenario.user, "127.0.0.1", scenario.proxy.port,
                                        extra=[*KBDINT, "-t"]))
    tmux.wait_for(r"no active grant for dpi-app-01: answer the questions")
    tmux.wait_for(r"Reason for this access: $")
    tmux.type("mise à jour du module de facturation\n")
    tmux.wait_for(r"Ticket reference \(optional\): $")
    tmux.type("CHG-2026-118\n")
    match = tmux.wait_for(r"request (\d+) is waiting for approval")
    request_id = int(match.group(1))
    request = approvals.get_request(scenario.core, request_id)
    assert (request.reason, request.ticket, request.source) == (
        "mise à jour du module de facturation", "CHG-2026-118", "ssh")
    _approve(scenario, request_id, staff_id, key)
    tmux.wait_for(rf"request {request_id} approved: connecting to dpi-app-01")
    tmux.type("PS1='dpi> '; echo inside-$((40+2))\n")
    tmux.wait_for(r"^inside-42$")
    tmux.type("exit\n")


def test_ctrl_c_cancels_the_waiting_request(scenario: Scenario, tmux) -> None:  # type: ignore[no-untyped-def]
    tmux.start(scenario.client.ssh_argv(scenario.user, "127.0.0.1", scenario.proxy.port,
                                        extra=[*KBDINT, "-t"]))
    tmux.wait_for(r"Reason for this access: $")
    tmux.type("diagnostic incident\n")
    tmux.wait_for(r"Ticket reference \(optional\): $")
    tmux.type("\n")
    match = tmux.wait_for(r"request (\d+) is waiting for approval")
    tmux.press("C-c")
    tmux.wait_for(rf"request {match.group(1)} cancelled by the technician")
    assert approvals.get_request(scenario.core, int(match.group(1))).status == "cancelled"


def test_denied_request_says_why(scenario: Scenario) -> None:
    staff_id, _ = _approver(scenario)
    client = paramiko.SSHClient()
    client.set_missing_host_key_policy(paramiko.AutoAddPolicy())
    answers = {"Reason": "changement de certificat TLS", "Ticket": "", "Emergency": ""}

    def handler(title, instructions, prompts):  # type: ignore[no-untyped-def]
        return [next(v for k, v in answers.items() if p.startswith(k)) for p, _ in prompts]

    transport = paramiko.Transport(("127.0.0.1", scenario.proxy.port))
    transport.connect()
    key = paramiko.Ed25519Key.from_private_key_file(str(scenario.client.key_path))
    remaining = transport.auth_publickey(scenario.user, key)
    # The key alone is not enough: the server asks for keyboard-interactive next.
    assert remaining == ["keyboard-interactive"]
    transport.auth_interactive(scenario.user, handler)
    channel = transport.open_session()
    channel.exec_command("true")
    request_id = _wait_request(scenario)
    approvals.deny(scenario.core, request_id, staff_id, "pas de fenêtre de maintenance ce soir")
    status = channel.recv_exit_status()
    stderr = channel.makefile_stderr().read().decode()
    transport.close()
    assert status == 1
    assert re.search(rf"request {request_id} was denied: pas de fenêtre de maintenance", stderr)


@pytest.mark.parametrize("answer", ["", "ok"])
def test_a_reason_is_required(scenario: Scenario, tmux, answer: str) -> None:  # type: ignore[no-untyped-def]
    tmux.start(scenario.client.ssh_argv(scenario.user, "127.0.0.1", scenario.proxy.port,
                                        extra=[*KBDINT, "-t"]))
    tmux.wait_for(r"Reason for this access: $")
    tmux.type(answer + "\n")
    tmux.wait_for(r"Ticket reference \(optional\): $")
    tmux.type("\n")
    tmux.wait_for(r"The reason must say why")
    with scenario.core.db.session() as s:
        assert s.scalar(select(AccessRequest)) is None


def test_grant_certificate_logs_in_until_revoked(scenario: Scenario, tmp_path) -> None:  # type: ignore[no-untyped-def]
    staff_id, key = _approver(scenario)
    request = approvals.file_request(
        scenario.core, technician="jdupont", target="dpi-app-01",
        window_end=utcnow() + timedelta(hours=1),
        channels=["shell", "exec"], reason="maintenance planifiée", ticket="CHG-9",
        source="portal", actor=Actor("technician:jdupont", "technician"))
    _approve(scenario, request.id, staff_id, key)
    grant = approvals.get_request(scenario.core, request.id).grant_id
    certificate = tmp_path / "grant-cert.pub"
    certificate.write_text(approvals.certificate_of(scenario.core, grant))
    with_cert = ["-o", f"CertificateFile={certificate}"]
    ok = scenario.ssh("echo by-certificate", extra=with_cert)
    assert ok.returncode == 0, ok.stderr
    assert ok.stdout == b"by-certificate\n"
    approvals.revoke_grant(scenario.core, grant, actor=Actor("staff:alice", "approver"),
                           reason="travaux terminés")
    # Revoked: the certificate no longer logs in (the registered key still would, but then
    # there is no grant and BatchMode cannot answer the request questions).
    refused = scenario.ssh("true", extra=[*with_cert, "-o", "PubkeyAcceptedAlgorithms=ssh-ed25519-cert-v01@openssh.com"])
    assert refused.returncode == 255


def test_ssh_waits_and_an_approver_approves_through_the_json_api(scenario: Scenario, tmux) -> None:  # type: ignore[no-untyped-def]
    """Issue 5's end to end: the technician's own ssh waits; an integration approves
    through /api/v1 with the approver's token, the approver's security key signing the
    request's content; the same ssh goes on into the real OpenSSH target."""
    from bastion.api_tokens import create_token
    from web import create_app

    _staff_id, key = _approver(scenario)
    _, token = create_token(scenario.core, name="ticketing", staff_username="alice",
                            actor=Actor("test", "admin"))
    api = create_app(scenario.core).test_client()
    headers = {"Authorization": f"Bearer {token}"}
    tmux.start(scenario.client.ssh_argv(scenario.user, "127.0.0.1", scenario.proxy.port,
                                        extra=[*KBDINT, "-t"]))
    tmux.wait_for(r"Reason for this access: $")
    tmux.type("redémarrage du service d'import HL7\n")
    tmux.wait_for(r"Ticket reference \(optional\): $")
    tmux.type("INC-7731\n")
    request_id = int(tmux.wait_for(r"request (\d+) is waiting for approval").group(1))
    listed = api.get("/api/v1/requests?status=pending", headers=headers).get_json()
    assert [r["id"] for r in listed["requests"]] == [request_id]
    options = api.post(f"/api/v1/requests/{request_id}/approval-options", headers=headers)
    assert options.status_code == 200, options.get_json()
    assertion = key.get(options.get_json()["options"])
    answer = api.post(f"/api/v1/requests/{request_id}/approve", headers=headers,
                      json={"credential": assertion})
    assert answer.status_code == 200, answer.get_json()
    tmux.wait_for(rf"request {request_id} approved: connecting to dpi-app-01")
    tmux.type("PS1='dpi> '; echo approved-by-api\n")
    tmux.wait_for(r"^approved-by-api$")
    tmux.type("exit\n")

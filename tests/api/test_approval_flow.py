"""Issue 5's end-to-end: an approver approves through the API with a (software) security
key, the grant is created, its certificate is downloaded and ``ssh-keygen -L`` shows what
it permits. And the refusals on the way: replay, requester, second approval, roles."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

from bastion import approvals
from tests.approvals.conftest import audit_events
from tests.approvals.test_certificates import keygen_list

from .conftest import Api, ApiWorld
from .test_auth import assert_error


def in_minutes(minutes: int) -> str:
    return (datetime.now(UTC) + timedelta(minutes=minutes)).isoformat()


def sign(api: ApiWorld, caller: Api, request_id: int, username: str, **overrides: object) -> dict:
    """approval-options through the API, answered by the approver's software key."""
    response = caller.post(f"/requests/{request_id}/approval-options")
    assert response.status_code == 200, response.get_json()
    options = response.get_json()["options"]
    assert options["userVerification"] == "required" and options["allowCredentials"]
    return api.world.keys[username].get(options, **overrides)


def test_an_approver_approves_through_the_api_and_the_certificate_is_usable(
        any_api: ApiWorld, tmp_path: Path) -> None:
    api = any_api
    filed = api.as_technician("jdupont").post("/requests", {
        "target": "dpi-app-01", "window_end": in_minutes(90), "channels": ["shell", "exec"],
        "reason": "apply the security patch", "ticket": "INC-1"})
    assert filed.status_code == 201
    request_id = filed.get_json()["request"]["id"]

    alice = api.as_staff("alice")  # an integration token: the key still has to sign
    answer = alice.post(f"/requests/{request_id}/approve",
                        {"credential": sign(api, alice, request_id, "alice")})
    assert answer.status_code == 200, answer.get_json()
    result = answer.get_json()
    assert (result["approvals"], result["approvals_required"]) == (1, 1)
    assert result["request"]["status"] == "approved"
    grant = result["grant"]
    assert grant["status"] == "approved" and grant["has_certificate"]
    assert result["request"]["grant_id"] == grant["id"]

    jdupont = api.as_technician("jdupont")
    assert [g["id"] for g in jdupont.get("/grants").get_json()["grants"]] == [grant["id"]]
    download = jdupont.get(f"/grants/{grant['id']}/certificate")
    assert download.status_code == 200 and download.mimetype == "text/plain"
    assert f"grant-{grant['id']}-cert.pub" in download.headers["Content-Disposition"]
    certificate = download.get_data(as_text=True)
    assert certificate == approvals.certificate_of(api.core, grant["id"]).strip() + "\n"

    listed = keygen_list(tmp_path, certificate.strip())
    assert listed["Type"] == "ssh-ed25519-cert-v01@openssh.com user certificate"
    assert listed["Key ID"] == f'"grant-{grant["id"]}"'
    assert listed["Principals"] == ["jdupont"]
    start = datetime.fromisoformat(grant["not_before"]).astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S")
    end = datetime.fromisoformat(grant["not_after"]).astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S")
    assert listed["Valid"] == f"from {start} to {end}"
    assert "permit-pty" in listed["Extensions"] and "permit-agent-forwarding" not in listed["Extensions"]
    # The certificate is one the bastion accepts now, for this very grant.
    assert approvals.check_certificate(api.core, certificate).id == grant["id"]

    actions = [(e.action, e.actor) for e in audit_events(api.core)]
    assert ("request.approved", "staff:alice") in actions
    assert ("grant.certificate_downloaded", "technician:jdupont") in actions


def test_a_replayed_assertion_is_refused_with_its_code(api: ApiWorld) -> None:
    request = api.world.file(target="dpi-db-01")  # health data: two approvers
    alice = api.as_staff("alice")
    assertion = sign(api, alice, request.id, "alice")
    first = alice.post(f"/requests/{request.id}/approve", {"credential": assertion})
    assert first.status_code == 200 and first.get_json()["grant"] is None
    assert first.get_json()["approvals"] == 1
    assert_error(alice.post(f"/requests/{request.id}/approve", {"credential": assertion}),
                 400, "challenge_replayed")
    # A second approval by the same person is refused; another approver completes it.
    assert_error(alice.post(f"/requests/{request.id}/approval-options"), 409, "already_reviewed")
    bob = api.as_staff("bob")
    done = bob.post(f"/requests/{request.id}/approve",
                    {"credential": sign(api, bob, request.id, "bob")})
    assert done.status_code == 200 and done.get_json()["grant"]["status"] == "approved"


def test_the_requester_cannot_approve(api: ApiWorld) -> None:
    alice = api.as_staff("alice")
    filed = alice.post("/requests", {"technician": "jdupont", "target": "dpi-app-01",
                                     "window_end": in_minutes(60), "channels": ["exec"],
                                     "reason": "ticket CHG-9 on behalf of the vendor"})
    request_id = filed.get_json()["request"]["id"]
    assert_error(alice.post(f"/requests/{request_id}/approval-options"), 403, "approver_is_requester")
    refused = audit_events(api.core, "request.approval_refused")
    assert refused[-1].details["code"] == "approver_is_requester"


def test_assertions_gone_wrong_keep_the_cores_codes(api: ApiWorld) -> None:
    alice = api.as_staff("alice")
    first, second = api.world.file(), api.world.file(reason="another job")
    misdirected = sign(api, alice, first.id, "alice")
    assert_error(alice.post(f"/requests/{second.id}/approve", {"credential": misdirected}),
                 400, "challenge_for_other_request")
    wrong_origin = sign(api, alice, second.id, "alice", origin="https://evil.example")
    assert_error(alice.post(f"/requests/{second.id}/approve", {"credential": wrong_origin}),
                 400, "wrong_origin")
    assert_error(alice.post(f"/requests/{first.id}/approve", {"credential": {"id": "x"}}),
                 400, "malformed_credential")
    assert_error(alice.post(f"/requests/{first.id}/approve", {"assertion": {}}), 400, "invalid_input")
    assert_error(alice.post("/requests/999999/approval-options"), 404, "request_not_found")
    carol = api.as_staff("carol")  # an approver without a registered key
    assert_error(carol.post(f"/requests/{first.id}/approval-options"), 409, "no_credential")


def test_deny_needs_a_reason_and_ends_the_request(api: ApiWorld) -> None:
    request = api.world.file()
    bob = api.as_staff("bob")
    assert_error(bob.post(f"/requests/{request.id}/deny", {"reason": " "}), 400, "reason_required")
    denied = bob.post(f"/requests/{request.id}/deny", {"reason": "no change ticket"})
    assert denied.get_json()["request"]["status"] == "denied"
    assert_error(bob.post(f"/requests/{request.id}/approval-options"), 409, "already_reviewed")

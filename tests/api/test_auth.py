"""Who may call the API: tokens (missing, unknown, expired, revoked, disabled owner),
console sessions with and without the CSRF token, roles, and errors that are always JSON."""

from __future__ import annotations

import hashlib
from datetime import timedelta

import pytest
from sqlalchemy import select, update

from bastion import approvals
from bastion.api_tokens import TokenError, create_token, list_tokens, revoke_token
from bastion.models import ApiToken, StaffUser, utcnow
from tests.approvals.conftest import audit_events

from .conftest import ADMIN, ApiWorld


def assert_error(response, status: int, code: str) -> dict:
    assert response.status_code == status, response.get_data(as_text=True)
    assert response.mimetype == "application/json"
    error = response.get_json()["error"]
    assert error["code"] == code and error["message"]
    return error


def refusals(api: ApiWorld) -> list[list[str]]:
    return [event.reasons for event in audit_events(api.core, "api_token.refused")]


def test_a_token_acts_as_its_staff_member_and_its_first_use_is_audited(api: ApiWorld) -> None:
    token = api.token_for("erin")
    assert token.startswith("bst_") and len(token) > 40
    for _ in range(3):
        assert api.as_token(token).get("/requests").status_code == 200
    first = audit_events(api.core, "api_token.first_use")
    assert len(first) == 1 and first[0].actor == "staff:erin"
    assert first[0].details["address"] == "127.0.0.1"
    [info] = list_tokens(api.core, staff_username="erin")
    assert info.last_used_at is not None and info.last_used_from == "127.0.0.1"
    with api.core.db.session() as db:  # only the hash is kept, and a short hint to tell tokens apart
        row = db.scalar(select(ApiToken))
        assert row.token_hash == hashlib.sha256(token.encode()).hexdigest()
        assert row.hint == token[:8]


def test_a_new_address_is_audited(api: ApiWorld) -> None:
    token = api.token_for("erin")
    api.as_token(token).get("/requests")
    api.as_token(token).get("/requests", environ_base={"REMOTE_ADDR": "192.0.2.7"})
    moved = audit_events(api.core, "api_token.new_address")
    assert len(moved) == 1 and moved[0].details["previous_address"] == "127.0.0.1"


def test_no_credential_is_401_with_a_bearer_challenge(api: ApiWorld) -> None:
    response = api.as_token("x").get("/requests", headers={"Authorization": ""})
    anonymous = api.app.test_client().get("/api/v1/requests")
    for answer in (response, anonymous):
        assert_error(answer, 401, "unauthenticated")
        assert answer.headers["WWW-Authenticate"].startswith("Bearer")
    assert_error(api.app.test_client().post("/api/v1/requests", json={}), 401, "unauthenticated")


@pytest.mark.parametrize("header", ["Bearer bst_not-a-real-token", "Bearer", "Basic YWxpY2U6cHc=",
                                    "Bearer " + "x" * 5000])
def test_a_bad_token_is_401_and_audited(api: ApiWorld, header: str) -> None:
    response = api.as_token("x").get("/requests", headers={"Authorization": header})
    assert_error(response, 401, "unauthenticated")
    assert len(refusals(api)) == 1


def test_expired_revoked_and_disabled_tokens_are_401_and_name_their_owner(api: ApiWorld) -> None:
    expired = api.token_for("erin")
    with api.core.db.session() as db:
        db.execute(update(ApiToken).values(expires_at=utcnow() - timedelta(seconds=1)))
    revoked = api.token_for("erin")
    [*_, latest] = list_tokens(api.core)
    revoke_token(api.core, latest.id, actor=ADMIN, reason="left the integration team")
    disabled = api.token_for("dave")
    with api.core.db.session() as db:
        db.execute(update(StaffUser).where(StaffUser.username == "dave").values(active=False))
    for token in (expired, revoked, disabled):
        assert_error(api.as_token(token).get("/grants"), 401, "unauthenticated")
    events = audit_events(api.core, "api_token.refused")
    assert [e.reasons[0] for e in events] == ["the token has expired", "the token was revoked",
                                              "the staff account is disabled or has no role"]
    assert [e.actor for e in events] == ["staff:erin", "staff:erin", "staff:dave"]


def test_refusals_from_one_address_stop_being_audited_after_a_while(api: ApiWorld) -> None:
    caller = api.as_token("bst_unknown")
    for _ in range(15):
        assert_error(caller.get("/requests"), 401, "unauthenticated")
    reasons = refusals(api)
    assert len(reasons) == 11  # ten, then one note saying the rest are not audited
    assert "not audited" in reasons[-1][-1]


def test_tokens_are_created_only_within_bounds(api: ApiWorld) -> None:
    for kwargs in ({"days": 0}, {"days": 366}, {"name": " "}, {"staff_username": "nobody"}):
        fields = {"name": "x", "staff_username": "erin", "days": 30, **kwargs}
        with pytest.raises(TokenError):
            create_token(api.core, actor=ADMIN, **fields)


def test_a_wrong_role_is_403_forbidden(api: ApiWorld) -> None:
    dpo, admin = api.as_staff("erin"), api.as_staff("dave")
    request = api.world.file()
    assert_error(dpo.post(f"/requests/{request.id}/approval-options"), 403, "forbidden")
    assert_error(admin.post(f"/requests/{request.id}/deny", {"reason": "no"}), 403, "forbidden")
    assert_error(dpo.post("/grants/1/revoke", {"reason": "x"}), 403, "forbidden")
    technician = api.as_technician("jdupont")
    assert_error(technician.get("/sessions"), 403, "forbidden")
    assert approvals.get_request(api.core, request.id).status == "pending"


def test_console_cookie_needs_the_csrf_header(api: ApiWorld) -> None:
    request = api.world.file()
    without = api.as_staff_console("alice", with_csrf=False)
    assert without.get(f"/requests/{request.id}").status_code == 200  # reads need no token
    assert_error(without.post(f"/requests/{request.id}/deny", {"reason": "no"}), 403, "csrf_failed")
    wrong = without.post(f"/requests/{request.id}/deny", {"reason": "no"},
                         headers={"X-CSRFToken": "forged"})
    assert_error(wrong, 403, "csrf_failed")
    assert approvals.get_request(api.core, request.id).status == "pending"
    with_token = api.as_staff_console("alice")
    assert with_token.post(f"/requests/{request.id}/deny", {"reason": "not planned"}).status_code == 200
    assert approvals.get_request(api.core, request.id).status == "denied"


def test_a_token_request_needs_no_csrf_and_ignores_a_cookie_beside_it(api: ApiWorld) -> None:
    dpo_browser = api.as_staff_console("erin", with_csrf=False)
    request = api.world.file()
    token = api.token_for("alice")
    response = dpo_browser.post(f"/requests/{request.id}/deny", {"reason": "duplicate"},
                                headers={"Authorization": f"Bearer {token}"})
    assert response.status_code == 200  # alice's token, not erin's cookie, and no CSRF token
    assert response.get_json()["request"]["reviews"][0]["staff_username"] == "alice"


def test_errors_on_api_paths_are_json_never_pages(api: ApiWorld) -> None:
    caller = api.as_staff("alice")
    for method, path, status, code in (("GET", "/no-such-thing", 404, "not_found"),
                                       ("DELETE", "/requests", 405, "method_not_allowed"),
                                       ("GET", "/requests/abc", 404, "not_found")):
        response = caller.call(method, path, check=False)
        assert_error(response, status, code)
    assert "GET" in caller.call("DELETE", "/requests", check=False).headers["Allow"]
    assert_error(caller.post("/requests", data="{not json", content_type="application/json"),
                 400, "invalid_input")
    big = caller.post("/requests/1/deny", data="x" * (2 * 1024 * 1024), content_type="application/json")
    assert_error(big, 413, "payload_too_large")


def test_an_unexpected_failure_is_a_json_500_without_internals(api: ApiWorld,
                                                                monkeypatch: pytest.MonkeyPatch) -> None:
    def broken(*args, **kwargs):
        raise RuntimeError("database exploded at /var/lib/secret")

    monkeypatch.setattr("web.api.access_requests.list_requests", broken)
    response = api.as_staff("alice").get("/requests")
    error = assert_error(response, 500, "internal_error")
    assert "secret" not in response.get_data(as_text=True) and "Traceback" not in error["message"]

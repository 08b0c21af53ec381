"""Issue 13.7 through the JSON API: what an attacker sent to ``bastion serve`` and got a
500 for. Ids past 2^63 are 404 ``not_found``; a body nested 100,000 deep is 400
``invalid_input``; a window ending in year 9999 is refused at filing (it used to be
accepted, then every page listing it answered 500)."""

from __future__ import annotations

from datetime import timedelta

import pytest

from bastion.models import utcnow

from .conftest import ApiWorld

HUGE = "9223372036854775808"
ROUTES = [("GET", f"/requests/{HUGE}"), ("POST", f"/requests/{HUGE}/approval-options"),
          ("POST", f"/requests/{HUGE}/cancel"), ("GET", f"/grants/{HUGE}"),
          ("GET", f"/grants/{HUGE}/certificate"), ("POST", f"/grants/{HUGE}/revoke"),
          ("GET", f"/sessions/{HUGE}"), ("POST", f"/sessions/{HUGE}/terminate")]


@pytest.mark.parametrize(("method", "path"), ROUTES)
def test_an_id_past_the_database_range_is_not_found(any_api: ApiWorld, method: str, path: str) -> None:
    caller = any_api.as_staff("alice")
    response = caller.call(method, path, {"reason": "x"} if method == "POST" else None)
    assert response.status_code == 404
    assert response.get_json()["error"]["code"] == "not_found"


def test_a_body_nested_100000_deep_is_a_clean_400(api: ApiWorld) -> None:
    caller = api.as_staff("alice")
    deep = "[" * 100_000 + "]" * 100_000
    response = caller.call("POST", "/requests", check=False, data=deep,
                           headers={"Content-Type": "application/json"})
    assert response.status_code == 400
    assert response.get_json()["error"]["code"] == "invalid_input"
    nested = '{"target": "dpi-app-01", "reason": ' + '{"a": ' * 40 + "1" + "}" * 40 + "}"
    response = caller.call("POST", "/requests", check=False, data=nested,
                           headers={"Content-Type": "application/json"})
    assert response.status_code == 400 and response.get_json()["error"]["code"] == "invalid_input"


def test_a_window_ending_in_year_9999_is_refused_and_the_lists_still_work(any_api: ApiWorld) -> None:
    technician = any_api.as_technician("jdupont")
    for end in ("9999-12-31T23:59:59+00:00", "9999-12-31T23:59:59-12:00"):
        response = technician.post("/requests", {"target": "dpi-app-01", "window_end": end,
                                                 "channels": ["shell"], "reason": "fuzz"})
        assert response.status_code == 400, response.get_json()
        assert response.get_json()["error"]["code"] == "invalid_input"
        assert "within 366 days" in response.get_json()["error"]["message"]
    # Inside the planning horizon but past the contract's ceiling: refused, naming it.
    wide = technician.post("/requests", {"target": "dpi-app-01", "channels": ["shell"], "reason": "fuzz",
                                         "window_end": (utcnow() + timedelta(days=30)).isoformat()})
    assert wide.status_code == 409 and wide.get_json()["error"]["code"] == "out_of_contract"
    assert "ask for an end no later than" in wide.get_json()["error"]["message"] + str(
        wide.get_json()["error"].get("reasons"))
    staff = any_api.as_staff("alice")
    assert staff.get("/requests").status_code == 200
    console = any_api.as_staff_console("alice")
    assert console.client.get("/requests").status_code == 200

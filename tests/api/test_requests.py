"""Requests through the API: technicians file and follow their own (and nobody else's),
staff file on a technician's behalf, bad input is refused with a code saying why."""

from __future__ import annotations

from datetime import datetime, timedelta

from bastion import approvals
from bastion.models import utcnow

from .conftest import ApiWorld
from .test_auth import assert_error


def planned(**changes: object) -> dict[str, object]:
    start = utcnow() + timedelta(hours=1)
    body: dict[str, object] = {
        "target": "dpi-app-01", "window_start": start.isoformat(),
        "window_end": (start + timedelta(hours=2)).isoformat(), "channels": ["shell", "sftp"],
        "reason": "upgrade the admissions module", "ticket": "CHG-77"}
    body.update(changes)
    return body


def test_a_technician_files_a_planned_request_and_follows_it(api: ApiWorld) -> None:
    jdupont = api.as_technician("jdupont")
    response = jdupont.post("/requests", planned())
    assert response.status_code == 201
    request = response.get_json()["request"]
    assert response.headers["Location"].endswith(f"/api/v1/requests/{request['id']}")
    assert (request["status"], request["technician"], request["source"]) == ("pending", "jdupont", "api")
    assert request["account"] == "maint" and request["in_contract"] is True
    assert datetime.fromisoformat(request["window_start"]) > utcnow()
    shown = jdupont.get(f"/requests/{request['id']}").get_json()["request"]
    assert shown == request
    assert_error(jdupont.post("/requests", planned(technician="kbenali")), 403, "forbidden")


def test_technicians_see_only_their_own_requests(api: ApiWorld) -> None:
    mine = api.world.file("jdupont")
    theirs = api.world.file("kbenali")
    kbenali = api.as_technician("kbenali")
    listed = kbenali.get("/requests?technician=jdupont").get_json()["requests"]
    assert [r["id"] for r in listed] == [theirs.id]
    staff = api.as_staff("erin").get("/requests").get_json()["requests"]
    assert {r["id"] for r in staff} == {mine.id, theirs.id}


def test_another_technicians_request_is_not_found_exactly_like_a_missing_one(api: ApiWorld) -> None:
    other = api.world.file("jdupont")
    missing = other.id + 1000
    kbenali = api.as_technician("kbenali")
    for path in ("/requests/{}", "/requests/{}/cancel"):
        seen = {}
        for request_id in (other.id, missing):
            method = "POST" if path.endswith("cancel") else "GET"
            response = kbenali.call(method, path.format(request_id), {"reason": "mine?"}
                                    if method == "POST" else None)
            error = assert_error(response, 404, "request_not_found")
            seen[request_id] = error
        assert seen[other.id] == {"code": "request_not_found",
                                  "message": f"there is no request {other.id}", "request_id": other.id}
        assert seen[missing] == {"code": "request_not_found",
                                 "message": f"there is no request {missing}", "request_id": missing}
    assert approvals.get_request(api.core, other.id).status == "pending"


def test_a_technician_does_not_learn_which_staff_member_reviewed(api: ApiWorld) -> None:
    request = api.world.file("jdupont")
    assert api.as_staff("alice").post(f"/requests/{request.id}/deny",
                                      {"reason": "outside the change window"}).status_code == 200
    seen = api.as_technician("jdupont").get(f"/requests/{request.id}").get_json()["request"]
    assert seen["status"] == "denied"
    assert seen["reviews"] == [{"decision": "deny", "reason": "outside the change window",
                                "at": seen["reviews"][0]["at"], "staff_username": None,
                                "staff_name": None}]
    staff_view = api.as_staff("erin").get(f"/requests/{request.id}").get_json()["request"]
    assert staff_view["reviews"][0]["staff_username"] == "alice"


def test_staff_file_on_a_technicians_behalf_and_become_its_declarer(api: ApiWorld) -> None:
    dave = api.as_staff("dave")
    assert_error(dave.post("/requests", planned()), 400, "invalid_input")  # for whom?
    response = dave.post("/requests", planned(technician="kbenali", channels=["exec"]))
    assert response.status_code == 201
    assert response.get_json()["request"]["declared_by"] == "dave"


def test_bad_input_is_refused_naming_what_is_wrong(api: ApiWorld) -> None:
    jdupont = api.as_technician("jdupont")
    naive = (utcnow() + timedelta(hours=1)).replace(tzinfo=None).isoformat()
    cases = [
        (planned(window_end=naive), 400, "invalid_input", "window_end"),
        (planned(colour="blue"), 400, "invalid_input", "colour"),
        (planned(channels=[]), 400, "invalid_input", "channels"),
        (planned(channels=["x11"]), 400, "invalid_input", "channels"),
        (planned(reason="  "), 400, "reason_required", ""),
        (planned(target="dpi-nowhere"), 404, "unknown_target", ""),
        ([1, 2], 400, "invalid_input", "JSON object"),
    ]
    for body, status, code, mention in cases:
        error = assert_error(jdupont.post("/requests", body), status, code)
        assert mention in error["message"], error
    form = jdupont.post("/requests", data="target=dpi-app-01", content_type="application/x-www-form-urlencoded")
    assert_error(form, 400, "invalid_input")
    for query in ("status=bogus", "limit=0", "limit=501", "limit=ten", "status=pending&status=denied"):
        assert_error(jdupont.get(f"/requests?{query}"), 400, "invalid_input")


def test_an_out_of_contract_request_is_refused_and_kept_as_denied(api: ApiWorld) -> None:
    response = api.as_technician("jdupont").post("/requests", planned(account="appadmin"))
    error = assert_error(response, 409, "out_of_contract")
    assert error["reasons"] and isinstance(error["request_id"], int)
    assert approvals.get_request(api.core, error["request_id"]).status == "denied"


def test_a_technician_cancels_their_pending_request_once(api: ApiWorld) -> None:
    request = api.world.file("jdupont")
    jdupont = api.as_technician("jdupont")
    assert_error(jdupont.post(f"/requests/{request.id}/cancel", {"reason": ""}), 400, "reason_required")
    done = jdupont.post(f"/requests/{request.id}/cancel", {"reason": "the job moved to Monday"})
    assert done.status_code == 200 and done.get_json()["request"]["status"] == "cancelled"
    again = jdupont.post(f"/requests/{request.id}/cancel", {"reason": "twice"})
    assert_error(again, 409, "request_not_pending")
    filtered = api.as_staff("erin").get("/requests?status=cancelled&target=dpi-app-01&limit=5")
    assert [r["id"] for r in filtered.get_json()["requests"]] == [request.id]

"""Grants (list, show, certificate, revoke) and sessions (list, show, terminate)."""

from __future__ import annotations

from sqlalchemy import select

from bastion.models import Grant, SshSession, utcnow
from tests.approvals.conftest import audit_events, public_line
from tests.approvals.test_certificates import fingerprint
from tests.harness.queries import statements_sent

from .conftest import ApiWorld
from .test_auth import assert_error


def granted(api: ApiWorld, technician: str = "jdupont") -> int:
    grant = api.world.approve(api.world.file(technician).id, "alice").grant
    assert grant is not None
    return grant.id


def live_session(api: ApiWorld, grant_id: int, status: str = "live") -> int:
    with api.core.db.session() as db:
        grant = db.get(Grant, grant_id)
        row = SshSession(grant_id=grant_id, technician_id=grant.technician_id,
                         target_id=grant.target_id, account_name=grant.account_name,
                         client_address="192.0.2.10", node="test-node", status=status)
        db.add(row)
        db.flush()
        return row.id


def test_revoking_a_grant_closes_its_live_sessions(api: ApiWorld) -> None:
    grant_id = granted(api)
    session_id = live_session(api, grant_id)
    alice = api.as_staff("alice")
    assert_error(alice.post(f"/grants/{grant_id}/revoke", {"reason": ""}), 400, "reason_required")
    assert_error(api.as_technician("jdupont").post(f"/grants/{grant_id}/revoke", {"reason": "x"}),
                 403, "forbidden")
    done = alice.post(f"/grants/{grant_id}/revoke", {"reason": "the vendor's laptop was stolen"})
    assert done.status_code == 200
    body = done.get_json()
    assert body["grant"]["status"] == "revoked" and body["sessions_terminated"] == [session_id]
    assert body["grant"]["revoked_by"] == "staff:alice"
    with api.core.db.session() as db:
        assert db.get(SshSession, session_id).terminate_requested_at is not None
    assert_error(alice.post(f"/grants/{grant_id}/revoke", {"reason": "again"}), 409, "grant_not_revocable")
    jdupont = api.as_technician("jdupont")
    assert_error(jdupont.get(f"/grants/{grant_id}/certificate"), 403, "grant_revoked")
    seen = jdupont.get(f"/grants/{grant_id}").get_json()["grant"]
    assert seen["status"] == "revoked" and seen["revoked_by"] is None  # no staff names for vendors


def test_another_technicians_grant_is_not_found(api: ApiWorld) -> None:
    grant_id = granted(api, "jdupont")
    kbenali = api.as_technician("kbenali")
    for method, path in (("GET", f"/grants/{grant_id}"), ("GET", f"/grants/{grant_id}/certificate"),
                         ("POST", f"/grants/{grant_id}/certificate")):
        error = assert_error(kbenali.call(method, path), 404, "grant_not_found")
        assert error["message"] == f"there is no grant {grant_id}"
    assert kbenali.get("/grants").get_json()["grants"] == []
    assert_error(api.as_staff("erin").get(f"/grants/{grant_id + 99}"), 404, "grant_not_found")


def test_a_technician_with_two_keys_chooses_the_one_the_certificate_is_for(api: ApiWorld) -> None:
    grant_id = granted(api, "kbenali")
    kbenali = api.as_technician("kbenali")
    assert kbenali.get(f"/grants/{grant_id}").get_json()["grant"]["has_certificate"] is False
    assert_error(kbenali.get(f"/grants/{grant_id}/certificate"), 409, "certificate_not_issued")
    assert_error(kbenali.post(f"/grants/{grant_id}/certificate"), 409, "key_ambiguous")
    issued = kbenali.post(f"/grants/{grant_id}/certificate",
                          {"key_fingerprint": fingerprint(public_line("kbenali-2"))})
    assert issued.status_code == 201 and issued.mimetype == "text/plain"
    again = kbenali.get(f"/grants/{grant_id}/certificate")
    assert again.status_code == 200 and again.get_data() == issued.get_data()
    assert public_line("kbenali-2").split()[1] not in again.get_data(as_text=True)  # a cert, not the key


def test_grant_lists_filter_by_status(api: ApiWorld) -> None:
    first, second = granted(api), granted(api)
    api.as_staff("dave").post(f"/grants/{first}/revoke", {"reason": "done early"})
    erin = api.as_staff("erin")
    live = erin.get("/grants?status=approved&status=active").get_json()["grants"]
    assert [g["id"] for g in live] == [second]
    assert [g["id"] for g in erin.get("/grants?status=revoked").get_json()["grants"]] == [first]
    assert_error(erin.get("/grants?status=gone"), 400, "invalid_input")


def test_sessions_are_listed_shown_and_terminated_once(api: ApiWorld) -> None:
    grant_id = granted(api)
    live = live_session(api, grant_id)
    ended = live_session(api, grant_id, status="ended")
    erin = api.as_staff("erin")
    listed = erin.get("/sessions?status=live&technician=jdupont&target=dpi-app-01").get_json()["sessions"]
    assert [s["id"] for s in listed] == [live]
    assert {s["id"] for s in erin.get("/sessions").get_json()["sessions"]} == {live, ended}
    shown = erin.get(f"/sessions/{live}").get_json()["session"]
    assert shown["recordings"] == [] and shown["terminate_requested_at"] is None
    assert_error(erin.post(f"/sessions/{live}/terminate", {"reason": "x"}), 403, "forbidden")

    alice = api.as_staff("alice")
    assert_error(alice.post(f"/sessions/{live}/terminate", {"reason": ""}), 400, "reason_required")
    ordered = alice.post(f"/sessions/{live}/terminate", {"reason": "rm -rf seen on the replay"})
    assert ordered.status_code == 202
    session = ordered.get_json()["session"]
    assert session["terminate_requested_by"] == "staff:alice"
    assert session["terminate_reason"] == "rm -rf seen on the replay"
    twice = api.as_staff("dave").post(f"/sessions/{live}/terminate", {"reason": "me too"})
    assert twice.status_code == 202
    assert twice.get_json()["session"]["terminate_reason"] == "rm -rf seen on the replay"
    assert len(audit_events(api.core, "session.terminate_requested")) == 1

    assert_error(alice.post(f"/sessions/{ended}/terminate", {"reason": "late"}), 409, "session_not_live")
    assert_error(alice.get("/sessions/999999"), 404, "session_not_found")
    assert_error(api.as_technician("jdupont").get(f"/sessions/{live}"), 403, "forbidden")
    with api.core.db.session() as db:
        row = db.scalar(select(SshSession).where(SshSession.id == live))
        assert row.terminate_requested_at is not None and row.terminate_requested_at <= utcnow()


def test_listing_sessions_costs_the_same_queries_for_2_rows_as_for_20(api: ApiWorld) -> None:
    # The list joins technician, vendor, target and recordings per page, not per row.
    erin = api.as_staff("erin")
    grant_id = granted(api)

    def statements_for_list(expected: int) -> int:
        with statements_sent(api.core.db.engine) as seen:
            sessions = erin.get("/sessions?limit=500").get_json()["sessions"]
        assert len(sessions) == expected
        assert all(s["vendor"] == "acme" and s["target"] == "dpi-app-01" for s in sessions)
        return len(seen)

    for _ in range(2):
        live_session(api, grant_id, status="ended")
    statements_for_list(2)  # the first call also records the token's first use
    few = statements_for_list(2)
    for _ in range(18):
        live_session(api, grant_id, status="ended")
    assert statements_for_list(20) == few

"""Least privilege on the recordings themselves, through the console: a session on a server
holding health or INS data is replayed by the DPO; an approver only while it is live; an
admin never. Each refusal is one line and an audit event."""

from __future__ import annotations

from flask import Flask
from flask.testing import FlaskClient

from tests.approvals.conftest import World

from .supervision import Seeded, as_staff, end_session, events, open_session, record
from .test_sessions_console import PURPOSE, app, seeded, world  # noqa: F401 - fixtures


def test_health_sessions_are_replayed_by_the_dpo(app: Flask, client: FlaskClient,  # noqa: F811
                                                  world: World, seeded: Seeded) -> None:  # noqa: F811
    finished = open_session(world.core, technician="kbenali", target="dpi-db-01",
                            account="dbmaint")
    recording = record(world.core, finished, [("o", b"dbmaint@dpi-db-01:~$ psql\r\n")])
    end_session(world.core, finished)

    as_staff(app, client, world, "dave")  # admin
    page = client.get(f"/recordings/{recording}")
    assert page.status_code == 403
    assert "sa relecture est réservée au DPO" in page.get_data(as_text=True)
    cast = client.get(f"/recordings/{recording}/cast?purpose={PURPOSE}")
    assert cast.status_code == 403
    assert cast.get_json()["error"]["code"] == "replay_not_allowed"

    as_staff(app, client, world, "alice")  # approver: the session has ended
    assert client.get(f"/recordings/{recording}/cast?purpose={PURPOSE}").status_code == 403
    # ... but a live session on the same server can be supervised.
    assert client.get(f"/recordings/{seeded.live_recording}/cast?purpose={PURPOSE}").status_code == 200

    as_staff(app, client, world, "erin")  # DPO
    assert client.get(f"/recordings/{recording}?purpose={PURPOSE}").status_code == 200
    assert client.get(f"/recordings/{recording}/cast?purpose={PURPOSE}").status_code == 200
    # A session on a server without health data: unchanged for approvers.
    as_staff(app, client, world, "alice")
    assert client.get(f"/recordings/{seeded.finished_recording}/cast?purpose={PURPOSE}").status_code == 200

    refused = events(world.core, "recording.view_refused")
    assert [e.actor for e in refused] == ["staff:dave", "staff:dave", "staff:alice"]
    assert all(e.target == "dpi-db-01" and e.outcome == "denied" for e in refused)
    assert "its replay is for the DPO" in refused[0].reasons[0]
    viewed = events(world.core, "recording.viewed")
    assert {e.actor for e in viewed} == {"staff:alice", "staff:erin"}


WATCHING = "supervising the night upgrade of the database"


def test_health_sessions_are_watched_live_by_approvers_and_the_dpo(  # noqa: F811
        app: Flask, client: FlaskClient, world: World, seeded: Seeded) -> None:  # noqa: F811
    """Watching live asks for a purpose too; on a health server, admins are refused (one
    line, audited), approvers watch while it is live, the DPO watches but cannot terminate."""
    live = f"/sessions/{seeded.live}"  # a live session on dpi-db-01 (health data)
    as_staff(app, client, world, "dave")  # admin
    page = client.get(f"{live}/watch", query_string={"purpose": WATCHING})
    assert page.status_code == 403
    assert "elle est suivie par le DPO" in page.get_data(as_text=True)
    feed = client.get(f"{live}/feed", query_string={"purpose": WATCHING})
    assert feed.status_code == 403 and feed.get_json()["error"]["code"] == "watch_not_allowed"

    as_staff(app, client, world, "alice")  # approver, while the session is live
    assert client.get(f"{live}/feed", query_string={"purpose": WATCHING}).status_code == 200

    as_staff(app, client, world, "erin")  # DPO
    page = client.get(f"{live}/watch", query_string={"purpose": WATCHING})
    assert page.status_code == 200 and "/terminate" not in page.get_data(as_text=True)
    assert client.get(f"{live}/feed", query_string={"purpose": WATCHING}).status_code == 200

    end_session(world.core, seeded.live)
    as_staff(app, client, world, "alice")  # ended: no longer the approver's
    assert client.get(f"{live}/watch", query_string={"purpose": WATCHING}).status_code == 403

    refused = events(world.core, "recording.view_refused")
    assert [(e.actor, e.details["purpose"]) for e in refused] == [
        ("staff:dave", "live"), ("staff:dave", "live"), ("staff:alice", "live")]
    viewed = [(e.actor, e.details["purpose"], e.details["reason"])
              for e in events(world.core, "recording.viewed")]
    assert viewed == [("staff:alice", "live", WATCHING), ("staff:erin", "live", WATCHING)]

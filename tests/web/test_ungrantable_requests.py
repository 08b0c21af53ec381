"""Issue 13.9: a pending request that can no longer be granted leaves the approvers' queue
at once, with the reason, before anyone reaches for a key: the contract reloaded, the
technician removed from it, the access revoked or suspended by an access review. The
engine is asked again when an approver opens the approval too (fail closed).
Through the console's HTTP pages and the JSON API."""

from __future__ import annotations

from datetime import date, timedelta
from pathlib import Path

import pytest
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import update

from bastion import approvals
from bastion.access_review import close_overdue_campaigns, get_campaign, open_campaign
from bastion.audit import Actor
from bastion.context import Bastion
from bastion.models import Target, utcnow
from tests.approvals.conftest import World, audit_events, contract_document, load_contract
from web import create_app

from .supervision import as_staff, csrf, supervision_world

ADMIN = Actor("test:setup", "admin")


@pytest.fixture
def world(core: Bastion, tmp_path: Path) -> World:
    return supervision_world(core, tmp_path)


@pytest.fixture
def app(core: Bastion, world: World) -> Flask:
    return create_app(core, {"TESTING": True})


def queue(client: FlaskClient) -> str:
    page = client.get("/requests")
    assert page.status_code == 200
    return page.get_data(as_text=True)


def in_queue(client: FlaskClient, request_id: int) -> bool:
    # The pending part of the page comes before the recent decisions.
    html = queue(client)
    pending = html.split('id="decided', 1)[0]
    return f'href="/requests/{request_id}"' in pending


def assert_left_the_queue(app: Flask, client: FlaskClient, world: World, request_id: int,
                          reason_part: str, trigger_part: str, shown: str) -> None:
    """``reason_part``: in the audit's English reason; ``shown``: in the French page's."""
    info = approvals.get_request(world.core, request_id)
    assert info.status == "denied"
    assert approvals.pending_requests(world.core) == [] or all(
        p.id != request_id for p in approvals.pending_requests(world.core))
    assert not in_queue(client, request_id)
    page = client.get(f"/requests/{request_id}").get_data(as_text=True)
    assert shown in page, page[:3000]
    event = [e for e in audit_events(world.core, "request.refused") if e.request_id == request_id][-1]
    assert event.outcome == "denied" and event.details["was"] == "pending"
    assert trigger_part in event.details["trigger"]
    assert any(reason_part in reason for reason in event.reasons)


def test_a_contract_reload_takes_its_pending_requests_out_of_the_queue(app: Flask, client: FlaskClient,
                                                                      world: World) -> None:
    info = world.file()
    as_staff(app, client, world, "alice")
    assert in_queue(client, info.id)
    narrower = contract_document()
    narrower["scope"]["targets"] = [{"name": "dpi-db-01", "accounts": ["dbmaint"]}]
    load_contract(world.core, narrower)
    assert_left_the_queue(app, client, world, info.id, "dpi-app-01 matches no target rule",
                          "contract ACME-1 version 2 loaded",
                          "dpi-app-01 ne correspond à aucune règle de cible")


def test_a_harmless_new_version_still_voids_requests_filed_under_the_old_one(
        app: Flask, client: FlaskClient, world: World) -> None:
    # approve() refuses a request filed under another version: say so now, not at the key.
    info = world.file()
    as_staff(app, client, world, "alice")
    load_contract(world.core, contract_document(approval={"approvers": 1}))
    assert_left_the_queue(app, client, world, info.id, "replaced the version this request was filed under",
                          "version 2 loaded", "a remplacé celle sous laquelle cette demande a été déposée")


def test_a_technician_removed_from_the_contract_loses_their_pending_requests(
        app: Flask, client: FlaskClient, world: World) -> None:
    mine = world.file("jdupont")
    other = world.file("kbenali")
    as_staff(app, client, world, "alice")
    document = contract_document()
    document["technicians"] = [t for t in document["technicians"] if t["id"] != "jdupont"]
    load_contract(world.core, document)
    assert_left_the_queue(app, client, world, mine.id, "technician jdupont is inactive", "version 2",
                          "le technicien jdupont est désactivé")
    assert approvals.get_request(world.core, other.id).status == "denied"  # filed under version 1


def test_an_access_review_revocation_and_suspension_empty_the_queue(app: Flask, client: FlaskClient,
                                                                    world: World) -> None:
    revoked = world.file("jdupont")
    suspended = world.file("kbenali", target="dpi-db-01")
    untouched = world.file("kbenali")
    # Opened last week, due yesterday: what close-overdue finds undecided is suspended.
    campaign = open_campaign(world.core, vendor="acme", deadline=date.today() - timedelta(days=2),
                             actor=ADMIN, now=utcnow() - timedelta(days=9))
    lines = {(line.technician, line.target): line for line in get_campaign(world.core, campaign.id).lines}
    as_staff(app, client, world, "carol")  # approver and admin: may decide review lines
    line = lines[("jdupont", "dpi-app-01")]
    page = f"/access-reviews/{campaign.id}"
    answer = client.post(f"/access-reviews/lines/{line.id}/revoke",
                         data={f"r{line.id}-reason": "left the company", "csrf_token": csrf(client, page)})
    assert answer.status_code == 302
    assert_left_the_queue(app, client, world, revoked.id, "revoked", "access review",
                          "retiré par la revue des accès")
    # The rest of the campaign is left undecided past its deadline: suspended.
    for key, other in lines.items():
        if key != ("kbenali", "dpi-db-01") and other.decision == "pending" and other.id != line.id:
            client.post(f"/access-reviews/lines/{other.id}/confirm",
                        data={f"c{other.id}-comment": "", "csrf_token": csrf(client, page)})
    close_overdue_campaigns(world.core)
    assert_left_the_queue(app, client, world, suspended.id, "suspend", "access review",
                          "suspendu par la revue des accès")
    assert approvals.get_request(world.core, untouched.id).status == "pending"


def test_the_engine_is_asked_again_before_an_approver_touches_a_key(app: Flask, client: FlaskClient,
                                                                  world: World) -> None:
    info = world.file()
    with world.core.db.session() as db:  # no hook runs: only the approval's own re-check
        db.execute(update(Target).where(Target.name == "dpi-app-01").values(enabled=False))
    as_staff(app, client, world, "alice")
    headers = {"X-CSRFToken": csrf(client, f"/requests/{info.id}")}
    refused = client.post(f"/requests/{info.id}/approve/options", json={}, headers=headers)
    assert refused.status_code == 409
    assert refused.get_json()["error"]["code"] == "out_of_contract"
    # The engine's reason in the approver's language (French here); English in the audit.
    assert "cible dpi-app-01 inconnue ou désactivée" in refused.get_json()["error"]["message"]
    assert_left_the_queue(app, client, world, info.id, "disabled target dpi-app-01", "options refused",
                          "cible dpi-app-01 inconnue ou désactivée")
    assert audit_events(world.core, "request.approval_refused")[-1].details["code"] == "out_of_contract"

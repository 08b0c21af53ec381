"""The approvers' pages: the queue with the contract's verdict, a request's page (the link of
the notification e-mail), approving with a security key through the console (a software
authenticator here; the browser test uses Chromium's), denying with a reason, and the
precise message of each refusal. Approve is never offered to the requester nor to
someone without the approver role."""

from __future__ import annotations

from pathlib import Path
from urllib.parse import urlsplit

import pytest
from flask import Flask
from flask.testing import FlaskClient

from bastion import approvals
from bastion.approvals.notifications import request_url
from bastion.audit import Actor
from bastion.context import Bastion
from bastion.models import AccessRequest, utcnow
from tests.approvals.conftest import World
from web import create_app

from .supervision import as_staff, csrf, events, sign_in, supervision_world, technician_id


@pytest.fixture
def world(core: Bastion, tmp_path: Path) -> World:
    return supervision_world(core, tmp_path)


@pytest.fixture
def app(core: Bastion) -> Flask:
    return create_app(core, {"TESTING": True})


def _approve(client: FlaskClient, world: World, request_id: int, name: str) -> tuple[int, dict]:
    """The browser's part of an approval, through the console's own endpoints."""
    token = csrf(client, f"/requests/{request_id}")
    headers = {"X-CSRFToken": token}
    reply = client.post(f"/requests/{request_id}/approve/options", json={}, headers=headers)
    if reply.status_code != 200:
        return reply.status_code, reply.get_json()
    answer = world.keys[name].get(reply.get_json()["options"])
    reply = client.post(f"/requests/{request_id}/approve", json={"credential": answer},
                        headers=headers)
    return reply.status_code, reply.get_json()


def test_the_queue_shows_what_an_approver_decides_on(app: Flask, client: FlaskClient,
                                                     world: World) -> None:
    first = world.file(reason="mise à jour du module d'admission", ticket="INC-4242")
    second = world.file(target="dpi-db-01", account="dbmaint", ticket="CHG-77",
                        technician="kbenali", reason="purge des journaux")
    as_staff(app, client, world, "alice")
    page = client.get("/requests").get_data(as_text=True)
    for text in ("mise à jour du module d&#39;admission", "INC-4242", "CHG-77",
                 "conforme au contrat", "Données de santé", "0 sur 2", "0 sur 1",
                 f"/requests/{first.id}", f"/requests/{second.id}", "à examiner par vous"):
        assert text in page, text
    # The menu's badge: two requests wait for alice's review.
    assert '<span class="count" title="Demandes qui attendent votre examen">2' in page


def test_the_notification_link_is_the_request_page(app: Flask, client: FlaskClient,
                                                   world: World) -> None:
    info = world.file()
    path = urlsplit(request_url(world.core, info.id)).path
    assert path == f"/requests/{info.id}"
    assert client.get(path).status_code == 302  # sign in first, then back here
    assert client.get(path).location.endswith(f"/sign-in?next={path}")
    as_staff(app, client, world, "bob")  # bob reads the console in English
    page = client.get(path).get_data(as_text=True)
    assert "Approve with my security key" in page
    assert "update the DPI application to 4.2" in page and "CHG-1234" in page


def test_approve_with_a_key_through_the_console(app: Flask, client: FlaskClient,
                                                world: World) -> None:
    info = world.file()
    as_staff(app, client, world, "alice")
    status, body = _approve(client, world, info.id, "alice")
    assert status == 200, body
    assert body["redirect"] == f"/requests/{info.id}"
    page = client.get(body["redirect"]).get_data(as_text=True)
    assert f"Demande {info.id} approuvée" in page
    assert "1 sur 1 nécessaires" in page and "Alice" in page
    assert "Approuver avec ma clé" not in page  # decided: nothing more to offer
    assert approvals.get_request(world.core, info.id).status == "approved"
    assert [e.actor for e in events(world.core, "request.approval")] == ["staff:alice"]


def test_two_approvers_for_health_data(app: Flask, client: FlaskClient, world: World) -> None:
    info = world.file(target="dpi-db-01", account="dbmaint")
    as_staff(app, client, world, "alice")
    status, body = _approve(client, world, info.id, "alice")
    assert status == 200
    page = client.get(body["redirect"]).get_data(as_text=True)
    assert "Votre approbation est enregistrée (1 sur 2)" in page
    # A second approval by the same person: refused, and the page says so precisely.
    assert "vous avez déjà examiné cette demande" in page.lower()
    status, body = _approve(client, world, info.id, "alice")
    assert status == 409 and body["error"]["code"] == "already_reviewed"
    assert "vous avez déjà examiné cette demande" in body["error"]["message"].lower()
    as_staff(app, client, world, "bob")
    status, body = _approve(client, world, info.id, "bob")
    assert status == 200
    assert approvals.get_request(world.core, info.id).status == "approved"


def test_never_offered_to_the_requester_nor_to_a_non_approver(app: Flask, client: FlaskClient,
                                                               world: World) -> None:
    # carol filed it for the technician: she is the requester.
    info = world.file(declared_by=world.staff["carol"], source="console",
                      actor=Actor("staff:carol", "admin,approver"))
    as_staff(app, client, world, "carol")
    page = client.get(f"/requests/{info.id}").get_data(as_text=True)
    assert "Approuver avec ma clé" not in page
    assert "Vous avez déposé cette demande" in page
    status, body = _approve(client, world, info.id, "carol")
    assert status == 403 and body["error"]["code"] == "approver_is_requester"
    assert "un autre approbateur doit l" in body["error"]["message"]

    as_staff(app, client, world, "dave")  # an admin without the approver role
    page = client.get(f"/requests/{info.id}").get_data(as_text=True)
    assert "Approuver avec ma clé" not in page
    assert "Vous n&#39;avez pas le rôle d&#39;approbateur" in page
    assert client.post(f"/requests/{info.id}/approve/options", json={},
                       headers={"X-CSRFToken": csrf(client)}).status_code == 403

    as_staff(app, client, world, "erin")  # the DPO reads, read-only
    page = client.get(f"/requests/{info.id}").get_data(as_text=True)
    assert "update the DPI application" in page and "Refuser la demande" not in page

    sign_in(app, client, f"technician:{technician_id(world.core)}")
    assert client.get(f"/requests/{info.id}").status_code == 403
    assert client.get("/requests").status_code == 403


def test_deny_needs_a_reason(app: Flask, client: FlaskClient, world: World) -> None:
    info = world.file()
    as_staff(app, client, world, "carol")
    token = csrf(client, f"/requests/{info.id}")
    page = client.post(f"/requests/{info.id}/deny", data={"csrf_token": token, "reason": "  "},
                       follow_redirects=True).get_data(as_text=True)
    assert "Dites pourquoi la demande est refusée." in page
    assert approvals.get_request(world.core, info.id).status == "pending"
    page = client.post(f"/requests/{info.id}/deny",
                       data={"csrf_token": token, "reason": "pas de fenêtre de maintenance"},
                       follow_redirects=True).get_data(as_text=True)
    assert f"Demande {info.id} refusée." in page
    assert "pas de fenêtre de maintenance" in page
    assert approvals.get_request(world.core, info.id).status == "denied"
    # Another approver approving the denied request: refused with the reason why.
    as_staff(app, client, world, "alice")
    status, body = _approve(client, world, info.id, "alice")
    assert status == 409 and body["error"]["code"] == "request_not_pending"


def test_an_expired_request_is_not_offered(app: Flask, client: FlaskClient, world: World) -> None:
    info = world.file()
    with world.core.db.session() as db:
        db.get(AccessRequest, info.id).expires_at = utcnow()
    as_staff(app, client, world, "alice")
    page = client.get(f"/requests/{info.id}").get_data(as_text=True)
    assert "Approuver avec ma clé" not in page
    assert "Cette demande a expiré sans décision" in page
    assert client.get("/requests/999999").status_code == 404

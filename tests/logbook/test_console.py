"""The logbook's console pages: the list with its filters, the CSV download and the
printable page (both audited), for approvers, admins and the DPO."""

from __future__ import annotations

from pathlib import Path

import pytest
from flask import Flask
from flask.testing import FlaskClient

from bastion.context import Bastion
from tests.approvals.conftest import World
from tests.web.supervision import (
    as_staff,
    end_session,
    events,
    make_grant,
    open_session,
    record,
    supervision_world,
)
from web import create_app

DIGEST = "5f" * 32


def proxy_event(core: Bastion, session_id: int, action: str, outcome: str, **details: object) -> None:
    """An event with the details the proxy writes (bastion.proxy.channels, .sftp.relay)."""
    with core.db.session() as db:
        core.audit.append(db, action=action, outcome=outcome, session_id=session_id,
                          technician="jdupont", target="dpi-app-01", details=details)


@pytest.fixture
def world(core: Bastion, tmp_path: Path) -> World:
    w = supervision_world(core, tmp_path)
    grant_id = make_grant(w, technician="jdupont", target="dpi-app-01")
    session_id = open_session(core, grant_id=grant_id)
    record(core, session_id)  # real recording: commands indexed from it
    proxy_event(core, session_id, "command.flagged", "allowed", command="systemctl restart dpi-admission",
                rule=r"\bsystemctl\b", reason="restarts are reviewed")
    proxy_event(core, session_id, "sftp.transfer", "ok", operation="download",
                path="/var/log/dpi.log", bytes=1024, sha256=DIGEST, closed=True)
    end_session(core, session_id)
    return w


@pytest.fixture
def app(core: Bastion) -> Flask:
    return create_app(core, {"TESTING": True})


@pytest.fixture
def client(app: Flask) -> FlaskClient:
    return app.test_client()


def test_the_list_shows_each_intervention(app: Flask, client: FlaskClient, world: World) -> None:
    as_staff(app, client, world, "erin")  # the DPO
    page = client.get("/logbook").get_data(as_text=True)
    assert "<h1>Main courante des interventions</h1>" in page
    assert "CHG-1234" in page and "update the DPI application to 4.2" in page
    assert "Alice (alice)" in page  # the approver
    assert "systemctl restart dpi-admission" in page and DIGEST in page
    assert "Commande signalée (restarts are reviewed) : systemctl restart dpi-admission" in page
    assert 'href="/sessions/1"' in page
    assert 'href="/logbook/export.csv?' in page and 'href="/logbook/print?' in page
    # Filters: another target, another period; unknown choices and reversed dates refused.
    for query in ("vendor=acme&target=dpi-db-01", "start=2020-01-01&end=2020-01-31"):
        response = client.get(f"/logbook?{query}")
        assert "Aucune intervention ne correspond" in response.get_data(as_text=True), query
    for query in ("vendor=nobody", "start=2026-02-02&end=2026-02-01"):
        assert client.get(f"/logbook?{query}").status_code == 400, query


def test_csv_and_printable_page_are_audited(app: Flask, client: FlaskClient, world: World) -> None:
    as_staff(app, client, world, "dave")  # an admin
    response = client.get("/logbook/export.csv?vendor=acme")
    assert response.status_code == 200 and response.mimetype == "text/csv"
    assert "attachment" in response.headers["Content-Disposition"]
    text = response.get_data(as_text=True)
    assert text.startswith("\ufeffrequest,grant,vendor,")
    assert f"download /var/log/dpi.log (1024 bytes, sha256 {DIGEST})" in text
    assert "http://localhost:8080/sessions/1" in text  # absolute: the file leaves the console

    page = client.get("/logbook/print?vendor=acme")
    html = page.get_data(as_text=True)
    assert page.status_code == 200 and "Main courante des interventions" in html
    assert '<link rel="stylesheet" href="/logbook/print.css">' in html
    assert "<style" not in html and " style=" not in html and "<script" not in html  # CSP
    assert "Acme Santé SAS" in html and "Visa de l&#39;établissement" in html
    css = client.get("/logbook/print.css")
    assert css.mimetype == "text/css" and b"@media print" in css.data and b"@page" in css.data
    exports = events(world.core, "logbook.exported")
    assert [(e.actor, e.details["format"], e.details["entries"]) for e in exports] == [
        ("staff:dave", "csv", 1), ("staff:dave", "html", 1)]


def test_the_list_is_in_english_on_request(app: Flask, client: FlaskClient, world: World) -> None:
    as_staff(app, client, world, "alice")  # an approver
    with client.session_transaction() as stored:
        stored["language"] = "en"
    page = client.get("/logbook").get_data(as_text=True)
    assert "<h1>Intervention logbook</h1>" in page
    assert "Command flagged (restarts are reviewed)" in page

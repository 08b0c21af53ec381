"""A refusal's detailed reasons, stored with the request, read in the approver's language
and time zone on the console (the audit trail keeps them in English); an older verdict,
stored before the reasons had phrases, still shows its English reasons."""

from __future__ import annotations

from datetime import datetime, timedelta
from html import unescape
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
from flask import Flask
from flask.testing import FlaskClient

from bastion import approvals
from bastion.context import Bastion
from bastion.i18n import moment
from bastion.models import AccessRequest, StaffUser
from tests.approvals.conftest import World, audit_events, contract_document, load_contract
from web import create_app

from .supervision import as_staff, supervision_world

PARIS = ZoneInfo("Europe/Paris")


@pytest.fixture
def world(core: Bastion, tmp_path: Path) -> World:
    w = supervision_world(core, tmp_path)
    # Weekdays from 08:00 to 18:00 only; bob reads English, in French Guiana's zone.
    load_contract(core, contract_document(scope={
        **contract_document()["scope"],
        "windows": [{"days": ["mon", "tue", "wed", "thu", "fri"], "start": "08:00",
                     "end": "18:00"}]}))
    with core.db.session() as db:
        bob = db.get(StaffUser, w.staff["bob"])
        bob.language, bob.time_zone = "en", "America/Cayenne"
    return w


@pytest.fixture
def app(core: Bastion) -> Flask:
    return create_app(core, {"TESTING": True})


def next_saturday() -> datetime:
    """10:00 in Paris on a Saturday at least a day ahead: outside the contract's windows."""
    day = datetime.now(PARIS) + timedelta(days=1)
    while day.weekday() != 5:
        day += timedelta(days=1)
    return day.replace(hour=10, minute=0, second=0, microsecond=0)


def refused_request(world: World) -> tuple[int, datetime]:
    start = next_saturday()
    with pytest.raises(approvals.OutOfContract) as refused:
        world.file(start=start, minutes=60)
    assert refused.value.request_id is not None
    return refused.value.request_id, start


def page(app: Flask, client: FlaskClient, world: World, name: str, request_id: int) -> str:
    as_staff(app, client, world, name)
    reply = client.get(f"/requests/{request_id}")
    assert reply.status_code == 200
    return " ".join(unescape(reply.get_data(as_text=True)).split())


def test_a_french_approver_reads_the_reasons_in_french(app: Flask, client: FlaskClient,
                                                        world: World, core: Bastion) -> None:
    request_id, start = refused_request(world)
    monday = start + timedelta(days=2) - timedelta(hours=2)  # 08:00, Paris
    english = (f"{start.strftime('%Y-%m-%d %H:%M %Z')} is outside contract ACME-1's "
               f"maintenance windows; the next window opens {monday.strftime('%Y-%m-%d %H:%M %Z')}")
    # The audit trail and the stored reasons keep the English text.
    assert english in audit_events(core, "request.refused")[-1].reasons
    with core.db.session() as db:
        assert english in db.get(AccessRequest, request_id).verdict["reasons"]

    french = page(app, client, world, "alice", request_id)
    assert (f"{moment(start, 'fr', PARIS)} est hors des fenêtres de maintenance du contrat "
            f"ACME-1 ; la prochaine fenêtre s'ouvre le {moment(monday, 'fr', PARIS)}") in french
    assert "is outside contract" not in french and "the next window" not in french

    cayenne = ZoneInfo("America/Cayenne")
    english_page = page(app, client, world, "bob", request_id)
    assert (f"{moment(start, 'en', cayenne)} is outside contract ACME-1's maintenance "
            f"windows; the next window opens {moment(monday, 'en', cayenne)}") in english_page
    assert "fenêtre" not in english_page


def test_a_verdict_without_phrases_shows_its_english_reasons(app: Flask, client: FlaskClient,
                                                             world: World, core: Bastion) -> None:
    request_id, _start = refused_request(world)
    with core.db.session() as db:
        request = db.get(AccessRequest, request_id)
        older = {k: v for k, v in request.verdict.items() if k != "details"}
        older["reasons"] = ["an older reason, stored in English"]
        request.verdict = older
    assert "an older reason, stored in English" in page(app, client, world, "alice", request_id)

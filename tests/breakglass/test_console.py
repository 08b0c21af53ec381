"""The console's break-glass and DPO pages: declaring for a technician, the DPO's home with
overdue reviews, closing a review, flags linked to their moment, reports (CSV, print)."""

from __future__ import annotations

import csv
import io
import re
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import timedelta
from html import unescape

import pytest
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import select

from bastion import breakglass
from bastion.demo.mail_sink import start_mail_sink
from bastion.demo.mailbox import read_mailbox
from bastion.models import Grant, StaffUser, Technician, utcnow
from tests.approvals.conftest import World, audit_events
from tests.controls.test_period import open_session, proxy_event
from tests.harness.ports import free_port
from tests.web.conftest import People, csrf_from, session_for
from tests.web.test_accessibility import problems_of
from web import create_app

from .conftest import JUSTIFICATION


@dataclass
class Console:
    world: World
    app: Flask
    client: FlaskClient
    people: People

    def sign_in(self, identity: str, username: str | None = None) -> None:
        people = self.people
        if username is not None:  # someone else holding that role
            people = People(**{**people.__dict__, identity: self.world.staff[username]})
        contents = session_for(self.app, identity, people)
        with self.client.session_transaction() as stored:
            stored.clear()
            stored.update(contents)

    def page(self, path: str, status: int = 200) -> str:
        response = self.client.get(path)
        assert response.status_code == status, (path, response.status_code)
        return response.get_data(as_text=True)


@pytest.fixture
def console(bg_world: World) -> Iterator[Console]:
    app = create_app(bg_world.core, {"TESTING": True})
    with bg_world.core.db.session() as db:
        technician = db.scalar(select(Technician.id).where(Technician.ident == "jdupont"))
        db.get(StaffUser, bg_world.staff["diane"]).language = "fr"  # the console's default
    people = People(approver=bg_world.staff["alice"], admin=bg_world.staff["dave"],
                    dpo=bg_world.staff["diane"], technician=technician,
                    keyless=bg_world.staff["bob"])
    with app.test_client() as client:
        yield Console(bg_world, app, client, people)


def declare(world: World, **fields: object) -> breakglass.BreakGlassAccess:
    arguments: dict[str, object] = {"technician": "jdupont", "target": "dpi-app-01",
                                    "justification": JUSTIFICATION}
    arguments.update(fields)
    return breakglass.declare_break_glass(world.core, **arguments)  # type: ignore[arg-type]


def test_an_approver_declares_for_a_technician(console: Console) -> None:
    console.sign_in("approver")
    page = console.page("/break-glass/declare")
    assert "Déclarer un accès d'urgence" in page and 'value="jdupont"' in page
    response = console.client.post("/break-glass/declare", data={
        "technician": "jdupont", "target": "dpi-db-01", "justification": JUSTIFICATION,
        "ticket": "INC-7", "csrf_token": csrf_from(page)})
    assert response.status_code == 302 and response.location == "/"
    home = unescape(console.page("/"))
    assert "Accès d'urgence ouvert pour jdupont sur dpi-db-01" in home
    # No [smtp] nor [webhook] here: whoever declared is told that nobody else knows.
    assert ("PERSONNE n'a été prévenu : aucun canal de notification n'est configuré ([smtp] "
            "host, [webhook] url). Appelez vous-même les approbateurs et le DPO") in home
    assert "sont prévenus" not in home
    with console.world.core.db.session() as db:
        grant = db.scalar(select(Grant))
        assert grant.break_glass and grant.request.declared_by_staff_id == console.people.approver
    # A refusal is shown in one line, and the form kept.
    page = console.page("/break-glass/declare")
    response = console.client.post("/break-glass/declare", data={
        "technician": "jdupont", "target": "dpi-app-01", "justification": "urgent",
        "csrf_token": csrf_from(page)})
    assert response.status_code == 400
    # In the approver's language (French by default), as the technician reads it over SSH.
    assert "la justification est trop courte" in unescape(response.get_data(as_text=True))


def test_the_declarer_reads_who_was_e_mailed(console: Console, tmp_path) -> None:  # type: ignore[no-untyped-def]
    maildir = tmp_path / "sink"
    sink = start_mail_sink(maildir, free_port())  # a real SMTP server (aiosmtpd)
    try:
        core = console.world.core
        core.settings = core.settings.with_changes("smtp", host="127.0.0.1", port=sink.port)
        console.sign_in("approver")
        page = console.page("/break-glass/declare")
        response = console.client.post("/break-glass/declare", data={
            "technician": "jdupont", "target": "dpi-app-01", "justification": JUSTIFICATION,
            "csrf_token": csrf_from(page)})
        assert response.status_code == 302
        home = unescape(console.page("/"))
    finally:
        sink.stop()
    told = re.search(r"Prévenus : ([^<]*)\. Le DPO l'examinera\.", home)
    assert told, home
    addresses = set(re.findall(r"e-mail à (\S+?@chu\.example)", told.group(1)))
    received = {mail.recipients for mail in read_mailbox(maildir)}
    assert addresses and addresses == received
    assert "alice@chu.example" not in addresses  # she declared it
    assert "PERSONNE" not in home and "aucun canal de notification" not in home

    # The demo's mailbox page shows them (a console built as `bastion demo` builds it).
    demo = create_app(console.world.core, {"TESTING": True, "BASTION_DEMO_MAILBOX": str(maildir)})
    with demo.test_client() as client:
        with client.session_transaction() as stored:
            stored.update(session_for(demo, "dpo", console.people))
        page = unescape(client.get("/demo/mailbox").get_data(as_text=True))
    assert page.count("[URGENT]") == len(addresses)  # one per person, in their language
    assert "urgent" in page and JUSTIFICATION in page
    assert problems_of("/demo/mailbox", page) == []


def test_staff_see_a_banner_while_no_channel_is_configured(console: Console) -> None:
    banner = "Personne n'est prévenu des bris de glace ni des demandes d'accès"
    for identity in ("approver", "admin", "dpo"):
        console.sign_in(identity)
        assert banner in unescape(console.page("/")), identity
    console.sign_in("technician")
    assert banner not in unescape(console.page("/portal/requests"))
    core = console.world.core
    core.settings = core.settings.with_changes("webhook", url="http://127.0.0.1:9/hook")
    console.sign_in("dpo")
    assert banner not in unescape(console.page("/"))


def test_the_dpo_home_shows_overdue_reviews_first(console: Console) -> None:
    now = utcnow()
    old = declare(console.world, now=now - timedelta(days=4))
    recent = declare(console.world, target="dpi-db-01")
    console.sign_in("dpo")
    page = console.page("/dpo")
    overdue_part, open_part = page.split('id="open-heading"')
    assert f"/dpo/break-glass/{old.review_id}" in overdue_part and "en retard" in overdue_part
    assert 'class="overdue"' in overdue_part and 'role="alert"' in overdue_part
    assert f"/dpo/break-glass/{recent.review_id}" in open_part
    assert f"/dpo/break-glass/{old.review_id}" not in open_part
    assert "Bris de glace" in page  # the week's flags, by kind
    # The console-wide home page flags it too, for the DPO.
    home = console.page("/")
    assert f"/dpo/break-glass/{old.review_id}" in home and "en retard" in home


def test_the_dpo_closes_a_review_and_an_admin_cannot_read_it(console: Console) -> None:
    access = declare(console.world)
    url = f"/dpo/break-glass/{access.review_id}"
    console.sign_in("admin")
    # Least privilege on the traces: the admin keeps the inventory, not the DPO's pages.
    assert JUSTIFICATION not in console.page(url, status=403)
    assert console.client.post(url, data={"verdict": "justified", "comment": "x"}).status_code == 403

    console.sign_in("dpo")
    page = console.page(url)
    assert "Clore la revue" in page and "par le technicien, en SSH" in page
    response = console.client.post(url, data={"verdict": "justified", "comment": "",
                                              "csrf_token": csrf_from(page)})
    assert response.status_code == 400  # a verdict needs its comment
    response = console.client.post(url, data={
        "verdict": "unjustified", "comment": "Planned work declared as an emergency.",
        "csrf_token": csrf_from(page)})
    assert response.status_code == 302 and response.location == url
    page = console.page(url)
    assert "La revue est close." in page and "Planned work declared as an emergency." in page
    assert "Non justifié" in page and "Clore la revue" not in page
    [event] = audit_events(console.world.core, "break_glass.reviewed")
    assert event.actor == "staff:diane" and event.details["verdict"] == "unjustified"
    assert "close (non justifié)" in console.page("/dpo/break-glass")


def test_a_dpo_who_declared_it_cannot_close_it(console: Console) -> None:
    access = declare(console.world, source="console", declared_by_staff=console.world.staff["eve"])
    url = f"/dpo/break-glass/{access.review_id}"
    console.sign_in("dpo", username="eve")
    page = console.page(url)
    assert "Clore la revue" not in page and "par eve, dans la console" in page
    response = console.client.post(url, data={"verdict": "justified", "comment": "mine",
                                              "csrf_token": csrf_from(page)})
    assert response.status_code == 403
    assert "you declared this emergency access" in response.get_data(as_text=True)
    assert console.page("/dpo/break-glass/999", status=404)


def test_flags_link_to_their_moment_and_export(console: Console) -> None:
    core = console.world.core
    now = utcnow().replace(microsecond=0)
    session_id = open_session(core, "dpi-db-01", now - timedelta(minutes=20),
                              now - timedelta(minutes=5), channels=("shell",))
    proxy_event(core, "command.flagged", session_id, "allowed", command="=cmd|' /C calc'!A0",
                rule="cmd", reason="spreadsheet test")
    console.sign_in("dpo")
    page = console.page("/dpo/flags")
    assert "Données de santé ou INS" in page and "Règle de commande" in page
    assert "/recordings/" in page and "Revoir à" in page
    page = console.page("/dpo/flags?kind=command_rule&lang=en")
    assert "Données de santé ou INS" not in page.split("<table")[1]
    response = console.client.get("/dpo/flags.csv?kind=command_rule")
    assert response.status_code == 200 and response.mimetype == "text/csv"
    rows = list(csv.DictReader(io.StringIO(response.get_data(as_text=True).lstrip("\ufeff"))))
    assert [r["kind"] for r in rows] == ["command_rule"]
    assert rows[0]["session"] == str(session_id) and rows[0]["recording"]
    [export] = audit_events(core, "report.exported")
    assert export.details["report"] == "flags" and export.actor == "staff:diane"
    assert console.client.get("/dpo/flags?start=2025-02-01&end=2025-01-01").status_code == 400


def test_reports_per_vendor_csv_and_printable(console: Console) -> None:
    core = console.world.core
    now = utcnow().replace(microsecond=0)
    open_session(core, "dpi-db-01", now - timedelta(minutes=50), now - timedelta(minutes=20))
    declare(console.world)
    console.sign_in("dpo")
    page = console.page("/dpo/reports?vendor=acme")
    assert "Acme Santé SAS" in page and "Durée totale" in page
    assert "Données de santé" in page  # the data categories reached
    assert "/dpo/reports/sessions.csv?vendor=acme" in page
    response = console.client.get("/dpo/reports/sessions.csv?vendor=acme")
    rows = list(csv.DictReader(io.StringIO(response.get_data(as_text=True).lstrip("\ufeff"))))
    assert len(rows) == 1 and rows[0]["vendor"] == "acme" and rows[0]["duration_minutes"] == "30.0"
    page = console.page("/dpo/reports/print?vendor=acme")
    assert "Rapport des accès de maintenance" in page and "data-print" in page
    assert "dpo.css" in page and "js/dpo.js" in page and "<script>" not in page
    assert [e.details["report"] for e in audit_events(core, "report.exported")] == [
        "vendor_sessions", "vendor_report"]
    assert console.client.get("/dpo/reports?vendor=nobody").status_code == 400


def test_the_pages_pass_the_accessibility_smoke_check(console: Console) -> None:
    access = declare(console.world)
    declare(console.world, target="dpi-db-01", now=utcnow() - timedelta(days=4))
    pages = {"dpo": ["/dpo", "/dpo/flags", "/dpo/break-glass", f"/dpo/break-glass/{access.review_id}",
                     "/dpo/reports", "/dpo/reports?vendor=acme", "/dpo/reports/print",
                     "/dpo/flags?start=garbage"],
             "admin": ["/break-glass/declare"],
             "approver": ["/break-glass/declare"]}
    found = []
    for identity, paths in pages.items():
        console.sign_in(identity)
        for path in paths:
            response = console.client.get(path)
            assert response.status_code in (200, 400), (identity, path)
            found += problems_of(f"{identity} {path}", response.get_data(as_text=True))
    assert found == []

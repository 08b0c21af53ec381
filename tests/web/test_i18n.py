"""French by default, English on request; every message translated; the committed .mo
is the compilation of the .po; dates in the viewer's time zone."""

from __future__ import annotations

import io
from datetime import UTC, datetime
from pathlib import Path

from babel.messages.extract import extract_from_dir
from babel.messages.mofile import read_mo
from babel.messages.pofile import read_po
from flask import Flask
from flask.testing import FlaskClient

from bastion.context import Bastion
from bastion.models import StaffUser
from web.i18n import when

from .conftest import People

WEB = Path(__file__).resolve().parents[2] / "web"
PO = WEB / "translations" / "fr" / "LC_MESSAGES" / "messages.po"
MO = PO.with_suffix(".mo")


def source_messages() -> set[str]:
    method_map = [("**.py", "python"), ("**/templates/**.html", "jinja2")]
    keywords = {"_": None, "gettext": None, "ngettext": (1, 2), "lazy_gettext": None}
    found = set()
    for _file, _line, message, _comments, _context in extract_from_dir(
            str(WEB), method_map, keywords=keywords):
        found.add(message if isinstance(message, str) else message[0])
    return found


def test_every_message_has_a_french_translation() -> None:
    catalog = read_po(PO.open("rb"))
    translated = {m.id for m in catalog if m.id and m.string and "fuzzy" not in m.flags}
    missing = sorted(source_messages() - translated)
    assert missing == [], "translate these in web/translations (see web/babel.cfg)"


def test_the_committed_mo_is_the_po_compiled() -> None:
    po = {m.id: m.string for m in read_po(PO.open("rb")) if m.id}
    mo = {m.id: m.string for m in read_mo(io.BytesIO(MO.read_bytes())) if m.id}
    assert mo == po, "run: .venv/bin/pybabel compile -d web/translations"


def test_french_by_default_english_on_request(client: FlaskClient) -> None:
    page = client.get("/sign-in").get_data(as_text=True)
    assert '<html lang="fr">' in page and "<h1>Connexion</h1>" in page
    token = page.split('name="csrf-token" content="')[1].split('"')[0]
    client.post("/language", data={"lang-language": "en", "lang-next": "/sign-in",
                                   "lang-csrf_token": token})
    page = client.get("/sign-in").get_data(as_text=True)
    assert '<html lang="en">' in page and "<h1>Sign in</h1>" in page


def test_a_signed_in_language_choice_is_kept_on_the_account(
        app: Flask, client: FlaskClient, core: Bastion, people: People, sign_in_as) -> None:
    sign_in_as("dpo")
    page = client.get("/account/preferences").get_data(as_text=True)
    token = page.split('name="csrf-token" content="')[1].split('"')[0]
    response = client.post("/account/preferences", data={
        "language": "en", "time_zone": "America/Cayenne", "csrf_token": token})
    assert response.status_code == 302, response.get_data(as_text=True)
    assert response.location == "/account/preferences", response.location
    with core.db.session() as db:
        user = db.get(StaffUser, people.dpo)
        assert (user.language, user.time_zone) == ("en", "America/Cayenne")
    page = client.get("/").get_data(as_text=True)
    assert "Welcome, Chloé Petit" in page
    assert "America/Cayenne" in page  # times are shown in the zone they chose


def test_dates_are_shown_in_the_viewers_zone(app: Flask) -> None:
    instant = datetime(2026, 3, 2, 23, 30, tzinfo=UTC)
    with app.test_request_context():
        # Europe/Paris (the bastion's default) is UTC+1 in March: already the next day.
        assert when(instant) == "03/03/2026 00:30 CET"  # the zone is always named
        assert when(None) == ""


def test_before_any_choice_the_browser_language_is_used(client: FlaskClient) -> None:
    page = client.get("/sign-in", headers={"Accept-Language": "en-GB,en;q=0.8"})
    assert '<html lang="en">' in page.get_data(as_text=True)
    page = client.get("/sign-in", headers={"Accept-Language": "de-DE"})  # not offered: default
    assert '<html lang="fr">' in page.get_data(as_text=True)


def test_a_stored_verdict_is_shown_in_the_pages_language(app: Flask) -> None:
    from bastion.i18n import N_, Phrase
    from bastion.i18n.marker import phrase_to_dict
    from web.i18n import verdict_line

    verdict = {"allowed": False, "summary": "refused: target dpi-db-01 is outside ...",
               "phrase": phrase_to_dict(Phrase.of(
                   N_("target {target} is outside contract {contract}'s scope"),
                   target="dpi-db-01", contract="ACME-1"))}
    with app.test_request_context():
        assert verdict_line(verdict) == ("refusé : la cible dpi-db-01 est hors du périmètre du "
                                         "contrat ACME-1")
    with app.test_request_context(headers={"Accept-Language": "en"}):
        assert verdict_line(verdict) == "refused: target dpi-db-01 is outside contract ACME-1's scope"
        assert verdict_line({"summary": "refused: an older verdict"}) == "refused: an older verdict"

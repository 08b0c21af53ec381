"""Readable audit pages: every action the code emits has its sentence, details are
labelled fields with nothing shown as "None", the log pages by id and a page stays put
while events are written, filters ride along, and the integrity page explains itself."""

from __future__ import annotations

import re
from html import unescape

import pytest
from babel.messages.pofile import read_po
from flask import Flask
from flask.testing import FlaskClient

from bastion.audit import Actor
from bastion.context import Bastion
from web import signin_state
from web.audit_actions import SENTENCES
from web.audit_details import LABELS, fields

from .conftest import People
from .emitted_actions import ROOT, Collector, emitted_actions
from .test_accessibility import problems_of

PROXY = Actor("technician:jdupont", "technician")


def test_every_action_the_code_emits_has_a_sentence_and_none_is_stale() -> None:
    emitted = emitted_actions()
    # The collector finds each way an action is written: a literal, an f-string over
    # local values, a module constant, a subscript of one, a forwarding function or
    # callback, a default argument.
    assert {"staff.signed_in", "access_review.confirmed", "access_review.revoked",
            "master_key.rotated", "audit.hold_placed", "audit.hold_released",
            "sftp.transfer", "sftp.refused", "transfer.allowed", "channel.refused",
            "technician.sign_in_rate_limited", "recording.interrupted",
            "api_token.first_use", "report.daily_summary"} <= emitted
    assert len(emitted) > 100
    assert sorted(emitted - set(SENTENCES)) == [], "actions without a sentence"
    assert sorted(set(SENTENCES) - emitted) == [], "sentences of actions no longer emitted"


def test_the_collector_follows_forwarding_functions() -> None:
    forwarders = Collector().forwarders()
    assert forwarders["audit_channel"] == (0, "action")
    assert forwarders["event"] == (0, "action")  # the SFTP relay's callback


def test_sentences_and_labels_have_french_translations(app: Flask) -> None:
    catalogue = read_po((ROOT / "web/translations/fr/LC_MESSAGES/messages.po").open("rb"))
    for text in [*SENTENCES.values(), *LABELS.values()]:
        found = catalogue.get(text._args[0])
        assert found is not None and found.string, text._args[0]
    with app.test_request_context("/"):  # French, the console's default
        assert str(SENTENCES["staff.signed_in"]) == "Un membre du personnel s'est connecté à la console."


def test_details_become_labelled_fields_without_none(app: Flask) -> None:
    with app.test_request_context("/"):
        shown = fields({"client_address": "192.0.2.7", "vendor": None, "paths": [],
                        "comment": "", "closed": True, "bytes": 1234567,
                        "expires_at": "2026-03-02T09:30:00+00:00", "odd_key": {"a": None, "b": 2},
                        "categories": ["health", "ins"]})
    as_dict = {f.key: (f.label, f.value) for f in shown}
    assert set(as_dict) == {"client_address", "closed", "bytes", "expires_at", "odd_key",
                            "categories"}
    assert as_dict["closed"] == ("Fermé", "oui") or as_dict["closed"][1] in ("oui", "yes")
    assert as_dict["bytes"][1] in ("1\u202f234\u202f567", "1\xa0234\xa0567", "1,234,567")
    assert "10:30" in as_dict["expires_at"][1]  # in Paris, the console's zone
    assert as_dict["odd_key"] == (None, "b: 2")  # no label: shown as its key, None left out
    assert as_dict["categories"][1] == "health, ins"
    assert [f.key for f in shown][-1] == "odd_key"  # labelled fields first


def test_the_events_page_reads_as_sentences(client: FlaskClient, core: Bastion, people: People,
                                            sign_in_as) -> None:
    with core.db.session() as db:
        core.audit.append(db, action="sftp.transfer", outcome="ok", actor=PROXY,
                          technician="jdupont", target="dpi-db-01", account=None,
                          details={"operation": "download", "path": "/var/log/dpi/a.log",
                                   "bytes": 2048, "sha256": None, "closed": True},
                          reasons=["within the contract's read paths"])
        core.audit.append(db, action="future.action", outcome="ok", actor=Actor.system(),
                          details={"vendor": None})
    sign_in_as("dpo")
    raw = client.get("/audit").get_data(as_text=True)
    assert problems_of("/audit", raw) == []
    page = unescape(raw)
    assert "Un fichier a été transféré par SFTP." in page
    assert "<code class=\"muted\">sftp.transfer</code>" in page
    assert "<dt>Chemin</dt><dd>/var/log/dpi/a.log</dd>" in page
    assert "<dt>Opération</dt><dd>download</dd>" in page
    assert "<li>within the contract's read paths</li>" in page
    assert "<code class=\"muted\">future.action</code>" in page  # unknown: its code alone
    main = page.split("<main", 1)[1]
    assert not re.search(r"\bNone\b", main)
    table = re.search(r"<table[^>]*>(.*?)</table>", main, flags=re.S).group(1)
    assert "=" not in re.sub(r"<[^>]*>", "", table)  # no key=value left


def ids_on(page: str) -> list[int]:
    return [int(i) for i in re.findall(r"<tr>\s*<td>(\d+)</td>", page)]


def link(page: str, text: str) -> str | None:
    found = re.search(r'<a href="([^"]+)"[^>]*>' + re.escape(text) + "</a>", page)
    return unescape(found.group(1)) if found else None


def test_keyset_pages_stay_put_while_events_are_written(app: Flask, client: FlaskClient,
                                                        core: Bastion, people: People,
                                                        sign_in_as) -> None:
    app.config["AUDIT_PAGE_SIZE"] = 3
    for n in range(8):
        with core.db.session() as db:
            core.audit.append(db, action="contract.loaded", outcome="ok", actor=Actor.system(),
                              details={"version": n})
    sign_in_as("dpo")
    first = client.get("/audit?action=contract.&outcome=ok").get_data(as_text=True)
    newest = ids_on(first)
    assert len(newest) == 3 and newest == sorted(newest, reverse=True)
    assert link(first, "Événements plus récents") is None and link(first, "Événements les plus récents") is None
    older_url = link(first, "Événements plus anciens")
    assert "action=contract." in older_url and "outcome=ok" in older_url  # filters kept
    second = client.get(older_url).get_data(as_text=True)
    second_ids = ids_on(second)
    assert second_ids == [newest[-1] - 1, newest[-1] - 2, newest[-1] - 3]

    # Events written meanwhile shift nothing: the same link gives the same page.
    for _ in range(4):
        with core.db.session() as db:
            core.audit.append(db, action="contract.loaded", outcome="ok", actor=Actor.system())
    assert ids_on(client.get(older_url).get_data(as_text=True)) == second_ids

    # Back towards the newest: the page just newer than this one, then the newest page.
    newer_url = link(second, "Événements plus récents")
    assert "action=contract." in newer_url
    assert ids_on(client.get(newer_url).get_data(as_text=True)) == newest
    latest = client.get(link(second, "Événements les plus récents")).get_data(as_text=True)
    latest_ids = ids_on(latest)
    assert latest_ids[0] > newest[0]
    # Until the oldest matching event; nothing older then.
    page, seen = first, []
    while (url := link(page, "Événements plus anciens")) is not None:
        page = client.get(url).get_data(as_text=True)
        seen += ids_on(page)
    assert "contract.loaded" in page and len(set(seen)) == len(seen)
    # A cursor that is not a usable number is the newest page, not an error; so is a
    # page newer than the newest event.
    for cursor in ("before=abc", "before=-4", f"before={2**70}", f"after={2**64}",
                   f"after={latest_ids[0]}"):
        response = client.get(f"/audit?action=contract.&{cursor}")
        assert response.status_code == 200, cursor
        assert ids_on(response.get_data(as_text=True)) == latest_ids, cursor


@pytest.mark.parametrize("language", ["fr", "en"])
def test_the_integrity_page_explains_signed_checkpoints(client: FlaskClient, core: Bastion,
                                                        people: People, sign_in_as,
                                                        language: str) -> None:
    sign_in_as("dpo")
    with core.db.session() as db:
        core.audit.append(db, action="bastion.initialised", outcome="ok", actor=Actor.system())
    with client.session_transaction() as stored:
        stored[signin_state.LANGUAGE_KEY] = language
    page = unescape(client.get("/audit/integrity").get_data(as_text=True))
    if language == "fr":
        assert "Ce que cette vérification signifie" in page
        assert "point de contrôle signé" in page.lower() or "points de contrôle signés" in page
    else:
        assert "What this check means" in page and "Signed checkpoints stop that" in page
        assert "What it does not prove" in page and "audit_signing.pub" in page

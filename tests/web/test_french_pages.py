"""A French page says nothing in English: every console page any role reaches, rendered in
French, holds no sentence of the English source catalogues (the console's or the bastion's,
whose contract verdicts and flags the pages show). Rendered in English, the same walk finds
them: the check sees what it looks for.

The routes come from ``app.url_map``, so a new page is walked without touching this file."""

from __future__ import annotations

import re
from html import unescape
from pathlib import Path

import pytest
from babel.messages.pofile import read_po
from flask import Flask
from flask.testing import FlaskClient

from bastion.context import Bastion
from tests.approvals.conftest import World
from web import create_app

from .supervision import open_session, record, sign_in, supervision_world, technician_id

ROOT = Path(__file__).resolve().parents[2]
CATALOGUES = [ROOT / "web" / "translations" / "fr" / "LC_MESSAGES" / "messages.po",
              ROOT / "bastion" / "translations" / "fr" / "LC_MESSAGES" / "bastion.po"]
PLACEHOLDER = re.compile(r"\{\w*\}|%\(\w+\)[sd]|%[sd]")
VISITORS = {"approver+admin": "carol", "dpo": "erin", "technician": None}


def english_sentences() -> set[str]:
    """Pieces of English source text of four words or more that French does not share."""
    found = set()
    for po in CATALOGUES:
        for message in read_po(po.open("rb")):
            msgid = message.id if isinstance(message.id, str) else (message.id or ("",))[0]
            french = message.string if isinstance(message.string, str) else message.string[0]
            if not msgid or not french or msgid == french:
                continue
            for piece in PLACEHOLDER.split(msgid):
                piece = " ".join(piece.split()).strip(" .,:;()")
                if len(piece.split()) >= 4 and piece not in french:
                    found.add(piece)
    return found


def page_text(html: str) -> str:
    html = re.sub(r"<(script|style)\b.*?</\1>", " ", html, flags=re.S)
    return " ".join(unescape(re.sub(r"<[^>]+>", " ", html)).split())


@pytest.fixture
def world(core: Bastion, tmp_path: Path) -> World:
    w = supervision_world(core, tmp_path)
    w.file()
    approved = w.file(technician="kbenali")
    grant = w.approve(approved.id, "alice").grant
    assert grant is not None
    record(core, open_session(core, technician="kbenali", grant_id=grant.id))
    return w


@pytest.fixture
def app(core: Bastion, world: World) -> Flask:
    return create_app(core, {"TESTING": True})


def pages(app: Flask) -> list[str]:
    found = []
    for rule in app.url_map.iter_rules():
        if "GET" not in (rule.methods or ()) or rule.rule.startswith("/api/") \
                or rule.endpoint == "static" or "<path" in rule.rule or "<string" in rule.rule:
            continue
        found.append(re.sub(r"<(?:int:)?\w+>", "1", rule.rule))
    return sorted(set(found))


def walk(app: Flask, client: FlaskClient, world: World, language: str) -> dict[str, str]:
    """Every reachable page's text, per visitor, in ``language``."""
    texts = {}
    for visitor, name in VISITORS.items():
        key = f"staff:{world.staff[name]}" if name else f"technician:{technician_id(world.core)}"
        sign_in(app, client, key)
        with client.session_transaction() as stored:
            stored["language"] = language
        for url in pages(app):
            response = client.get(url)
            if response.status_code == 200 and response.mimetype == "text/html":
                texts[f"{visitor} {url}"] = page_text(response.get_data(as_text=True))
    return texts


def test_french_pages_hold_no_english_sentence(app: Flask, client: FlaskClient,
                                               world: World) -> None:
    sentences = english_sentences()
    texts = walk(app, client, world, "fr")
    assert len(texts) > 20, sorted(texts)  # the walk reached the console, not only errors
    found = {page: [s for s in sentences if s in text] for page, text in texts.items()}
    assert {page: hits for page, hits in found.items() if hits} == {}


def test_the_same_walk_in_english_finds_english(app: Flask, client: FlaskClient,
                                                world: World) -> None:
    sentences = english_sentences()
    texts = walk(app, client, world, "en")
    assert any(s in text for text in texts.values() for s in sentences)

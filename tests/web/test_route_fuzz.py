"""Every console route, fed hostile input, by every role that can reach it: ids past the
database's integer range in the URL, hostile query strings, and every field of every
form a page shows set in turn to a huge number, a date at the ends of the calendar, a
very long or a NUL text. The answer is never a 500.

The routes come from ``app.url_map`` and the forms from the pages themselves, so a new
route or form is fuzzed without touching this file.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from html import unescape
from pathlib import Path

import pytest
from flask import Flask
from flask.testing import FlaskClient

from bastion.context import Bastion
from tests.approvals.conftest import World
from web import create_app

from .supervision import csrf, open_session, record, sign_in, supervision_world, technician_id

HOSTILE_IDS = ["9223372036854775808", "18446744073709551616", "99999999999999999999999999", "-1", "0"]
HOSTILE_TEXT = ["9223372036854775808", "-9223372036854775809", "9999-12-31", "9999-12-31T23:59",
                "0001-01-01", "0001-01-01T00:00", "nan", "inf", "x" * 3000, "\x00", ""]
QUERY_NAMES = ["before", "after", "size", "recording", "t", "q", "kind", "technician", "target",
               "start", "end", "page", "next", "status", "vendor", "outcome", "action", "period",
               "limit", "month", "year", "day", "from", "to", "campaign"]
# Forms whose submission would end the fuzzing visitor's own sign-in.
SELF_ENDING = ("/sign-out", "/revoke-others", "/account/sessions/")
ROLES = {"approver": "alice", "approver+admin": "carol", "admin": "dave", "dpo": "erin",
         "technician": None}
# The heavy walks (every page's query strings, every form field) run as the identities
# that together reach every route: approver+admin covers the approver's and the admin's
# pages, the DPO and the technician their own. The id walk runs as every role.
WIDE_ROLES = ["approver+admin", "dpo", "technician"]
ARGUMENT = re.compile(r"<(?:(\w+):)?(\w+)>")


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


def become(app: Flask, client: FlaskClient, world: World, role: str) -> None:
    name = ROLES[role]
    key = f"staff:{world.staff[name]}" if name else f"technician:{technician_id(world.core)}"
    sign_in(app, client, key)


def console_rules(app: Flask) -> Iterator[tuple[str, list[str]]]:
    for rule in app.url_map.iter_rules():
        if rule.rule.startswith("/api/") or rule.endpoint == "static":
            continue
        yield rule.rule, sorted((rule.methods or set()) - {"HEAD", "OPTIONS"})


def fill(rule: str, value: str) -> str:
    return ARGUMENT.sub(lambda m: value if m.group(1) == "int" else "x%00y" if value == "1" else value,
                        rule)


def check(response, what: str) -> None:  # type: ignore[no-untyped-def]
    assert response.status_code < 500, f"{what}: {response.status_code}"


def forms_of(html: str) -> Iterator[tuple[str, dict[str, str]]]:
    """(action, {field: current value}) of each POST form of a page."""
    for match in re.finditer(r"<form\b([^>]*)>(.*?)</form>", html, re.S | re.I):
        attributes, body = match.groups()
        if 'method="post"' not in attributes.lower():
            continue
        action = re.search(r'action="([^"]*)"', attributes)
        if action is None:
            continue
        fields: dict[str, str] = {}
        for tag in re.finditer(r"<(input|textarea)\b([^>]*)>", body, re.I):
            name = re.search(r'name="([^"]+)"', tag.group(2))
            if name is None or name.group(1) == "csrf_token":
                continue
            value = re.search(r'value="([^"]*)"', tag.group(2))
            fields.setdefault(unescape(name.group(1)), unescape(value.group(1)) if value else "x")
        # A select with its first choice, so that the other fields get past validation.
        for select in re.finditer(r'<select\b[^>]*name="([^"]+)"[^>]*>(.*?)</select>', body, re.S | re.I):
            option = re.search(r'<option\b[^>]*value="([^"]*)"', select.group(2))
            fields.setdefault(unescape(select.group(1)), unescape(option.group(1)) if option else "x")
        yield unescape(action.group(1)), fields


@pytest.mark.parametrize("role", ROLES)
def test_hostile_ids_in_every_url(app: Flask, client: FlaskClient, world: World, role: str) -> None:
    become(app, client, world, role)
    token = csrf(client, "/portal/requests" if role == "technician" else "/")
    for rule, methods in console_rules(app):
        if "<" not in rule:
            continue
        for value in [*HOSTILE_IDS, "1"]:
            url = fill(rule, value)
            for method in methods:
                response = client.open(url, method=method, headers={"X-CSRFToken": token},
                                       data={"csrf_token": token})
                check(response, f"{role} {method} {url}")
                if value in HOSTILE_IDS[:3] and "<int:" in rule:
                    # No route takes the id: 404 (405 when a sibling rule has another method).
                    assert response.status_code in (404, 405), f"{role} {method} {url}: {response.status_code}"
        become(app, client, world, role)  # a POST above may have changed the signed-in state


@pytest.mark.parametrize("role", WIDE_ROLES)
def test_hostile_query_strings_on_every_page(app: Flask, client: FlaskClient, world: World,
                                             role: str) -> None:
    become(app, client, world, role)
    for rule, methods in console_rules(app):
        if "GET" not in methods or "/sign-in" in rule:
            continue
        url = fill(rule, "1")
        for value in HOSTILE_TEXT:
            query = "&".join(f"{name}={value}" for name in QUERY_NAMES)
            check(client.get(f"{url}?{query}"), f"{role} GET {url}?...={value[:30]!r}")


@pytest.mark.parametrize("role", WIDE_ROLES)
def test_every_field_of_every_form_with_hostile_values(app: Flask, client: FlaskClient, world: World,
                                                       role: str) -> None:
    become(app, client, world, role)
    pages = [fill(rule, "1") for rule, methods in console_rules(app)
             if "GET" in methods and not rule.endswith((".csv", ".css", "/cast", "/feed", "/certificate"))]
    posted = 0
    for page in pages:
        answer = client.get(page)
        if answer.status_code != 200 or "text/html" not in answer.content_type:
            continue
        html = answer.get_data(as_text=True)
        for action, fields in forms_of(html):
            if action.startswith(SELF_ENDING) or not fields:
                continue
            for name in fields:
                token = csrf(client, page)
                for value in HOSTILE_TEXT:
                    response = client.post(action, data={**fields, name: value, "csrf_token": token})
                    check(response, f"{role} POST {action} {name}={value[:30]!r} (form on {page})")
                    posted += 1
                become(app, client, world, role)
    assert posted > 0, f"{role}: no form found to fuzz"

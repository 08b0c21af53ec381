"""Every route of the OpenAPI file, fed hostile input: ids past the database's integer
range, JSON nested 100,000 deep, dates at the ends of the calendar, values of the wrong
type. Whoever calls (approver, admin, DPO token; a technician's console session), the
answer is never a 500: a 404 or 400 with one of the API's stable error codes.

The routes come from the OpenAPI file, which ``test_spec.py`` holds equal to the live
routes, so a new route is fuzzed without touching this file.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from datetime import timedelta
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from werkzeug.test import TestResponse

from bastion.models import utcnow
from tests.web.supervision import open_session
from web.api.errors import ALL_CODES

from .conftest import Api, ApiWorld
from .spec import load_spec

HUGE_IDS = ["9223372036854775808", "9223372036854775807", "18446744073709551616",
            "99999999999999999999999999999999", "-1", "0", "-9223372036854775809", "1e3", "abc",
            "%00", "1%0A"]
DEEP = "[" * 100_000 + "]" * 100_000
DEEP_OBJECT = '{"a":' * 50_000 + "1" + "}" * 50_000
EXTREME_DATES = ["9999-12-31T23:59:59+00:00", "9999-12-31T23:59:59-14:00", "0001-01-01T00:00:00+14:00",
                 "0001-01-01T00:00:00+00:00", "2026-02-30T10:00:00+01:00", "1970-01-01T00:00:00Z",
                 "+275760-09-13T00:00:00Z", "2026-01-01T10:00:00"]
WRONG_TYPES: list[Any] = [None, True, 9223372036854775808, -1, 1.5e308, "x" * 5000, [], {}, [[[[]]]],
                          {"$ref": "#"}, "\x00", "😀"]
OPERATIONS = sorted(load_spec().operations())
WITH_IDS = [operation for operation in OPERATIONS if "{" in operation]


def callers(api: ApiWorld) -> Iterator[tuple[str, Api]]:
    yield "approver", api.as_staff("alice")
    yield "admin", api.as_staff("dave")
    yield "dpo", api.as_staff("erin")
    yield "technician", api.as_technician("jdupont")


def fill(path: str, value: str) -> str:
    return re.sub(r"\{[a-z_]+\}", value, path)


def assert_no_500(response: TestResponse, what: str) -> None:
    assert response.status_code < 500, f"{what}: {response.status_code} {response.get_data(as_text=True)[:300]}"
    if response.status_code >= 400:
        body = response.get_json(silent=True)
        assert isinstance(body, dict), f"{what}: not JSON ({response.status_code})"
        code = body["error"]["code"]
        assert code in ALL_CODES and ALL_CODES[code] == response.status_code, f"{what}: {body}"


def request_schema(operation: str) -> dict[str, Any] | None:
    spec = load_spec()
    method, path = operation.split(" ", 1)
    entry = spec.document["paths"][path][method.lower()]
    if "requestBody" not in entry:
        return None
    return spec.resolve(spec.resolve(entry["requestBody"])["content"]["application/json"]["schema"])


def hostile_bodies(operation: str) -> Iterator[tuple[str, Any]]:
    """Raw JSON texts: each property of the operation's body in turn given a hostile value,
    the others a plausible one."""
    schema = request_schema(operation) or {"properties": {}}
    properties = schema.get("properties", {})
    plausible = {"window_end": (utcnow() + timedelta(hours=1)).isoformat(), "target": "dpi-app-01",
                 "channels": ["shell"], "reason": "fuzz", "credential": {}, "key_fingerprint": None}
    base = {name: plausible.get(name, "x") for name in properties}
    yield "deep array", DEEP
    yield "deep object", DEEP_OBJECT
    yield "not JSON", "{"
    for value in WRONG_TYPES:
        yield f"whole body {value!r:.40}", json.dumps(value)
    for name, prop in properties.items():
        values: list[Any] = list(WRONG_TYPES)
        if prop.get("format") == "date-time" or "window" in name:
            values += EXTREME_DATES
        for value in values:
            yield f"{name}={value!r:.40}", json.dumps({**base, name: value})
        yield f"{name} deep", json.dumps({**base, name: 0})[:-2] + DEEP + "}"


def existing_ids(api: ApiWorld) -> dict[str, str]:
    """Real ids, so that bodies reach the code behind the lookup."""
    world = api.world
    pending = world.file()
    approved = world.file()
    grant = world.approve(approved.id, "alice").grant
    assert grant is not None
    session_id = open_session(world.core, grant_id=grant.id)
    return {"request_id": str(pending.id), "grant_id": str(grant.id), "session_id": str(session_id)}


@pytest.mark.parametrize("operation", WITH_IDS)
def test_huge_and_malformed_ids_are_404_or_400(api: ApiWorld, operation: str) -> None:
    method, path = operation.split(" ", 1)
    for role, caller in callers(api):
        for value in HUGE_IDS:
            response = caller.call(method, fill(path, value), {} if method == "POST" else None, check=False)
            assert_no_500(response, f"{role} {method} {fill(path, value)}")
            assert response.status_code in (400, 401, 403, 404, 405), (role, value, response.status_code)


@pytest.mark.parametrize("operation", OPERATIONS)
def test_hostile_bodies_and_queries_never_give_a_500(api: ApiWorld, operation: str) -> None:
    method, path = operation.split(" ", 1)
    ids = existing_ids(api)
    url = path.format(**ids)
    for role, caller in callers(api):
        if method == "GET":
            for name in ("status", "technician", "target", "limit", "before"):
                for value in ["9223372036854775808", "-1", "x" * 3000, "\x00", "9999-12-31"]:
                    response = caller.call("GET", f"{url}?{name}={value}", check=False)
                    assert_no_500(response, f"{role} GET {url}?{name}={value!r:.40}")
            continue
        for what, text in hostile_bodies(operation):
            response = caller.call(method, url, check=False, data=text,
                                   headers={"Content-Type": "application/json"})
            assert_no_500(response, f"{role} {method} {url} {what}")


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(number=st.one_of(st.integers(min_value=2**63, max_value=2**200),
                        st.integers(max_value=-1, min_value=-(2**200))),
       operation=st.sampled_from(WITH_IDS))
def test_any_id_outside_the_database_range_is_not_found(api: ApiWorld, number: int, operation: str) -> None:
    method, path = operation.split(" ", 1)
    caller = api.as_staff("alice")
    response = caller.call(method, fill(path, str(number)), {} if method == "POST" else None, check=False)
    assert_no_500(response, f"{method} {fill(path, str(number))}")
    # No route takes it (404), or a neighbouring route without this method does (405).
    expected = {404: "not_found", 405: "method_not_allowed"}
    assert expected.get(response.status_code) == response.get_json()["error"]["code"]

"""The OpenAPI file is valid OpenAPI 3.1 and describes exactly the live routes."""

from __future__ import annotations

import re

import pytest
from flask import Flask, jsonify
from openapi_spec_validator import validate

from bastion.context import Bastion
from web import create_app
from web.api import PREFIX
from web.api.errors import ALL_CODES

from .spec import _document, load_spec


def flask_to_openapi(rule: str) -> str:
    return re.sub(r"<(?:[a-z]+:)?([a-z_]+)>", r"{\1}", rule.removeprefix(PREFIX))


def live_routes(app: Flask) -> dict[str, list[str]]:
    """``"METHOD /path"`` (OpenAPI form, without the prefix) -> the rule's arguments."""
    found = {}
    for rule in app.url_map.iter_rules():
        if rule.rule.startswith(PREFIX + "/"):
            for method in sorted((rule.methods or set()) - {"HEAD", "OPTIONS"}):
                found[f"{method} {flask_to_openapi(rule.rule)}"] = sorted(rule.arguments)
    return found


def test_the_file_is_valid_openapi_3_1() -> None:
    document = _document()
    assert document["openapi"].startswith("3.1")
    validate(document)
    assert document["servers"] == [{"url": PREFIX}]


def test_every_route_is_in_the_file_and_every_path_in_the_file_is_a_route(core: Bastion) -> None:
    routes = live_routes(create_app(core, {"TESTING": True}))
    operations = load_spec().operations()
    assert sorted(routes) == sorted(operations)
    assert len(routes) >= 15


def test_path_parameters_match_the_routes_arguments(core: Bastion) -> None:
    spec = load_spec()
    for route, arguments in live_routes(create_app(core, {"TESTING": True})).items():
        method, path = route.split(" ", 1)
        item = spec.document["paths"][path]
        parameters = [spec.resolve(p) for p in item.get("parameters", [])]
        parameters += [spec.resolve(p) for p in item[method.lower()].get("parameters", [])]
        in_path = sorted(p["name"] for p in parameters if p["in"] == "path")
        assert in_path == arguments, route
        assert sorted(re.findall(r"\{([a-z_]+)\}", path)) == arguments, route


def test_every_operation_documents_its_errors_and_csrf() -> None:
    spec = load_spec()
    for name, operation in spec.operations().items():
        responses = operation["responses"]
        for status in ("401", "403", "default"):
            assert status in responses, f"{name} does not document {status}"
            schema = spec.resolve(responses[status])["content"]["application/json"]["schema"]
            assert schema == {"$ref": "#/components/schemas/Error"}, name
        if name.startswith("POST"):
            names = [spec.resolve(p)["name"] for p in operation.get("parameters", [])]
            assert "X-CSRFToken" in names, f"{name} does not document the CSRF header"
        assert operation["description"].startswith("Roles:"), f"{name} does not say who may call it"


def test_the_error_codes_in_the_file_are_exactly_the_apis() -> None:
    listed = _document()["components"]["schemas"]["ErrorCode"]["enum"]
    assert len(listed) == len(set(listed))
    assert set(listed) == set(ALL_CODES)


def test_the_response_check_catches_a_response_that_drifts_from_the_file() -> None:
    spec = load_spec()
    with Flask(__name__).test_request_context():
        good = jsonify(error={"code": "forbidden", "message": "no"})
        good.status_code = 403
        spec.check("GET", "/requests/1", good)
        for body, status in (({"error": {"code": "made_up", "message": "x"}}, 403),
                             ({"request": {"id": 1}}, 200),
                             ({"error": {"code": "forbidden", "message": "x"}, "extra": 1}, 418)):
            response = jsonify(body)
            response.status_code = status
            with pytest.raises(AssertionError):
                spec.check("GET", "/requests/1", response)

"""The OpenAPI file as a test oracle: find the operation a call went to, and check the
real response (status, content type, body) against what the file promises."""

from __future__ import annotations

import functools
import re
from pathlib import Path
from typing import Any

import yaml
from jsonschema import Draft202012Validator
from werkzeug.test import TestResponse

import web

SPEC_PATH = Path(web.__file__).parent / "openapi" / "openapi.yaml"
METHODS = ("get", "post", "put", "patch", "delete")


@functools.cache
def _document() -> dict[str, Any]:
    return yaml.safe_load(SPEC_PATH.read_text(encoding="utf-8"))


def load_spec() -> Spec:
    return Spec(_document())


def template_regex(template: str) -> re.Pattern[str]:
    pattern = re.sub(r"\\\{[a-z_]+\\\}", "[^/]+", re.escape(template))
    return re.compile(f"^{pattern}$")


class Spec:
    def __init__(self, document: dict[str, Any]) -> None:
        self.document = document
        self.templates = [(template_regex(path), path) for path in document["paths"]]

    def resolve(self, node: dict[str, Any]) -> dict[str, Any]:
        while "$ref" in node:
            target: Any = self.document
            for part in node["$ref"].removeprefix("#/").split("/"):
                target = target[part]
            node = target
        return node

    def template(self, path: str) -> str:
        path = path.split("?", 1)[0]
        found = [template for regex, template in self.templates if regex.match(path)]
        assert len(found) == 1, f"{path} matches {found} in the OpenAPI file"
        return found[0]

    def operation(self, method: str, path: str) -> dict[str, Any]:
        template = self.template(path)
        operation = self.document["paths"][template].get(method.lower())
        assert operation is not None, f"{method} {template} is not in the OpenAPI file"
        return operation

    def validate(self, schema: dict[str, Any], instance: Any) -> None:
        # The schema is checked inside a root holding the components, so $refs resolve.
        root = {**schema, "components": self.document["components"]}
        validator = Draft202012Validator(root, format_checker=Draft202012Validator.FORMAT_CHECKER)
        errors = sorted(validator.iter_errors(instance), key=lambda e: list(e.absolute_path))
        assert not errors, "\n".join(
            f"{'/'.join(map(str, e.absolute_path)) or '(root)'}: {e.message}" for e in errors[:5])

    def check(self, method: str, path: str, response: TestResponse, body: Any = None) -> None:
        operation = self.operation(method, path)
        if body is not None and response.status_code < 300 and "requestBody" in operation:
            schema = self.resolve(operation["requestBody"])["content"]["application/json"]["schema"]
            self.validate(schema, body)
        responses = operation["responses"]
        entry = responses.get(str(response.status_code)) or responses.get("default")
        assert entry is not None, f"{method} {path}: status {response.status_code} not in the spec"
        content = self.resolve(entry).get("content", {})
        assert response.mimetype in content, (
            f"{method} {path}: {response.status_code} {response.mimetype} not in the spec "
            f"({sorted(content)}): {response.get_data(as_text=True)[:300]}")
        instance = (response.get_json() if response.mimetype == "application/json"
                    else response.get_data(as_text=True))
        self.validate(content[response.mimetype]["schema"], instance)

    def operations(self) -> dict[str, dict[str, Any]]:
        """``"METHOD /path"`` -> operation, for every operation in the file."""
        return {f"{method.upper()} {path}": item[method]
                for path, item in self.document["paths"].items()
                for method in METHODS if method in item}

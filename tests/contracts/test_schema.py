"""The committed schema and README stay in step with the model."""

from __future__ import annotations

import json
import re
from typing import Any

import pytest
from pydantic import BaseModel, ValidationError

from bastion.contracts import Contract, export_json_schema
from bastion.contracts.parsing import _model_of

from .conftest import EXAMPLES, base_document

CONTRACTS_DIR = EXAMPLES.parent


def models(root: type[BaseModel] = Contract) -> dict[str, type[BaseModel]]:
    found = {root.__name__: root}
    for info in root.model_fields.values():
        inner = _model_of(info.annotation)
        if inner is not None:
            found.update(models(inner))
    return found


def test_committed_schema_is_a_fresh_export() -> None:
    committed = (CONTRACTS_DIR / "schema.json").read_text(encoding="utf-8")
    assert committed == export_json_schema(), (
        "contracts/schema.json is stale: run 'bastion contracts schema > contracts/schema.json'")


def test_schema_forbids_unknown_fields_everywhere() -> None:
    schema = json.loads(export_json_schema())
    assert schema["additionalProperties"] is False
    for name in models():
        if name != "Contract":
            assert schema["$defs"][name]["additionalProperties"] is False, name


def test_every_model_refuses_unknown_fields() -> None:
    for name, model in models().items():
        assert model.model_config.get("extra") == "forbid", name


@pytest.mark.parametrize("name", sorted(models()))
def test_readme_explains_every_field(name: str) -> None:
    readme = (CONTRACTS_DIR / "README.md").read_text(encoding="utf-8")
    for field in models()[name].model_fields:
        # As `field`, or within a dotted name such as `sftp.access` or `break_glass.allowed`.
        assert re.search(rf"`([\w.]+\.)?{field}(\.[\w.]+)?`", readme), \
            f"{name}.{field} is not in the README"


def test_the_contract_is_immutable() -> None:
    contract = Contract.model_validate(base_document())
    with pytest.raises(ValidationError):
        contract.scope.max_session_minutes = 10_000  # type: ignore[misc]


def test_document_round_trip() -> None:
    """What loading stores (``document``) reads back to the same contract."""
    contract = Contract.model_validate(base_document())
    stored: dict[str, Any] = json.loads(json.dumps(contract.model_dump(mode="json")))
    assert Contract.model_validate(stored) == contract

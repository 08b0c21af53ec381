"""A break-glass world: the approvals world (targets, staff, a contract open all day) whose
contract allows break-glass, plus DPOs: diane (DPO only) and eve (approver and DPO)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from bastion.audit import AuditLog
from bastion.context import Bastion
from bastion.staff import add_staff
from tests.approvals.conftest import (
    ADMIN,
    World,
    build_world,
    contract_document,
    load_contract,
    password_hash,
)

JUSTIFICATION = "admissions are down: the DPI application server refuses every login"


def break_glass_contract(**break_glass: Any) -> dict[str, Any]:
    rules = {"allowed": True, "max_minutes": 30, **break_glass}
    return contract_document(approval={"approvers": 1, "approvers_by_data_category": {"health": 2},
                                       "break_glass": rules})


def add_dpos(core: Bastion) -> dict[str, int]:
    ids = {}
    with core.db.session() as session:
        for username, roles, language in (("diane", ["dpo"], "en"),
                                          ("eve", ["approver", "dpo"], "fr")):
            user = add_staff(session, AuditLog("test"), username=username,
                             full_name=username.title(), roles=roles, password=None,
                             email=f"{username}@chu.example", actor=ADMIN)
            user.password_hash = password_hash()
            user.language = language
            ids[username] = user.id
    return ids


def build_break_glass_world(core: Bastion, tmp: Path, **break_glass: Any) -> World:
    world = build_world(core, tmp)
    load_contract(core, break_glass_contract(**break_glass))
    world.staff.update(add_dpos(core))
    return world


@pytest.fixture
def bg_world(core: Bastion, tmp_path: Path) -> Iterator[World]:
    yield build_break_glass_world(core, tmp_path)


@pytest.fixture
def any_bg_world(any_core: Bastion, tmp_path: Path) -> Iterator[World]:
    """The same world on SQLite and on PostgreSQL."""
    yield build_break_glass_world(any_core, tmp_path)

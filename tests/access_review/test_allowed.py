"""Which lines a campaign lists: asked of the contracts engine, one per technician x
target x account, whatever the hour (a closed maintenance window does not hide an access)."""

from __future__ import annotations

from datetime import UTC, date, datetime

import pytest

from bastion.access_review import AccessLine, allowed_lines, due_instant
from bastion.contracts import Contract, TargetFacts
from tests.access_review.conftest import PARIS
from tests.approvals.conftest import contract_document

APP = TargetFacts("dpi-app-01", {}, frozenset({"administrative", "technical"}), ("appadmin", "maint"))
DB = TargetFacts("dpi-db-01", {}, frozenset({"administrative", "ins", "health"}), ("dbmaint",))
LAB = TargetFacts("dpi-lab-01", {}, frozenset({"staff"}), ("maint",))
NOW = datetime(2026, 3, 4, 10, 0, tzinfo=UTC)  # a Wednesday


def contract(**changes: object) -> Contract:
    return Contract.model_validate(contract_document(**changes))


def lines(c: Contract, technicians: tuple[str, ...] = ("jdupont", "kbenali", "stranger"),
          at: datetime = NOW) -> list[tuple[str, str, str]]:
    return [(x.technician, x.target, x.account) for x in allowed_lines(c, technicians, [APP, DB, LAB], at)]


BOTH = [("jdupont", "dpi-app-01", "maint"), ("jdupont", "dpi-db-01", "dbmaint"),
        ("kbenali", "dpi-app-01", "maint"), ("kbenali", "dpi-db-01", "dbmaint")]


def test_every_allowed_technician_target_and_account() -> None:
    # appadmin is on the target but not in the contract; dpi-lab-01 is out of scope and
    # holds staff data; "stranger" is not named in the contract.
    assert lines(contract()) == BOTH
    assert allowed_lines(contract(), ["jdupont"], [APP], NOW) == [AccessLine("jdupont", "dpi-app-01", "maint")]


def test_a_closed_maintenance_window_still_lists_the_access() -> None:
    sunday_only = contract_document()["scope"] | {
        "windows": [{"days": ["sun"], "start": "08:00", "end": "09:00"}]}
    assert lines(contract(scope=sunday_only)) == BOTH


@pytest.mark.parametrize("change, expected", [
    # Two accounts allowed on one target: two lines.
    ({"targets": [{"name": "dpi-app-01", "accounts": ["maint", "appadmin"]}]},
     [("jdupont", "dpi-app-01", "appadmin"), ("jdupont", "dpi-app-01", "maint"),
      ("kbenali", "dpi-app-01", "appadmin"), ("kbenali", "dpi-app-01", "maint")]),
    # Health data out of the contract's scope: the database server drops out.
    ({"data_categories": ["administrative", "technical"]},
     [("jdupont", "dpi-app-01", "maint"), ("kbenali", "dpi-app-01", "maint")]),
])
def test_scope_changes(change: dict[str, object], expected: list[tuple[str, str, str]]) -> None:
    scope = contract_document()["scope"] | change
    assert lines(contract(scope=scope)) == expected


def test_expired_contract_or_technician_lists_nothing_for_them() -> None:
    expired = contract_document()["contract"] | {"valid_until": "2026-01-31"}
    assert lines(contract(contract=expired)) == []
    people = contract_document()["technicians"]
    people[1] = people[1] | {"valid_until": "2026-02-01"}
    assert lines(contract(technicians=people)) == [BOTH[0], BOTH[1]]


@pytest.mark.parametrize("deadline, due", [
    (date(2026, 1, 31), datetime(2026, 1, 31, 23, 0, tzinfo=UTC)),  # winter: UTC+1
    (date(2026, 3, 28), datetime(2026, 3, 28, 23, 0, tzinfo=UTC)),  # the eve of summer time
    (date(2026, 3, 29), datetime(2026, 3, 29, 22, 0, tzinfo=UTC)),  # summer: UTC+2
    (date(2026, 10, 25), datetime(2026, 10, 25, 23, 0, tzinfo=UTC)),  # back to winter
])
def test_the_deadline_ends_at_local_midnight(deadline: date, due: datetime) -> None:
    assert due_instant(deadline, PARIS) == due

"""An approvals world (vendor acme, technicians jdupont and kbenali, targets dpi-app-01
and dpi-db-01, approvers alice and bob with keys) for the access review's tests."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import date, datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest

from bastion.audit import Actor
from bastion.context import Bastion
from bastion.models import utcnow
from tests.approvals.conftest import World, build_world

DPO = Actor("staff:erin", "dpo")
PARIS = ZoneInfo("Europe/Paris")


@pytest.fixture
def world(core: Bastion, tmp_path: Path) -> Iterator[World]:
    w = build_world(core, tmp_path)
    w.enrol("alice")
    yield w


@pytest.fixture
def any_world(any_core: Bastion, tmp_path: Path) -> Iterator[World]:
    w = build_world(any_core, tmp_path)
    w.enrol("alice")
    yield w


def tomorrow() -> date:
    return utcnow().astimezone(PARIS).date() + timedelta(days=1)


def after(deadline: date) -> datetime:
    """A moment just past the deadline day, in the hospital's zone."""
    return datetime.combine(deadline + timedelta(days=1), datetime.min.time(),
                            tzinfo=PARIS) + timedelta(minutes=1)

"""A grant-wide budget starts from what the grant's closed recordings already hold, read
the same on SQLite and PostgreSQL; its sessions' recordings still open are not counted
(they draw on the live budget), nor are other grants'."""

from __future__ import annotations

import asyncio

import pytest

from bastion.context import Bastion
from bastion.models import SshSession
from bastion.recording import BudgetExceeded, Limits, RecordingService

from .conftest import add_grant, add_session


def _on_grant(core: Bastion, grant_id: int) -> int:
    session_id = add_session(core)
    with core.db.session() as s:
        s.get(SshSession, session_id).grant_id = grant_id
    return session_id


def test_the_grant_budget_starts_from_its_closed_recordings(any_core: Bastion) -> None:
    service = RecordingService(any_core, limits=Limits(budget_bytes=10_000, soft_fraction=1.0))
    first = add_session(any_core)
    grant = add_grant(any_core, first)
    second, other = _on_grant(any_core, grant), add_session(any_core)
    add_grant(any_core, other)

    async def record(session_id: int, size: int, close: bool = True) -> None:
        recorder = await service.start(session_id, "exec")
        await recorder.output(b"x" * size)
        if close:
            await recorder.close("done")

    async def scenario() -> None:
        await record(first, 3000)
        await record(second, 4000)
        await record(second, 500, close=False)  # live: on the live budget, not in the total
        await record(other, 9000)  # another grant's
        assert service.output_of_grant(grant) == 7000
        budget = service.new_budget("grant", service.output_of_grant(grant))
        recorder = await service.start(second, "shell", budget=budget)
        await recorder.output(b"y" * 3000)
        with pytest.raises(BudgetExceeded, match="grant's output budget"):
            await recorder.output(b"z" * 1)
        await recorder.close("budget")

    asyncio.run(scenario())

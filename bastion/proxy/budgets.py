"""Which output budget a channel draws on.

``[recording] budget_scope = "connection"`` (the default): one budget per technician
connection, shared by all its channels (a ControlMaster connection opens many). ``"grant"``:
one budget for every connection of the grant on this node, starting from what the grant's
closed recordings already hold, so reconnecting does not refill it.
"""

from __future__ import annotations

import asyncio
import weakref
from collections.abc import Awaitable, Callable
from typing import Any

from bastion.recording import OutputBudget, RecordingService


class SessionBudgets:
    def __init__(self, catalog: RecordingService, scope: str,
                 call: Callable[..., Awaitable[Any]]) -> None:
        self.catalog = catalog
        self.scope = scope
        self._call = call  # the proxy's executor: the grant's total is a database read
        self._connections: weakref.WeakKeyDictionary[object, OutputBudget] = \
            weakref.WeakKeyDictionary()
        # grant -> (its budget, recordings of it open on this node)
        self._grants: dict[int, tuple[OutputBudget, int]] = {}
        self._lock = asyncio.Lock()

    async def acquire(self, connection: object, grant_id: int) -> OutputBudget:
        """The budget a new recording of ``connection`` draws on; hand it back with
        :meth:`release` once the recording is closed (and so counted in the catalog)."""
        if self.scope != "grant":
            return self._connections.setdefault(connection, self.catalog.new_budget())
        async with self._lock:  # two connections of one grant must not each load a budget
            if grant_id in self._grants:
                budget, holders = self._grants[grant_id]
            else:
                spent = await self._call(self.catalog.output_of_grant, grant_id)
                budget, holders = self.catalog.new_budget("grant", spent), 0
            self._grants[grant_id] = (budget, holders + 1)
            return budget

    def release(self, grant_id: int) -> None:
        if grant_id not in self._grants:
            return
        budget, holders = self._grants[grant_id]
        # The last recording of the grant is closed: its bytes are in the catalog, where the
        # next connection reads them again. A spent budget stays in memory: the refused
        # output is in no recording, so the catalog's total would let a little more through.
        if holders > 1 or budget.exhausted:
            self._grants[grant_id] = (budget, max(holders - 1, 0))
        else:
            del self._grants[grant_id]

"""Audit events as the DPO reads them: command text and paths are sealed at rest
(bastion.trace_sealing); tests open them the way the console does."""

from __future__ import annotations

from collections.abc import Sequence
from typing import TypeVar

from sqlalchemy.orm import Session

from bastion.context import Bastion
from bastion.models import AuditEvent
from bastion.trace_sealing import PREFIX, SEALED_DETAILS

E = TypeVar("E", bound=AuditEvent)


def opened(core: Bastion, session: Session, rows: Sequence[E]) -> list[E]:
    """The rows, detached from ``session``, with their details opened (never written back).
    Every sealed detail must really be sealed in the row."""
    rows = list(rows)
    for row in rows:
        session.expunge(row)
        for name in SEALED_DETAILS:
            value = (row.details or {}).get(name)
            values = value if isinstance(value, list) else [value] if value else []
            assert all(str(v).startswith(PREFIX) for v in values), (row.action, name, value)
        row.details = core.traces.open_details(session, row.details)
    return rows

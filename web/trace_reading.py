"""Opening sealed command text and file paths for the viewer who may read them.

Commands and paths are sealed at rest (bastion.trace_sealing); pages open them on read.
On a session that reached health or INS data they are opened for the same people who may
replay it (``bastion.replay_access``: the DPO; approvers while it is live); others see
that they are sealed, and a search leaves such sessions out (a match alone would say a
patient's name was typed there).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from flask_babel import gettext
from sqlalchemy.orm import Session

from bastion.models import RecordedCommand, SshSession
from bastion.replay_access import replay_refusal
from bastion.trace_sealing import SEALED_DETAILS

from .identity import core, signed_in_principal


def may_read(row: SshSession | None) -> bool:
    if row is None:
        return True
    categories = row.data_categories if row.data_categories is not None else (
        row.target.data_categories or ())
    return replay_refusal(signed_in_principal().roles, categories,
                          live=row.status == "live") is None


def withheld() -> str:
    return gettext("[sealed: for the DPO]")


def command_text(db: Session, command: RecordedCommand, session_row: SshSession | None) -> str:
    if not may_read(session_row):
        return withheld()
    return core().traces.command_text(db, command)


def event_details(db: Session, details: Mapping[str, Any] | None,
                  session_row: SshSession | None) -> dict[str, Any]:
    if not may_read(session_row):
        return {k: (withheld() if k in SEALED_DETAILS else v)
                for k, v in (details or {}).items()}
    return core().traces.open_details(db, details)


def audit_page_details(db: Session, details: Mapping[str, Any] | None) -> dict[str, Any]:
    """The audit trail page: admins read who did what; what was run or touched (sealed)
    is opened for the DPO only."""
    if "dpo" in signed_in_principal().roles:
        return core().traces.open_details(db, details)
    return {k: (withheld() if k in SEALED_DETAILS and v else v) for k, v in (details or {}).items()}

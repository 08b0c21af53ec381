"""Who may replay a session's recording, beyond the console's route rule: sessions on
servers holding health or INS data are for the DPO; approvers see them only while the
session is live (to supervise and, if need be, stop it); admins never. Pure: the console
supplies the roles and the facts, and audits the answer."""

from __future__ import annotations

from collections.abc import Iterable

from .contracts.schema import HEALTH_DATA


def replay_refusal(roles: Iterable[str], data_categories: Iterable[str], live: bool) -> str | None:
    """None when allowed, else the one line to show (and audit)."""
    held = sorted(set(data_categories) & set(HEALTH_DATA))
    roles = set(roles)
    if not held or "dpo" in roles or ("approver" in roles and live):
        return None
    return (f"this session reached {', '.join(held)} data: its replay is for the DPO "
            "(approvers: only while the session is live); ask the DPO")

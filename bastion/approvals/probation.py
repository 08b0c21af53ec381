"""A new approver's probation: the time during which their approval cannot count towards a
two-person approval.

Otherwise an admin who creates a second account (or has a colleague confirm one) could
at once supply both approvals of a sensitive request. The probation ends after
``[approvals] new_approver_hours`` from the grant, or as soon as the DPO confirmed the
role (``StaffRole.vouched_at``: the DPO confirmed the role change, or a local operator
created the account with ``bastion staff add``).
"""

from __future__ import annotations

from datetime import datetime, timedelta

from bastion.models import StaffUser


def probation_ends(staff: StaffUser, hours: int) -> datetime | None:
    """When ``staff``'s approver role stops being on probation (None: it is not)."""
    for role in staff.roles:
        if role.role != "approver":
            continue
        if role.granted_at is None or role.vouched_at is not None:
            return None
        return role.granted_at + timedelta(hours=hours)
    return None

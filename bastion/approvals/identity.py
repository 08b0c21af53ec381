"""Who may review a request: never whoever asked for it."""

from __future__ import annotations

from bastion.models import AccessRequest, StaffUser


def is_requester(staff: StaffUser, request: AccessRequest) -> bool:
    """Whoever filed or declared the request, or the technician themself under a staff
    account (same user name or e-mail), may not review it."""
    if request.declared_by_staff_id == staff.id:
        return True
    technician = request.technician
    if staff.username == technician.ident:
        return True
    return bool(staff.email and technician.email
                and staff.email.strip().casefold() == technician.email.strip().casefold())

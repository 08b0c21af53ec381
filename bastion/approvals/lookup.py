"""Loading the rows a step works on, or refusing with a clear code."""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.orm import Session

from bastion.audit import Actor
from bastion.models import AccessRequest, Grant, StaffUser

from .errors import ApprovalError

# Functions taking a staff member accept the row or its id: the console holds an id in
# its session, tests and the CLI often hold the row.
StaffRef = int | StaffUser


def staff_id_of(staff: StaffRef) -> int:
    return staff if isinstance(staff, int) else staff.id


def load_staff(session: Session, staff: StaffRef, *, active: bool = True) -> StaffUser:
    row = session.get(StaffUser, staff_id_of(staff))
    if row is None:
        raise ApprovalError("staff_not_found", f"no staff member #{staff_id_of(staff)}")
    if active and not row.active:
        raise ApprovalError("staff_inactive", f"staff account {row.username} is disabled")
    return row


def load_request(session: Session, request_id: int, *, lock: bool = False) -> AccessRequest:
    query = select(AccessRequest).where(AccessRequest.id == request_id)
    if lock:
        # Serialises the decisions on one request across processes and nodes (PostgreSQL;
        # SQLite's BEGIN IMMEDIATE already serialises every writer).
        query = query.with_for_update()
    row = session.scalar(query)
    if row is None:
        raise ApprovalError("request_not_found", f"there is no request {request_id}",
                            request_id=request_id)
    return row


def load_grant(session: Session, grant_id: int, *, lock: bool = False) -> Grant:
    query = select(Grant).where(Grant.id == grant_id)
    if lock:
        query = query.with_for_update()
    row = session.scalar(query)
    if row is None:
        raise ApprovalError("grant_not_found", f"there is no grant {grant_id}")
    return row


def staff_actor(staff: StaffUser, role: str = "approver") -> Actor:
    return Actor(f"staff:{staff.username}", role)


def technician_actor(ident: str) -> Actor:
    return Actor(f"technician:{ident}", "technician")


def unknown_staff_actor(staff_id: int) -> Actor:
    """For refusals where the staff id given matches nobody."""
    return Actor(f"staff:#{staff_id}", "unknown")

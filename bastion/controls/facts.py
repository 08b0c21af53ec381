"""The plain data the controls work on, and the flags they produce.

Everything here is a frozen value: the rules (``rules``) are pure functions from these
facts to flags, so tests feed them tables; ``gather`` reads the facts from the database.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

SENSITIVE_DATA = "sensitive_data"  # a session on a target holding health or INS data
COMMAND_RULE = "command_rule"  # a command the contract's rules flagged or refused
# Downloads of one session above the threshold: SFTP, exec and forwards (the id predates
# exec and forwards; kept so that saved filters and exported flags stay valid).
SFTP_VOLUME = "sftp_volume"
OFF_HOURS = "off_hours"  # a session at night or on a public holiday
REFUSAL_BURST = "refusal_burst"  # refused attempts in a burst
BREAK_GLASS = "break_glass"  # an emergency access
ACCESS_REVIEW = "access_review"  # a vendor's accesses not confirmed by a review for a year
FLAG_KINDS = (SENSITIVE_DATA, COMMAND_RULE, SFTP_VOLUME, OFF_HOURS, REFUSAL_BURST, BREAK_GLASS,
              ACCESS_REVIEW)

# Data whose access the CNIL asks hospitals to watch most closely.
SENSITIVE_CATEGORIES = frozenset({"health", "ins"})


@dataclass(frozen=True)
class ReviewDueFacts:
    """A vendor's accesses, or a staff member's roles, due for their yearly review
    (bastion.access_review.yearly, bastion.access_review.staff_roles)."""

    vendor: str | None  # None for a staff member's roles
    last_review: datetime | None
    due_at: datetime
    suspend_at: datetime
    suspended_at: datetime | None
    staff: str | None = None  # the staff member whose roles are due


@dataclass(frozen=True)
class SessionFacts:
    id: int
    technician: str
    vendor: str
    target: str
    account: str
    data_categories: frozenset[str]
    started_at: datetime
    ended_at: datetime | None  # None while live
    status: str
    grant_id: int | None
    break_glass: bool = False
    client_address: str | None = None


@dataclass(frozen=True)
class EventFacts:
    """One audit event (only the actions the controls read)."""

    id: int
    at: datetime
    action: str
    outcome: str
    technician: str | None
    vendor: str | None
    target: str | None
    session_id: int | None
    details: Mapping[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class RecordingSpan:
    """When one recording of a session ran: where a moment of the session is replayed."""

    id: int
    session_id: int
    channel: str
    started_at: datetime
    ended_at: datetime | None


@dataclass(frozen=True)
class BreakGlassFacts:
    review_id: int
    request_id: int
    grant_id: int | None
    technician: str
    vendor: str
    target: str
    opened_at: datetime
    deadline: datetime
    closed_at: datetime | None
    verdict: str | None
    justification: str
    declared_by: str | None
    first_session_id: int | None
    first_session_start: datetime | None


@dataclass(frozen=True)
class Moment:
    """A point in a session's recordings: the replay starts there."""

    session_id: int
    offset_seconds: float
    recording_id: int | None = None


@dataclass(frozen=True)
class Flag:
    kind: str
    at: datetime
    technician: str | None
    vendor: str | None
    target: str | None
    moment: Moment | None
    details: Mapping[str, Any] = field(default_factory=dict, hash=False)
    event_ids: tuple[int, ...] = ()

    @property
    def session_id(self) -> int | None:
        return self.moment.session_id if self.moment is not None else None

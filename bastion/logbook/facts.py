"""What the logbook is built from: plain values loaded from the database (see
``loading``), so the assembly is a pure function tests can feed by tables."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any


@dataclass(frozen=True)
class RequestFacts:
    id: int
    vendor: str
    vendor_name: str
    technician: str
    technician_name: str
    target: str
    account: str
    reason: str
    ticket: str | None
    source: str
    break_glass: bool
    created_at: datetime


@dataclass(frozen=True)
class GrantFacts:
    id: int
    not_before: datetime
    not_after: datetime
    status: str
    revoked_at: datetime | None = None
    revoked_by: str | None = None
    revoke_reason: str | None = None


@dataclass(frozen=True)
class SessionFacts:
    id: int
    technician: str
    technician_name: str
    target: str
    account: str
    started_at: datetime
    ended_at: datetime | None
    status: str
    end_reason: str | None = None


@dataclass(frozen=True)
class CommandFacts:
    session_id: int
    at: datetime
    kind: str  # shell | exec | sftp
    text: str
    exit_status: int | None = None


@dataclass(frozen=True)
class EventFacts:
    """An audit event of one of the sessions (transfers, command-rule hits)."""

    id: int
    session_id: int | None
    at: datetime
    action: str
    outcome: str
    details: Mapping[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class BreakGlassFacts:
    justification: str
    declared_by: str | None  # staff who declared it for the technician, if not themselves
    verdict: str | None  # justified | unjustified, None while the review is open


@dataclass(frozen=True)
class Intervention:
    """One access request that was granted, with everything that followed from it."""

    request: RequestFacts
    grant: GrantFacts
    approvers: tuple[str, ...] = ()  # "Full Name (username)"
    sessions: tuple[SessionFacts, ...] = ()
    commands: tuple[CommandFacts, ...] = ()
    events: tuple[EventFacts, ...] = ()
    break_glass: BreakGlassFacts | None = None

"""The moments shown beside a replay: commands, SFTP operations and policy events, each at
its offset in the recording so a click can seek the player there.

Commands (shell lines, exec commands, SFTP operations) come from the command index the
recording service built when the recording closed; policy events (a command flagged or
refused, a forward refused, a termination asked...) from the audit log, placed by their
time relative to the recording's start. Building the timeline reads neither the recording
nor anything a replay does not already show.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import or_, select
from sqlalchemy.orm import Session

from bastion.models import AuditEvent, RecordedCommand, Recording, SshSession, utcnow

from .identity import core

# Audit actions worth a place in the timeline. SFTP operations are left out here: the
# command index has them already, at their exact offset.
POLICY_PREFIXES = ("command.", "forward.", "channel.refused", "channel.request_refused",
                   "recording.failed", "session.terminate_requested", "session.closed")
# An event this close outside the recording's span still belongs to it (clocks of two
# processes, rounding): shown at the start or the end.
SLACK = timedelta(seconds=2)


@dataclass(frozen=True)
class Moment:
    offset: float  # seconds from the recording's start
    kind: str  # shell | exec | sftp | policy
    text: str
    outcome: str | None = None  # for policy events: allowed, denied, ok, ...
    exit_status: int | None = None


def _policy_text(db: Session, event: AuditEvent) -> str:
    details = core().traces.open_details(db, event.details)
    subject = details.get("command") or details.get("destination") or details.get("channel") or ""
    reasons = "; ".join(event.reasons or [])
    return " — ".join(part for part in (f"{event.action} {subject}".strip(), reasons) if part)


def build_timeline(db: Session, recording: Recording, now: datetime | None = None) -> list[Moment]:
    # Opened for the replay's viewer: the replay page already checked who they are.
    traces = core().traces
    moments = [Moment(c.offset_seconds, c.kind, traces.command_text(db, c),
                      exit_status=c.exit_status)
               for c in db.scalars(select(RecordedCommand)
                                   .where(RecordedCommand.recording_id == recording.id))]
    session_row = db.get(SshSession, recording.session_id)
    end = recording.sealed_at or (session_row.ended_at if session_row else None) or now or utcnow()
    events = db.scalars(select(AuditEvent).where(
        AuditEvent.session_id == recording.session_id,
        AuditEvent.at >= recording.started_at - SLACK, AuditEvent.at <= end + SLACK,
        or_(*[AuditEvent.action.startswith(prefix) for prefix in POLICY_PREFIXES])))
    for event in events:
        offset = (event.at - recording.started_at) / timedelta(seconds=1)
        moments.append(Moment(max(0.0, offset), "policy", _policy_text(db, event),
                              event.outcome))
    return sorted(moments, key=lambda m: m.offset)

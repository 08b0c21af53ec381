"""The logbook entry of one intervention, assembled from its facts. Pure: no database, no
clock; times come out in the zone asked for (the hospital's, ``web.time_zone``).

Built on demand rather than stored at session end: the logbook then shows what is known
now (commands indexed when a recording closes, a break-glass review closed days later, a
grant revoked), and it keeps no second copy of personal data that would outlive the
retention of the audit trail and the recordings it summarises.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

from bastion.controls.transfers import transfer_in

from .facts import EventFacts, Intervention, SessionFacts

COMMAND_RULE_ACTIONS = {"command.flagged": "command_flagged", "command.refused": "command_refused"}
# Channel kinds whose commands are listed; SFTP operations are listed as transfers instead.
COMMAND_KINDS = ("shell", "exec")
ENDED_BADLY = ("terminated", "interrupted")


@dataclass(frozen=True)
class CommandSummary:
    kind: str
    text: str
    count: int  # times run in the intervention
    first_at: datetime


@dataclass(frozen=True)
class TransferLine:
    at: datetime
    session_id: int | None
    direction: str  # upload | download
    path: str
    bytes: int
    sha256: str | None
    complete: bool  # the file was closed normally
    via: str = "sftp"  # sftp | exec (``path`` is the command) | forward (its destination)


@dataclass(frozen=True)
class FlagLine:
    """``code``: break_glass, command_flagged, command_refused, session_terminated,
    session_interrupted, grant_revoked; ``detail`` fills the describing sentence."""

    code: str
    at: datetime | None
    session_id: int | None
    detail: Mapping[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class RecordingLink:
    session_id: int
    url: str
    started_at: datetime
    ended_at: datetime | None
    status: str


@dataclass(frozen=True)
class LogbookEntry:
    request_id: int
    grant_id: int
    vendor: str
    vendor_name: str
    technicians: tuple[str, ...]  # "Full Name (ident)"
    targets: tuple[str, ...]  # "account@target"
    start: datetime  # first session's start, else the grant's
    end: datetime | None  # last session's end; None while one is live or none happened
    window_start: datetime
    window_end: datetime
    reason: str
    ticket: str | None
    approvers: tuple[str, ...]
    declared_by: str | None
    break_glass: bool
    state: str  # unused (no session) | in_progress | done
    commands: tuple[CommandSummary, ...]
    transfers: tuple[TransferLine, ...]
    flags: tuple[FlagLine, ...]
    recordings: tuple[RecordingLink, ...]

    @property
    def command_count(self) -> int:
        return sum(c.count for c in self.commands)


def _local(value: datetime | None, zone: ZoneInfo) -> datetime | None:
    return value.astimezone(zone) if value is not None else None


def _person(name: str, ident: str) -> str:
    return f"{name} ({ident})" if name and name != ident else ident


def summarise_commands(intervention: Intervention, zone: ZoneInfo) -> tuple[CommandSummary, ...]:
    """Each distinct command once, in the order first run, with how often it ran."""
    seen: dict[tuple[str, str], list[Any]] = {}
    for c in sorted(intervention.commands, key=lambda c: c.at):
        if c.kind not in COMMAND_KINDS or not c.text.strip():
            continue
        key = (c.kind, c.text.strip())
        if key in seen:
            seen[key][0] += 1
        else:
            seen[key] = [1, c.at]
    return tuple(CommandSummary(kind, text, count, first.astimezone(zone))
                 for (kind, text), (count, first) in seen.items())


def _ordered(events: tuple[EventFacts, ...]) -> list[EventFacts]:
    return sorted(events, key=lambda e: (e.at, e.id))


def transfers_of(intervention: Intervention, zone: ZoneInfo) -> tuple[TransferLine, ...]:
    """Every transfer, whichever way it went: SFTP files, exec channels (scp -O, rsync,
    cat), port forwards; one line per direction that moved bytes."""
    lines = []
    for e in _ordered(intervention.events):
        moved = transfer_in(e.action, e.details) if e.outcome == "ok" else None
        if moved is None:
            continue
        for direction, size in moved.directions():
            lines.append(TransferLine(e.at.astimezone(zone), e.session_id, direction, moved.what,
                                      size, moved.sha256, moved.complete, moved.via))
    return tuple(lines)


def _session_flag(s: SessionFacts, zone: ZoneInfo) -> FlagLine | None:
    if s.status not in ENDED_BADLY:
        return None
    return FlagLine(f"session_{s.status}", _local(s.ended_at, zone), s.id,
                    {"reason": s.end_reason or ""})


def flags_of(intervention: Intervention, zone: ZoneInfo) -> tuple[FlagLine, ...]:
    flags: list[FlagLine] = []
    glass = intervention.break_glass
    if intervention.request.break_glass:
        flags.append(FlagLine("break_glass", _local(intervention.grant.not_before, zone), None, {
            "justification": glass.justification if glass else "",
            "review": (glass.verdict or "open") if glass else "open"}))
    for e in _ordered(intervention.events):
        code = COMMAND_RULE_ACTIONS.get(e.action)
        if code is not None:
            flags.append(FlagLine(code, e.at.astimezone(zone), e.session_id, {
                "command": str(e.details.get("command", "")),
                "reason": str(e.details.get("reason", ""))}))
    for s in sorted(intervention.sessions, key=lambda s: s.started_at):
        flag = _session_flag(s, zone)
        if flag is not None:
            flags.append(flag)
    grant = intervention.grant
    if grant.status == "revoked":
        flags.append(FlagLine("grant_revoked", _local(grant.revoked_at, zone), None, {
            "reason": grant.revoke_reason or "", "by": grant.revoked_by or ""}))
    return tuple(flags)


def assemble(intervention: Intervention, *, zone: ZoneInfo,
             link: Callable[[int], str]) -> LogbookEntry:
    """The entry of one intervention; ``link`` makes a session's console URL
    (:func:`bastion.logbook.links.session_url`)."""
    r, g = intervention.request, intervention.grant
    sessions = sorted(intervention.sessions, key=lambda s: (s.started_at, s.id))
    technicians = dict.fromkeys([_person(r.technician_name, r.technician),
                                 *(_person(s.technician_name, s.technician) for s in sessions)])
    targets = dict.fromkeys([f"{r.account}@{r.target}", *(f"{s.account}@{s.target}" for s in sessions)])
    live = any(s.ended_at is None for s in sessions)
    if not sessions:
        state, start, end = "unused", g.not_before, None
    else:
        start = sessions[0].started_at
        end = None if live else max(s.ended_at for s in sessions if s.ended_at is not None)
        state = "in_progress" if live else "done"
    glass = intervention.break_glass
    return LogbookEntry(
        request_id=r.id, grant_id=g.id, vendor=r.vendor, vendor_name=r.vendor_name,
        technicians=tuple(technicians), targets=tuple(targets),
        start=start.astimezone(zone), end=_local(end, zone),
        window_start=g.not_before.astimezone(zone), window_end=g.not_after.astimezone(zone),
        reason=r.reason, ticket=r.ticket, approvers=intervention.approvers,
        declared_by=glass.declared_by if glass else None, break_glass=r.break_glass,
        state=state, commands=summarise_commands(intervention, zone),
        transfers=transfers_of(intervention, zone), flags=flags_of(intervention, zone),
        recordings=tuple(RecordingLink(s.id, link(s.id), s.started_at.astimezone(zone),
                                       _local(s.ended_at, zone), s.status) for s in sessions))

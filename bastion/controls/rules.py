"""The controls: pure functions from facts to flags, one per thing the DPO watches.

Each flag names the moment to replay (session, recording, offset) when there is one.
"""

from __future__ import annotations

from collections import defaultdict, deque
from collections.abc import Iterable, Sequence
from datetime import datetime, timedelta

from .calendar import Calendar, first_off_hours
from .facts import (
    ACCESS_REVIEW,
    BREAK_GLASS,
    COMMAND_RULE,
    OFF_HOURS,
    REFUSAL_BURST,
    SENSITIVE_CATEGORIES,
    SENSITIVE_DATA,
    SFTP_VOLUME,
    BreakGlassFacts,
    EventFacts,
    Flag,
    RecordingSpan,
    ReviewDueFacts,
    SessionFacts,
)
from .moments import locate
from .transfers import transfer_in

COMMAND_ACTIONS = ("command.flagged", "command.refused")
REFUSAL_ACTIONS = ("login.refused", "channel.refused")


def sensitive_data(sessions: Iterable[SessionFacts],
                   spans: Sequence[RecordingSpan]) -> list[Flag]:
    """Sessions on targets holding health or INS data, from their first second."""
    flags = []
    for s in sessions:
        held = sorted(s.data_categories & SENSITIVE_CATEGORIES)
        if held:
            flags.append(Flag(SENSITIVE_DATA, s.started_at, s.technician, s.vendor, s.target,
                              locate(spans, s.id, s.started_at, session_start=s.started_at),
                              {"categories": held, "account": s.account}))
    return flags


def command_rules(events: Iterable[EventFacts], spans: Sequence[RecordingSpan]) -> list[Flag]:
    """Every command a contract rule flagged (allowed, reviewed) or refused."""
    flags = []
    for e in events:
        if e.action not in COMMAND_ACTIONS:
            continue
        # Exec commands are checked as their channel opens; typed lines say their channel.
        channel = str(e.details.get("channel") or "exec")
        moment = (locate(spans, e.session_id, e.at, channel=channel)
                  if e.session_id is not None else None)
        flags.append(Flag(COMMAND_RULE, e.at, e.technician, e.vendor, e.target, moment,
                          {"command": e.details.get("command", ""),
                           "rule": e.details.get("rule", ""),
                           "reason": e.details.get("reason", ""),
                           "refused": e.action == "command.refused"}, (e.id,)))
    return flags


def transfer_volume(events: Iterable[EventFacts], spans: Sequence[RecordingSpan],
                    threshold_bytes: int) -> list[Flag]:
    """Sessions whose downloads add up past ``threshold_bytes``, whichever way the bytes
    went (SFTP, exec such as ``scp -O`` or ``cat file``, port forwards): flagged once, at
    the transfer that crossed it (many small ones count as much as one large one)."""
    totals: dict[int, int] = defaultdict(int)
    counts: dict[int, int] = defaultdict(int)
    flags = []
    for e in sorted(events, key=lambda e: (e.at, e.id)):
        moved = transfer_in(e.action, e.details)
        if moved is None or not moved.downloaded or e.session_id is None:
            continue  # uploads are not exfiltration
        before = totals[e.session_id]
        totals[e.session_id] = before + moved.downloaded
        counts[e.session_id] += 1
        if before < threshold_bytes <= totals[e.session_id]:
            channel = {"sftp": "sftp", "exec": "exec"}.get(moved.via)
            flags.append(Flag(SFTP_VOLUME, e.at, e.technician, e.vendor, e.target,
                              locate(spans, e.session_id, e.at, channel=channel),
                              {"bytes": totals[e.session_id], "transfers": counts[e.session_id],
                               "threshold": threshold_bytes, "path": moved.what,
                               "via": moved.via, "sha256": moved.sha256}, (e.id,)))
    return flags


def off_hours(sessions: Iterable[SessionFacts], spans: Sequence[RecordingSpan],
              calendar: Calendar, now: datetime) -> list[Flag]:
    """Sessions any part of which ran at night or on a public holiday (hospital time),
    at the first such instant."""
    flags = []
    for s in sessions:
        hit = first_off_hours(s.started_at, s.ended_at or max(now, s.started_at), calendar)
        if hit is None:
            continue
        local = hit.at.astimezone(calendar.zone)
        flags.append(Flag(OFF_HOURS, hit.at, s.technician, s.vendor, s.target,
                          locate(spans, s.id, hit.at, session_start=s.started_at),
                          {"reason": hit.reason, "holiday": hit.holiday,
                           "local_time": local.strftime("%Y-%m-%d %H:%M")}))
    return flags


def _bursts(events: Sequence[EventFacts], count: int, window: timedelta) -> list[list[EventFacts]]:
    """Runs of at least ``count`` events each within ``window`` of the ``count - 1`` before
    it; a burst lasts while the rate stays that high."""
    found: list[list[EventFacts]] = []
    recent: deque[EventFacts] = deque()
    current: list[EventFacts] | None = None
    for e in events:
        recent.append(e)
        while recent[0].at <= e.at - window:
            recent.popleft()
        if len(recent) >= count:
            if current is None:
                current = list(recent)
                found.append(current)
            else:
                current.append(e)
        else:
            current = None
    return found


def refusal_bursts(events: Iterable[EventFacts], spans: Sequence[RecordingSpan], *,
                   count: int, minutes: int) -> list[Flag]:
    """``count`` or more refused logins or channels within ``minutes``, from one
    technician or from one client address: guessing, a stolen key, a misbehaving script."""
    refused = sorted((e for e in events if e.action in REFUSAL_ACTIONS), key=lambda e: (e.at, e.id))
    groups: dict[tuple[str, str], list[EventFacts]] = defaultdict(list)
    for e in refused:
        if e.technician:
            groups[("technician", e.technician)].append(e)
        address = e.details.get("client_address")
        if address:
            groups[("address", str(address))].append(e)
    flags: list[Flag] = []
    seen: set[tuple[int, ...]] = set()
    for (by, who), group in sorted(groups.items()):
        for burst in _bursts(group, count, timedelta(minutes=minutes)):
            ids = tuple(e.id for e in burst)
            if ids in seen:
                continue  # the same burst seen from the technician and from the address
            seen.add(ids)
            first = burst[0]
            with_session = next((e for e in burst if e.session_id is not None), None)
            moment = (locate(spans, with_session.session_id, with_session.at)
                      if with_session is not None and with_session.session_id is not None
                      else None)
            technicians = sorted({e.technician for e in burst if e.technician})
            flags.append(Flag(REFUSAL_BURST, first.at,
                              technicians[0] if len(technicians) == 1 else None,
                              first.vendor, first.target if len({e.target for e in burst}) == 1
                              else None, moment,
                              {"by": by, "who": who, "count": len(burst), "minutes": minutes,
                               "until": burst[-1].at.isoformat(), "technicians": technicians,
                               "actions": sorted({e.action for e in burst})}, ids))
    return flags


def break_glass(accesses: Iterable[BreakGlassFacts], spans: Sequence[RecordingSpan],
                now: datetime) -> list[Flag]:
    """Every emergency access, with its review's state (open, overdue, closed)."""
    flags = []
    for b in accesses:
        moment = None
        if b.first_session_id is not None and b.first_session_start is not None:
            moment = locate(spans, b.first_session_id, b.first_session_start,
                            session_start=b.first_session_start)
        state = ("closed" if b.closed_at is not None
                 else "overdue" if b.deadline <= now else "open")
        flags.append(Flag(BREAK_GLASS, b.opened_at, b.technician, b.vendor, b.target, moment,
                          {"review_id": b.review_id, "request_id": b.request_id,
                           "grant_id": b.grant_id, "justification": b.justification,
                           "declared_by": b.declared_by, "review": state,
                           "verdict": b.verdict, "deadline": b.deadline.isoformat()}))
    return flags


def access_reviews_due(due: Iterable[ReviewDueFacts]) -> list[Flag]:
    """Vendors (and staff roles) a year without a confirmed review: flagged until one is confirmed,
    whatever the period asked (it is today's state, not an event)."""
    return [Flag(ACCESS_REVIEW, r.due_at, None, r.vendor, None, None,
                 {"last_review": r.last_review.date().isoformat() if r.last_review else None,
                  "suspend_at": r.suspend_at.date().isoformat(),
                  "suspended": r.suspended_at is not None, "staff": r.staff}) for r in due]


def sort_flags(flags: Iterable[Flag]) -> list[Flag]:
    return sorted(flags, key=lambda f: (f.at, f.kind, f.event_ids))

"""The DPO's daily summary: overdue and open break-glass reviews, and the last day's flags,
e-mailed to every active DPO (through the notification outbox) once a day.

"Once a day" holds across several nodes: the sending transaction takes the audit chain's
lock, looks for today's ``report.daily_summary`` event, and writes it with the e-mails.
"""

from __future__ import annotations

import asyncio
import logging
from collections import Counter
from dataclasses import dataclass
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

from sqlalchemy import func, select

from bastion.approvals.notifications import reader_zone
from bastion.audit import Actor
from bastion.audit.checkpoints import lock_chain
from bastion.breakglass import ReviewInfo, list_reviews
from bastion.context import Bastion
from bastion.contracts.windows import wall_instant
from bastion.hds_certificates import HdsDeadline, hds_deadlines
from bastion.i18n import N_
from bastion.i18n.catalogue import translator
from bastion.models import AuditEvent, NotificationOutbox, StaffRole, StaffUser, utcnow

from .describe import describe, kind_name
from .facts import Flag
from .gather import flags_of, load_period

SUMMARY = "dpo.daily_summary"
SENT_ACTION = "report.daily_summary"
DETAILED_FLAGS = 50  # the e-mail lists this many flags; the console has them all

log = logging.getLogger("bastion.controls")


@dataclass(frozen=True)
class DailySummary:
    since: datetime
    until: datetime
    overdue: tuple[ReviewInfo, ...]
    open_reviews: tuple[ReviewInfo, ...]  # open and not yet overdue
    flags: tuple[Flag, ...]
    sessions: int
    hds: tuple[HdsDeadline, ...] = ()  # vendors' HDS certificates expiring within 60 days

    def flag_counts(self) -> dict[str, int]:
        return dict(sorted(Counter(f.kind for f in self.flags).items()))


def build_daily_summary(core: Bastion, *, now: datetime | None = None,
                        hours: int = 24) -> DailySummary:
    now = now or utcnow()
    facts = load_period(core, now - timedelta(hours=hours), now)
    reviews = list_reviews(core, state="open", now=now, limit=1000)
    with core.db.session() as session:
        deadlines = tuple(hds_deadlines(session, now))
    return DailySummary(
        since=facts.since, until=now,
        overdue=tuple(r for r in reviews if r.is_overdue(now)),
        open_reviews=tuple(r for r in reviews if not r.is_overdue(now)),
        flags=tuple(flags_of(facts, core, now)), sessions=len(facts.sessions), hds=deadlines)


_TEXT = {
    "subject": N_("[DPI bastion] Summary of {day}: {overdue} overdue break-glass review(s), "
                  "{flags} flag(s)"),
    "hello": N_("Hello {name},"),
    "intro": N_("Summary of the DPI bastion's controls, {since} to {until} ({zone})."),
    "overdue": N_("Break-glass: OVERDUE reviews ({n})"),
    "open": N_("Break-glass: open reviews ({n})"),
    "review": N_(" - {id}: {technician} ({vendor}) on {target}, opened {opened}, to close "
                 "before {deadline}\n   {url}"),
    "none": N_(" - none"),
    "sessions": N_("Sessions opened in the period: {n}"),
    "flags": N_("Flags ({n}):"),
    "count": N_(" - {kind}: {n}"),
    "detail": N_("Detail:"),
    "more": N_(" - … and {n} more in the console"),
    "hds": N_("HDS certificates to renew ({n}):"),
    "hds_line": N_(" - {vendor} (contract {contract}): certificate {number}, last day "
                   "{until}{expired}"),
    "hds_expired": N_(": EXPIRED, health and INS data refused"),
    "dashboard": N_("The DPO's dashboard: {url}"),
    "footer": N_("Automatic message from the DPI bastion; it holds no secret."),
}


def summary_text(core: Bastion, summary: DailySummary, *, name: str, language: str = "fr",
                 zone: str | None = None) -> tuple[str, str]:
    """(subject, body) of the summary for one reader."""
    _ = translator(language)
    text = _.table(_TEXT)
    zone = zone or core.settings.web.time_zone
    reader = reader_zone(zone)

    def local_time(instant: datetime) -> str:
        return _.when(instant, reader)

    base = core.settings.web.public_url
    lines = [text["hello"].format(name=name), "",
             text["intro"].format(since=local_time(summary.since),
                                  until=local_time(summary.until), zone=zone), ""]
    for key, reviews in (("overdue", summary.overdue), ("open", summary.open_reviews)):
        lines.append(text[key].format(n=len(reviews)))
        lines.extend(text["review"].format(
            id=r.id, technician=r.technician, vendor=r.vendor, target=r.target,
            opened=local_time(r.opened_at), deadline=local_time(r.deadline),
            url=f"{base}/dpo/break-glass/{r.id}") for r in reviews)
        if not reviews:
            lines.append(text["none"])
        lines.append("")
    lines += [text["sessions"].format(n=summary.sessions), "",
              text["flags"].format(n=len(summary.flags))]
    lines.extend(text["count"].format(kind=kind_name(kind, language), n=count)
                 for kind, count in summary.flag_counts().items())
    if summary.flags:
        lines += ["", text["detail"]]
        for flag in summary.flags[:DETAILED_FLAGS]:
            where = "@".join(p for p in (flag.technician, flag.target) if p)
            lines.append(f" - {local_time(flag.at)} [{kind_name(flag.kind, language)}] "
                         f"{where} {describe(flag, language)}".rstrip())
        if len(summary.flags) > DETAILED_FLAGS:
            lines.append(text["more"].format(n=len(summary.flags) - DETAILED_FLAGS))
    if summary.hds:
        lines += ["", text["hds"].format(n=len(summary.hds))]
        lines.extend(text["hds_line"].format(
            vendor=d.vendor, contract=d.contract, number=d.number, until=d.valid_until,
            expired=text["hds_expired"] if d.days_left < 0 else "") for d in summary.hds)
    lines += ["", text["dashboard"].format(url=f"{base}/dpo"), "", text["footer"], ""]
    day = _.value(summary.until.astimezone(reader).date())
    subject = text["subject"].format(day=day, overdue=len(summary.overdue),
                                     flags=len(summary.flags))
    return subject, "\n".join(lines)


@dataclass(frozen=True)
class SummarySent:
    queued: tuple[str, ...]  # DPO addresses
    skipped: str | None = None  # why nothing was queued


def _local_midnight(now: datetime, zone: ZoneInfo) -> datetime:
    local = now.astimezone(zone)
    return local.replace(hour=0, minute=0, second=0, microsecond=0)


def send_daily_summary(core: Bastion, *, now: datetime | None = None, force: bool = False,
                       actor: Actor | None = None) -> SummarySent:
    """Queue today's summary for every active DPO with an e-mail address (the notification
    worker sends it). Once a local day unless ``force``."""
    now = now or utcnow()
    if not core.settings.smtp.host:
        return SummarySent((), "no SMTP server is configured (smtp.host)")
    summary = build_daily_summary(core, now=now)
    zone = ZoneInfo(core.settings.web.time_zone)
    with core.db.session() as session:
        lock_chain(session)  # serialises nodes: one summary a day
        sent_today = session.scalar(select(func.count()).select_from(AuditEvent).where(
            AuditEvent.action == SENT_ACTION, AuditEvent.at >= _local_midnight(now, zone)))
        if sent_today and not force:
            return SummarySent((), "today's summary was already sent")
        readers = session.scalars(
            select(StaffUser).join(StaffRole, StaffRole.staff_id == StaffUser.id)
            .where(StaffRole.role == "dpo", StaffUser.active.is_(True),
                   StaffUser.email.is_not(None)).order_by(StaffUser.id)).all()
        queued = []
        for reader in readers:
            subject, body = summary_text(core, summary, name=reader.full_name,
                                         language=reader.language, zone=reader.time_zone)
            session.add(NotificationOutbox(kind=SUMMARY, channel="email",
                                           recipient=reader.email or "",
                                           language=reader.language, subject=subject[:300],
                                           body=body))
            queued.append(reader.email or "")
        core.audit.append(session, action=SENT_ACTION, outcome="ok" if queued else "failed",
                          actor=actor, reasons=[] if queued else ["no active DPO has an e-mail "
                                                                  "address"],
                          details={"to": queued, "overdue": [r.id for r in summary.overdue],
                                   "open": [r.id for r in summary.open_reviews],
                                   "flags": summary.flag_counts(),
                                   "since": summary.since.isoformat(),
                                   "until": summary.until.isoformat()})
    return SummarySent(tuple(queued), None if queued else "no active DPO has an e-mail address")


def seconds_until(now: datetime, hour: int, zone: ZoneInfo) -> float:
    """Seconds from ``now`` to the next ``hour``:00 local time (DST-aware)."""
    local = now.astimezone(zone)
    today = wall_instant(local.date(), hour * 60, zone)
    nxt = today if today > now else wall_instant(local.date() + timedelta(days=1), hour * 60, zone)
    return (nxt - now).total_seconds()


async def daily_summaries(core: Bastion, stop: asyncio.Event) -> None:
    """For ``bastion serve``: send the summary every day at ``controls.daily_summary_hour``
    (hospital time). Runs the work in a thread so the event loop never waits on it."""
    zone = ZoneInfo(core.settings.web.time_zone)
    while not stop.is_set():
        wait = seconds_until(utcnow(), core.settings.controls.daily_summary_hour, zone)
        try:
            await asyncio.wait_for(stop.wait(), wait)
            return
        except TimeoutError:
            pass
        try:
            result = await asyncio.to_thread(send_daily_summary, core)
            if result.skipped:
                log.info("daily summary: %s", result.skipped)
        except Exception:  # noqa: BLE001 - a failed summary must not stop the server
            log.exception("daily summary failed")

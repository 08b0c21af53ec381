"""The logbook on a running core: entries for a period, and exports (CSV, printable
page), each export an audit event (who took which part of the logbook out)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import TextIO
from zoneinfo import ZoneInfo

from sqlalchemy import select

from bastion.audit import Actor
from bastion.context import Bastion
from bastion.models import Vendor, utcnow

from .csv_export import write_csv
from .entries import LogbookEntry, assemble
from .links import session_url
from .loading import LogbookFilter, load_interventions
from .printable import Heading, render_printable

FORMATS = ("csv", "html")


def hospital_zone(core: Bastion) -> ZoneInfo:
    return ZoneInfo(core.settings.web.time_zone)


def build_logbook(core: Bastion, query: LogbookFilter, *,
                  base_url: str | None = None) -> list[LogbookEntry]:
    """Entries oldest first, times in the hospital's zone. Links are absolute (the
    console's ``web.public_url``) unless ``base_url`` says otherwise ("" for links inside
    the console)."""
    zone = hospital_zone(core)
    base = core.settings.web.public_url if base_url is None else base_url
    with core.db.session() as session:
        interventions = load_interventions(session, query, zone, core.traces)
    return [assemble(i, zone=zone, link=lambda sid: session_url(sid, base)) for i in interventions]


def heading_for(core: Bastion, query: LogbookFilter) -> Heading:
    vendor = None
    if query.vendor:
        with core.db.session() as session:
            vendor = session.scalar(select(Vendor.name).where(Vendor.slug == query.vendor)) \
                or query.vendor
    return Heading(vendor, query.since, query.until, query.target,
                   utcnow().astimezone(hospital_zone(core)), core.settings.web.time_zone)


def export_logbook(core: Bastion, query: LogbookFilter, *, format: str, out: TextIO,
                   actor: Actor, language: str = "fr", stylesheet_href: str | None = None,
                   back_href: str | None = None) -> int:
    """Write the period's logbook to ``out``; returns the number of entries. The export is
    audited before it is written: a failure to audit exports nothing."""
    if format not in FORMATS:
        raise ValueError(f"unknown format {format!r}; use {' or '.join(FORMATS)}")
    entries = build_logbook(core, query)
    _audit_export(core, query, format=format, actor=actor, entries=entries)
    if format == "csv":
        return write_csv(entries, out, language)
    out.write(render_printable(entries, heading_for(core, query), language=language,
                               stylesheet_href=stylesheet_href, back_href=back_href))
    return len(entries)


def _audit_export(core: Bastion, query: LogbookFilter, *, format: str, actor: Actor,
                  entries: Sequence[LogbookEntry]) -> None:
    with core.db.session() as session:
        core.audit.append(
            session, action="logbook.exported", outcome="ok", actor=actor, vendor=query.vendor,
            target=query.target,
            reasons=[f"{len(entries)} intervention(s) exported as {format}"],
            details={"format": format, "since": query.since.isoformat() if query.since else None,
                     "until": query.until.isoformat() if query.until else None,
                     "entries": len(entries),
                     "requests": [e.request_id for e in entries][:500]})

"""``bastion reports``: the DPO's controls from the command line: the daily summary (print
or send), the flags of a period, reports per vendor (CSV), and break-glass reviews."""

from __future__ import annotations

import sys
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

import click

from bastion import breakglass, controls
from bastion.approvals import deliver_pending
from bastion.audit.export import parse_bound
from bastion.context import Bastion
from bastion.models import utcnow

from .common import CliState, cli_actor, clock, fail, pass_state

LANGUAGES = click.Choice(["fr", "en"])


@click.group()
def reports() -> None:
    """The DPO's controls: daily summary, flags, reports per vendor, break-glass reviews."""


def _period(core: Bastion, since: str | None, until: str | None,
            default_days: int) -> tuple[datetime, datetime]:
    zone = core.settings.web.time_zone
    try:
        end = parse_bound(until, zone, end=True) if until else utcnow()
        start = parse_bound(since, zone) if since else end - timedelta(days=default_days)
    except ValueError as exc:
        fail(str(exc))
    if end <= start:
        fail("--until must come after --since")
    return start, end


@reports.command("daily-summary")
@click.option("--send", is_flag=True, help="E-mail it to every active DPO now (once a day; "
              "bastion serve also sends it at controls.daily_summary_hour).")
@click.option("--force", is_flag=True, help="With --send: send even if today's went already.")
@click.option("--language", type=LANGUAGES, default="fr", show_default=True,
              help="Language of the printed summary (e-mails use each DPO's own).")
@click.option("--fail-if-overdue", is_flag=True,
              help="Exit with status 3 when a break-glass review is overdue (for monitoring).")
@pass_state
def daily_summary(state: CliState, send: bool, force: bool, language: str,
                  fail_if_overdue: bool) -> None:
    """Print the DPO's daily summary: overdue and open break-glass reviews, the last 24
    hours' flags."""
    with state.bastion() as core:
        summary = controls.build_daily_summary(core)
        _, body = controls.summary_text(core, summary, name="DPO", language=language)
        click.echo(body, nl=False)
        if send:
            result = controls.send_daily_summary(core, force=force, actor=cli_actor())
            if result.skipped:
                fail(f"not sent: {result.skipped}")
            delivered = deliver_pending(core)
            click.echo(f"queued for {', '.join(result.queued)}; {len(delivered.sent)} message(s) "
                       f"sent, {len(delivered.retrying)} to retry", err=True)
    if fail_if_overdue and summary.overdue:
        raise SystemExit(3)


@reports.command("flags")
@click.option("--since", help="From this date or time (inclusive); default: 7 days ago.")
@click.option("--until", help="Until this date (inclusive) or time (exclusive); default: now.")
@click.option("--vendor", help="One vendor's flags only (its id, e.g. medilogic).")
@click.option("--kind", "kinds", multiple=True, type=click.Choice(controls.FLAG_KINDS),
              help="Only these kinds (repeat for several).")
@click.option("--csv", "as_csv", is_flag=True, help="CSV on standard output.")
@click.option("--language", type=LANGUAGES, default="fr", show_default=True)
@pass_state
def flags(state: CliState, since: str | None, until: str | None, vendor: str | None,
          kinds: tuple[str, ...], as_csv: bool, language: str) -> None:
    """The flags of a period, each with the moment to replay (session/recording@offset)."""
    with state.bastion() as core:
        start, end = _period(core, since, until, 7)
        found = controls.compute_flags(core, since=start, until=end, vendor=vendor,
                                       kinds=kinds or None)
        zone = ZoneInfo(core.settings.web.time_zone)
        if as_csv:
            controls.write_flags_csv(found, sys.stdout, zone, language)
            return
        for flag in found:
            moment = flag.moment
            where = ("-" if moment is None else f"session {moment.session_id}"
                     + (f" recording {moment.recording_id}@{moment.offset_seconds:g}s"
                        if moment.recording_id else ""))
            click.echo(f"{clock(flag.at, str(zone))} {flag.kind:<15} "
                       f"{flag.technician or '-'}@{flag.target or '-'} [{where}] "
                       f"{controls.describe(flag, language)}")
        click.echo(f"{len(found)} flag(s)", err=True)


@reports.command("vendors")
@click.option("--since", help="From this date or time (inclusive); default: 30 days ago.")
@click.option("--until", help="Until this date (inclusive) or time (exclusive); default: now.")
@click.option("--vendor", help="One vendor only (its id).")
@click.option("--csv", "as_csv", is_flag=True, help="One CSV row per session on standard output.")
@pass_state
def vendors(state: CliState, since: str | None, until: str | None, vendor: str | None,
            as_csv: bool) -> None:
    """Per vendor: sessions, durations, targets, data categories reached, rule hits,
    refusals, break-glass and flags."""
    with state.bastion() as core:
        start, end = _period(core, since, until, 30)
        try:
            found = controls.vendor_reports(core, since=start, until=end, vendor=vendor)
        except ValueError as exc:
            fail(str(exc))
        if as_csv:
            controls.write_sessions_csv(found, sys.stdout, ZoneInfo(core.settings.web.time_zone))
            return
        for r in found:
            flags_text = ", ".join(f"{k} {n}" for k, n in r.flag_counts().items()) or "none"
            click.echo(f"{r.vendor} ({r.vendor_name}): {len(r.sessions)} session(s), "
                       f"{r.total_seconds / 3600:.1f} h; technicians {', '.join(r.technicians) or '-'}; "
                       f"targets {', '.join(r.targets) or '-'}; data {', '.join(r.data_categories) or '-'}; "
                       f"rule hits {r.rule_hits}; refusals {r.refusals}; break-glass {r.break_glass}; "
                       f"downloaded {r.downloaded_bytes} bytes, uploaded {r.uploaded_bytes} bytes "
                       f"(SFTP, exec, forwards); flags: {flags_text}")


@reports.command("break-glass")
@click.option("--state", "which", type=click.Choice(breakglass.STATES),
              help="Only open, overdue or closed reviews (default: all, open ones first).")
@pass_state
def break_glass(state: CliState, which: str | None) -> None:
    """Emergency accesses and the state of their reviews."""
    with state.bastion() as core:
        now = utcnow()
        for r in breakglass.list_reviews(core, state=which, now=now):
            status = (f"closed {r.verdict} by {r.closed_by}" if not r.is_open
                      else "OVERDUE" if r.is_overdue(now) else "open")
            click.echo(f"review {r.id} request {r.request_id}: {r.technician} on {r.target}, "
                       f"opened {r.opened_at:%Y-%m-%d %H:%M}Z, due {r.deadline:%Y-%m-%d %H:%M}Z: "
                       f"{status}")

"""``bastion audit``: verify, checkpoint, export, forward, purge and hold the audit trail."""

from __future__ import annotations

import threading
from datetime import datetime
from pathlib import Path

import click

from bastion.audit.export import FORMATS, export_events, parse_bound
from bastion.audit.forwarder import SyslogForwarder
from bastion.audit.retention import AuditRetentionError, hold_status, purge_expired_events, set_hold
from bastion.audit.service import checkpoint as checkpoint_now
from bastion.audit.service import verify as verify_log
from bastion.audit.signing import SigningKeyError
from bastion.trace_retention import TraceRetentionRefused, purge_expired_traces

from .common import CliState, cli_actor, fail, pass_state, private_output


@click.group()
def audit() -> None:
    """The audit trail: verify its integrity, export it, forward it, apply retention."""


@audit.command("verify")
@click.option("--from", "from_id", type=int, help="Start at this event id (from the signed "
              "checkpoint before it).")
@click.option("--to", "to_id", type=int, help="Stop at this event id.")
@click.option("--public-key", "public_keys", multiple=True,
              type=click.Path(path_type=Path, dir_okay=False, exists=True),
              help="PEM public key to check signatures with (default: the bastion's own); "
                   "repeat for several.")
@pass_state
def verify(state: CliState, from_id: int | None, to_id: int | None,
           public_keys: tuple[Path, ...]) -> None:
    """Check the hash chain and the signed checkpoints. Exits 1 naming the first bad
    event when the log was altered."""
    with state.bastion() as core:
        try:
            report = verify_log(core, from_id=from_id, to_id=to_id, public_keys=public_keys,
                                actor=cli_actor())
        except SigningKeyError as exc:
            fail(str(exc))
    if not report.ok:
        fail(report.summary())
    click.echo(report.summary())


@audit.command("checkpoint")
@pass_state
def checkpoint(state: CliState) -> None:
    """Sign the newest event now (checkpoints are otherwise written every
    audit.checkpoint_every events)."""
    with state.bastion() as core:
        try:
            made = checkpoint_now(core)
        except SigningKeyError as exc:
            fail(str(exc))
    if made is None:
        click.echo("the audit log is empty: nothing to sign")
    else:
        click.echo(f"checkpoint #{made.id} ({made.kind}) signs event {made.event_id} "
                   f"(event {made.event_count} of the chain)")




@audit.command("export")
@click.option("--since", help="From this date or time (inclusive), e.g. 2026-03-01.")
@click.option("--until", help="Until this date (inclusive) or time (exclusive).")
@click.option("--format", "format_", type=click.Choice(FORMATS), default="jsonl", show_default=True)
@click.option("-o", "--output", type=click.Path(path_type=Path, dir_okay=False),
              help="File to write (default: standard output).")
@pass_state
def export(state: CliState, since: str | None, until: str | None, format_: str,
           output: Path | None) -> None:
    """Export events by period as JSON lines or CSV. Dates without an offset are in the
    bastion's time zone (web.time_zone). The export is itself audited."""
    zone = state.settings.web.time_zone
    try:
        start: datetime | None = parse_bound(since, zone) if since else None
        end: datetime | None = parse_bound(until, zone, end=True) if until else None
    except ValueError as exc:
        fail(str(exc))
    with state.bastion() as core, private_output(output) as out:
        count = export_events(core, out, since=start, until=end, format=format_, actor=cli_actor())
    if output is not None:
        click.echo(f"{count} events written to {output}")


@audit.command("forward")
@click.option("--once", is_flag=True, help="Send what is pending, then exit.")
@pass_state
def forward(state: CliState, once: bool) -> None:
    """Send audit events to the SIEM configured in [syslog] (normally done by
    'bastion serve'; useful to catch up or to test the SIEM's side)."""
    settings = state.settings.syslog
    if not settings.host:
        fail("no SIEM configured: set [syslog] host (and port, protocol)")
    with state.bastion() as core:
        forwarder = SyslogForwarder(core.db, settings)
        if once:
            try:
                sent = forwarder.forward_once()
            except OSError as exc:
                fail(f"cannot send to {forwarder.destination}: {exc}")
            click.echo(f"{sent} events sent to {forwarder.destination}")
            return
        click.echo(f"forwarding to {forwarder.destination}; Ctrl-C to stop")
        stop = threading.Event()
        try:
            forwarder.run(stop)
        except KeyboardInterrupt:
            stop.set()


@audit.command("purge")
@click.option("--dry-run", is_flag=True, help="Only say what would be purged.")
@click.option("--force", is_flag=True, help="Purge even events that fail verification "
              "(after exporting them as evidence); the purge event says so.")
@pass_state
def purge(state: CliState, dry_run: bool, force: bool) -> None:
    """Delete events older than audit.retention_days, keeping the rest verifiable from a
    signed anchor, and the access traces (requests, grants, sessions...) of the same age.
    Refused while the audit log is on legal hold."""
    with state.bastion() as core:
        try:
            traces = purge_expired_traces(core, actor=cli_actor(), dry_run=dry_run)
            result = purge_expired_events(core, actor=cli_actor(), dry_run=dry_run, force=force)
        except (AuditRetentionError, SigningKeyError, TraceRetentionRefused) as exc:
            fail(str(exc))
    verb = "would purge" if dry_run else "purged"
    counted = ", ".join(f"{table} {count}" for table, count in traces.counts.items() if count)
    click.echo(f"access traces: {verb} {counted or 'nothing'}")
    cutoff = f"{result.cutoff:%Y-%m-%d %H:%M}Z"
    if result.purged:
        click.echo(f"{verb} {result.purged} events older than {cutoff} "
                   f"(events {result.first_event_id}-{result.last_event_id})")
    else:
        click.echo(f"no events older than {cutoff}")


@audit.command("hold")
@click.option("--reason", required=True, help="Why (investigation, litigation reference).")
@click.option("--release", is_flag=True, help="Release the hold instead.")
@pass_state
def hold(state: CliState, reason: str, release: bool) -> None:
    """Place (or release) a legal hold: no audit event is purged while it stands."""
    with state.bastion() as core:
        changed = set_hold(core, hold=not release, reason=reason, actor=cli_actor())
        with core.db.session() as session:
            status = hold_status(session)
    if status.held:
        click.echo(("legal hold placed" if changed else "already on legal hold")
                   + f" (since {status.since:%Y-%m-%d %H:%M}Z by {status.by}: {status.reason})")
    else:
        click.echo("legal hold released" if changed else "there was no legal hold")

"""``bastion recordings``: verify, export, purge and hold session recordings."""

from __future__ import annotations

import contextlib
import os
import sys
import tempfile
from pathlib import Path

import click
from sqlalchemy import select

from bastion.models import RecordedCommand, Recording
from bastion.recording import (
    RecordingError,
    RecordingService,
    purge_expired,
    set_legal_hold,
)
from bastion.recording.retention import recordings_of_session

from .common import CliState, cli_actor, clock, fail, pass_state


@click.group()
def recordings() -> None:
    """Session recordings: list, verify, export (asciicast), purge, legal hold."""


@recordings.command("list")
@click.option("--session", "session_id", type=int, help="Only the recordings of this session.")
@pass_state
def list_(state: CliState, session_id: int | None) -> None:
    """List recordings with their status, size and hold."""
    with state.bastion() as core, core.db.session() as session:
        query = select(Recording).order_by(Recording.id)
        if session_id is not None:
            query = query.where(Recording.session_id == session_id)
        for rec in session.scalars(query):
            hold = " HOLD" if rec.legal_hold else ""
            click.echo(
                f"{rec.id:>6} session {rec.session_id:<6} {rec.channel:<6} {rec.status:<11} "
                f"{clock(rec.started_at, core.settings.web.time_zone)} {rec.chunk_count:>6} chunks "
                f"{rec.size_bytes:>10} bytes{hold}"
            )


@recordings.command("verify")
@click.argument("recording_ids", nargs=-1, type=int)
@click.option("--all", "all_", is_flag=True, help="Verify every recording not purged.")
@pass_state
def verify(state: CliState, recording_ids: tuple[int, ...], all_: bool) -> None:
    """Verify recordings against the catalog and the audit log. Exits 1 if any fails,
    naming its first bad chunk."""
    if bool(recording_ids) == all_:
        fail("give recording IDs or --all")
    failures = 0
    with state.bastion() as core:
        service = RecordingService(core)
        ids = list(recording_ids)
        if all_:
            with core.db.session() as session:
                ids = list(session.scalars(
                    select(Recording.id).where(Recording.status != "purged").order_by(Recording.id)
                ))
        for recording_id in ids:
            try:
                report = service.verify(recording_id, cli_actor())
            except RecordingError as exc:
                click.echo(f"recording {recording_id}: FAILED: {exc}")
                failures += 1
                continue
            click.echo(f"recording {recording_id}: {report.describe()}")
            failures += not report.ok
    if failures:
        fail(f"{failures} of {len(ids)} recordings failed verification")


@recordings.command("export")
@click.argument("recording_id", type=int)
@click.option("-o", "--output", "output", type=click.Path(path_type=Path, dir_okay=False),
              help="Destination .cast file (default: recording-ID.cast; '-' for stdout).")
@click.option("--with-input", is_flag=True,
              help="Also export what was typed (may include secrets typed without echo).")
@click.option("--purpose", required=True,
              help="Why the recording leaves the bastion (case, ticket, request); audited.")
@click.option("--raw", is_flag=True,
              help="The exact output bytes instead, stdout and stderr apart: two files, "
                   "OUTPUT.stdout and OUTPUT.stderr (default OUTPUT: recording-ID).")
@pass_state
def export(state: CliState, recording_id: int, output: Path | None, with_input: bool,
           purpose: str, raw: bool) -> None:
    """Export a recording as a plain asciicast v2 file, or its exact bytes (audited, with
    its purpose)."""
    purpose = " ".join(purpose.split())
    if len(purpose) < 10:
        fail("--purpose must say why the recording is exported (10 characters at least)")
    if raw:
        _export_raw(state, recording_id, output, with_input, purpose)
        return
    destination = output or Path(f"recording-{recording_id}.cast")
    with state.bastion() as core:
        service = RecordingService(core)
        if str(destination) == "-":
            try:
                service.export(recording_id, sys.stdout, cli_actor(), destination="stdout",
                               include_input=with_input, purpose=purpose)
            except RecordingError as exc:
                fail(f"export stopped: {exc}")
            return
        # Written beside the destination and renamed only once complete and verified:
        # a recording that fails verification never leaves a plausible-looking file.
        folder = destination.resolve().parent
        fd, temporary = tempfile.mkstemp(prefix=".export-", suffix=".cast", dir=folder)
        try:
            with os.fdopen(fd, "w", encoding="utf-8", newline="\n") as out:
                count = service.export(recording_id, out, cli_actor(),
                                       destination=str(destination.resolve()),
                                       include_input=with_input, purpose=purpose)
            os.replace(temporary, destination)
        except RecordingError as exc:
            os.unlink(temporary)
            fail(f"export of recording {recording_id} failed, nothing written: {exc}")
        except BaseException:
            os.unlink(temporary)
            raise
    click.echo(f"recording {recording_id} exported to {destination} ({count} events)")


def _export_raw(state: CliState, recording_id: int, output: Path | None, with_input: bool,
                purpose: str) -> None:
    """asciicast holds text, so invalid UTF-8 became U+FFFD there; here every byte comes
    back as recorded. Both files appear only once complete and verified."""
    if with_input:
        fail("--raw exports output only (stdout, stderr): leave out --with-input")
    if output is not None and str(output) == "-":
        fail("--raw writes two files (OUTPUT.stdout, OUTPUT.stderr): give -o OUTPUT, not '-'")
    base = (output or Path(f"recording-{recording_id}")).resolve()
    targets = [base.with_name(base.name + ".stdout"), base.with_name(base.name + ".stderr")]
    temporaries = []
    try:
        for _ in targets:
            fd, temporary = tempfile.mkstemp(prefix=".export-", suffix=".raw", dir=base.parent)
            os.close(fd)
            temporaries.append(temporary)
        with state.bastion() as core, open(temporaries[0], "wb") as out, \
                open(temporaries[1], "wb") as err:
            sizes = RecordingService(core).export_raw(recording_id, out, err, cli_actor(),
                                                      destination=str(base), purpose=purpose)
        for temporary, target in zip(temporaries, targets, strict=True):
            os.replace(temporary, target)
    except RecordingError as exc:
        _remove(temporaries)
        fail(f"export of recording {recording_id} failed, nothing written: {exc}")
    except OSError as exc:
        _remove(temporaries)
        fail(f"export of recording {recording_id} failed, nothing written: cannot write "
             f"{exc.filename or base.parent}: {exc.strerror}; choose another -o")
    except BaseException:
        _remove(temporaries)
        raise
    click.echo(f"recording {recording_id} exported raw: {targets[0]} ({sizes[0]} bytes), "
               f"{targets[1]} ({sizes[1]} bytes)")


def _remove(paths: list[str]) -> None:
    for path in paths:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(path)


@recordings.command("commands")
@click.argument("recording_id", type=int)
@pass_state
def commands(state: CliState, recording_id: int) -> None:
    """Show the commands indexed from a recording."""
    with state.bastion() as core, core.db.session() as session:
        rows = session.scalars(
            select(RecordedCommand)
            .where(RecordedCommand.recording_id == recording_id)
            .order_by(RecordedCommand.offset_seconds, RecordedCommand.id)
        )
        for row in rows:
            status = f" [exit {row.exit_status}]" if row.exit_status is not None else ""
            at = clock(row.at, core.settings.web.time_zone, seconds=True)
            click.echo(f"{at} +{row.offset_seconds:8.2f}s {row.kind:<5} "
                       f"{core.traces.command_text(session, row)}{status}")


@recordings.command("purge")
@click.option("--dry-run", is_flag=True, help="Only list what would be purged.")
@pass_state
def purge(state: CliState, dry_run: bool) -> None:
    """Purge recordings past the retention period (recording.retention_days), except those
    on legal hold. Each purge is audited."""
    with state.bastion() as core:
        service = RecordingService(core)
        try:
            items = purge_expired(service, actor=cli_actor(), dry_run=dry_run)
        except RecordingError as exc:
            fail(str(exc))
    verb = "would purge" if dry_run else "purged"
    for item in items:
        gone = "" if dry_run or item.file_deleted else " (file was already missing)"
        click.echo(f"{verb} recording {item.recording_id} (session {item.session_id}, "
                   f"ended {item.ended_at:%Y-%m-%d}){gone}")
    click.echo(f"{len(items)} recordings {verb}, retention {core.settings.recording.retention_days} days")


@recordings.command("hold")
@click.argument("ident", type=int)
@click.option("--session", "by_session", is_flag=True,
              help="IDENT is a session: hold all of its recordings.")
@click.option("--release", is_flag=True, help="Release the hold instead.")
@click.option("--reason", help="Why (case reference); kept in the audit log.")
@pass_state
def hold(state: CliState, ident: int, by_session: bool, release: bool, reason: str | None) -> None:
    """Place (or release) a legal hold: the purge skips held recordings."""
    with state.bastion() as core:
        service = RecordingService(core)
        ids = recordings_of_session(service, ident) if by_session else [ident]
        if not ids:
            fail(f"session {ident} has no recordings")
        try:
            changed = set_legal_hold(service, ids, hold=not release, actor=cli_actor(), reason=reason)
        except RecordingError as exc:
            fail(str(exc))
    state_word = "released" if release else "placed"
    for recording_id in ids:
        note = "" if recording_id in changed else " (unchanged)"
        click.echo(f"recording {recording_id}: hold {state_word}{note}")

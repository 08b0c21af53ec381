"""The database side of recordings: one ``recordings`` row per recorded channel, its seal
(final hash, size, chunk count) in the row and in the audit log, its commands indexed,
and every read, export and verification audited.

:class:`RecordingService` is what the proxy holds (one per process): ``start()`` a
recording per channel, await its writer methods, ``close()`` it. Everything that touches
storage or the database runs in worker threads.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Iterator
from concurrent.futures import Executor
from dataclasses import dataclass, replace
from datetime import timedelta
from functools import cached_property, partial
from itertools import chain
from typing import Any, BinaryIO, TextIO, TypeVar

from sqlalchemy import delete, false, func, or_, select
from sqlalchemy.orm import Session

from bastion.audit import Actor
from bastion.audit.service import signer_of, verifier_of
from bastion.audit.signing import CheckpointVerifier
from bastion.context import Bastion
from bastion.models import AuditEvent, RecordedCommand, Recording, SshSession, utcnow

from .budget import Limits, OutputBudget
from .commands import Command, extract_commands
from .encryption import new_data_key, unwrap_data_key, wrap_data_key
from .errors import RecordingCorrupted, RecordingError, RecordingNotFound
from .events import Event, TerminalInfo
from .export import export_recording, write_raw
from .integrity import VerifyReport, verify_file
from .reader import Expected, RecordingReader
from .recorder import SessionRecorder, shared_executor
from .recorder_link import RecorderLink
from .s3_storage import storage_from_settings
from .seal import SEAL_ACTIONS, audit_contradictions, sign_seal, signature_problem
from .storage import Storage
from .writer import RecordingWriter, SealResult, new_storage_key

log = logging.getLogger("bastion.recording")

SEALED_ACTIONS = tuple(SEAL_ACTIONS)
T = TypeVar("T")


@dataclass(frozen=True)
class InterruptedRecording:
    recording_id: int
    session_id: int
    report: VerifyReport


def session_audit_fields(session_row: SshSession | None) -> dict[str, Any]:
    if session_row is None:
        return {}
    return {
        "technician": session_row.technician.ident if session_row.technician else None,
        "target": session_row.target.name if session_row.target else None,
        "account": session_row.account_name,
        "session_id": session_row.id,
    }


def expected_for(recording: Recording) -> Expected:
    """What the catalog row says the file holds (nothing yet for a live recording)."""
    if recording.status == "sealed":
        return Expected(recording.chunk_count, recording.final_hash, sealed=True)
    if recording.status == "interrupted":
        return Expected(recording.chunk_count, recording.final_hash, sealed=False)
    return Expected()


class RecordingService:
    def __init__(
        self,
        core: Bastion,
        storage: Storage | None = None,
        *,
        limits: Limits | None = None,
        executor: Executor | None = None,
        index_on_close: bool = True,
        recorder_link: RecorderLink | None = None,
    ) -> None:
        """``index_on_close``: extract and index commands when a recording closes (in a
        worker thread; ``close()`` waits for it). Off: call :meth:`index_commands` later.
        ``recorder_link``: recordings are written by that recorder process (started, on the
        event loop recordings are started from) instead of this process's threads."""
        self.core = core
        self.recorder_link = recorder_link
        self.index_on_close = index_on_close
        # [recording] storage picks the backend: a local folder or an S3 bucket (issue 9).
        self.storage = storage or storage_from_settings(core.settings)
        settings = core.settings.recording
        self.limits = limits or Limits.from_megabytes(settings.session_budget_mb)
        self.chunk_bytes = settings.chunk_kib * 1024
        self.executor = executor or shared_executor()
        # The audit log's cached key loader: seals are signed with the audit signing key.
        self._signer = core.audit.signer or partial(signer_of, core)

    # --- recording a session ----------------------------------------------------------

    def new_budget(self, scope: str = "connection", spent_bytes: int = 0) -> OutputBudget:
        """The budget the recordings of one session (or one grant) share."""
        return OutputBudget(self.limits, scope=scope, spent_bytes=spent_bytes)

    def output_of_grant(self, grant_id: int) -> int:
        """Output bytes the closed recordings of a grant's sessions hold (what its earlier
        connections drew on their budget)."""
        with self.core.db.session() as session:
            return int(session.scalar(
                select(func.coalesce(func.sum(Recording.output_bytes), 0))
                .join(SshSession, SshSession.id == Recording.session_id)
                .where(SshSession.grant_id == grant_id, Recording.status != "open")) or 0)

    async def start(
        self, session_id: int, channel: str, terminal: TerminalInfo | None = None,
        budget: OutputBudget | None = None,
    ) -> SessionRecorder:
        """Create the catalog row and the file, audited; return the recorder to await."""
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(
            self.executor, partial(self.start_blocking, session_id, channel, terminal, budget)
        )

    def start_blocking(
        self, session_id: int, channel: str, terminal: TerminalInfo | None = None,
        budget: OutputBudget | None = None,
    ) -> SessionRecorder:
        """``start`` for callers outside an event loop (the recorder still needs one)."""
        storage_key = new_storage_key(session_id, channel)
        data_key = new_data_key()
        keys = self.core.keys
        with self.core.db.session() as session:
            session_row = session.get(SshSession, session_id)
            if session_row is None:
                raise RecordingError(f"no session {session_id} to record")
            recording = Recording(
                session_id=session_id,
                channel=channel,
                storage_key=storage_key,
                status="open",
                wrapped_key=wrap_data_key(keys.master_key, data_key, storage_key),
                master_key_id=keys.master_key_id,
            )
            session.add(recording)
            session.flush()
            self.core.audit.append(
                session,
                action="recording.started",
                outcome="ok",
                details={"recording_id": recording.id, "channel": channel, "storage_key": storage_key},
                **session_audit_fields(session_row),
            )
            # The file is created inside the transaction: if it cannot be, no row claims a
            # recording that does not exist, and the caller must refuse the session.
            remote = self._in_recorder_process(terminal)
            create = (self.recorder_link.create_writer if remote  # type: ignore[union-attr]
                      else RecordingWriter.create)
            writer = create(
                self.storage,
                storage_key,
                data_key,
                terminal,
                chunk_bytes=self.chunk_bytes,
                metadata={"session_id": session_id, "channel": channel, "recording_id": recording.id},
            )
            recording_id = recording.id
        recorder = SessionRecorder(
            writer,
            budget=budget or self.new_budget(),
            executor=self.executor,
            on_close=partial(self._finish, recording_id, remote=remote),
        )
        recorder.recording_id = recording_id
        return recorder

    def _in_recorder_process(self, terminal: TerminalInfo | None) -> bool:
        """Whether a new recording is written by the recorder process (config.py,
        ``terminals_in_worker``, says why a terminal's is not)."""
        if self.recorder_link is None:
            return False
        return terminal is None or not self.core.settings.recording.terminals_in_worker

    def _finish(self, recording_id: int, result: SealResult, *, remote: bool) -> None:
        """Store the seal in the catalog and the audit log, then index the commands.
        ``remote``: the recorder process wrote it (its state is then read from the file)."""
        with self.core.db.session() as session:
            recording = session.get(Recording, recording_id)
            if recording is None:
                raise RecordingNotFound(f"recording {recording_id} vanished from the catalog")
            if not result.sealed and remote:
                result = self._as_stored(recording, result)
            recording.chunk_count = result.chunk_count
            recording.size_bytes = result.size_bytes
            recording.output_bytes = result.output_bytes
            recording.final_hash = result.final_hash
            details = {
                "recording_id": recording_id,
                "storage_key": result.storage_key,
                "channel": recording.channel,
                "final_hash": result.final_hash,
                "chunk_count": result.chunk_count,
                "size_bytes": result.size_bytes,
                "output_bytes": result.output_bytes,
                "end_reason": result.end_reason,
            }
            if result.sealed:
                recording.status = "sealed"
                recording.sealed_at = utcnow()
                action, outcome = "recording.sealed", "ok"
            else:
                recording.status = "interrupted"
                details["error"] = result.error
                action, outcome = "recording.interrupted", "failed"
            sign_seal(recording, self._signer())
            self.core.audit.append(
                session, action=action, outcome=outcome, details=details,
                **session_audit_fields(recording.session),
            )
        if self.index_on_close:
            self._index_quietly(recording_id)

    def _as_stored(self, recording: Recording, result: SealResult) -> SealResult:
        """An unsealed recording's state is what its file verifies to: a recorder process
        that died mid-write may have stored a chunk it never confirmed, or part of one."""
        try:
            report = verify_file(self.storage, recording.storage_key, self.data_key(recording))
        except RecordingError:
            return result
        if report.chunks < result.chunk_count:  # damaged since: verification will say so
            return result
        return replace(result, chunk_count=report.chunks, final_hash=report.final_hash,
                       size_bytes=report.size_bytes, output_bytes=report.output_bytes)

    def _index_quietly(self, recording_id: int) -> None:
        # The seal is committed; a failure to index must not undo it, only be visible.
        try:
            self.index_commands(recording_id)
        except Exception:  # noqa: BLE001 - logged; the recording itself is safe
            log.exception("indexing the commands of recording %s failed", recording_id)

    # --- start-up ---------------------------------------------------------------------

    def mark_interrupted(self, *, with_workers: bool = False) -> list[InterruptedRecording]:
        """At start-up: open recordings whose session is gone (it ran on this node, which
        just started, or it is no longer live) become ``interrupted``, with the chunk
        count and hash of what verifies (or ``sealed`` if the file was sealed and only its
        catalog update was lost); their live sessions become ``interrupted``."""
        node = self.core.node
        done = []
        with self.core.db.session() as session:
            rows = session.execute(
                select(Recording.id)
                .join(SshSession, Recording.session_id == SshSession.id)
                .where(Recording.status == "open")
                .where(or_(SshSession.node == node, SshSession.status != "live",
                           # A supervisor's proxy workers are named node/w<slot>.<gen>.
                           SshSession.node.like(f"{node}/%") if with_workers else false()))
                .order_by(Recording.id)
            ).scalars().all()
        for recording_id in rows:
            done.append(self._mark_one_interrupted(recording_id))
            self._index_quietly(recording_id)
        return done

    def _mark_one_interrupted(self, recording_id: int) -> InterruptedRecording:
        with self.core.db.session() as session:
            recording = session.get(Recording, recording_id)
            assert recording is not None
            try:
                report = self._verify_row(recording)
            except RecordingError as exc:  # a key that does not open: still interrupted
                report = VerifyReport(False, 0, "", 0, 0, False, problem=str(exc))
            # Sealed on disk but never catalogued (the process died, or the database
            # failed, between the seal and its catalog update): it is complete.
            complete = report.ok and report.sealed
            recording.status = "sealed" if complete else "interrupted"
            if complete:
                recording.sealed_at = utcnow()
            recording.chunk_count = report.chunks
            recording.final_hash = report.final_hash or None
            recording.size_bytes = report.size_bytes
            recording.output_bytes = report.output_bytes
            sign_seal(recording, self._signer())
            session_row = recording.session
            if session_row.status == "live" and session_row.node == self.core.node:
                session_row.status = "interrupted"
                session_row.ended_at = utcnow()
                session_row.end_reason = (
                    "the bastion stopped during the session; the recording ends at its last "
                    "written chunk"
                )
            self.core.audit.append(
                session,
                action="recording.sealed" if complete else "recording.interrupted",
                outcome="ok" if report.ok or report.truncated else "failed",
                details={
                    "recording_id": recording_id,
                    "storage_key": recording.storage_key,
                    "channel": recording.channel,
                    "final_hash": report.final_hash,
                    "chunk_count": report.chunks,
                    "size_bytes": report.size_bytes,
                    "output_bytes": report.output_bytes,
                    "end_reason": None if complete else "bastion restarted",
                    "verification": report.describe(),
                },
                **session_audit_fields(session_row),
            )
            return InterruptedRecording(recording_id, session_row.id, report)

    # --- keys, verification, reading --------------------------------------------------

    def data_key(self, recording: Recording) -> bytes:
        keys = self.core.keys
        if recording.status == "purged" or not recording.wrapped_key:
            raise RecordingNotFound(f"recording {recording.id} was purged")
        if recording.master_key_id != keys.master_key_id:
            raise RecordingError(
                f"recording {recording.id} has its key wrapped by master key "
                f"{recording.master_key_id}; the current master key is {keys.master_key_id}"
            )
        return unwrap_data_key(keys.master_key, recording.wrapped_key, recording.storage_key)

    def _get(self, session: Session, recording_id: int) -> Recording:
        recording = session.get(Recording, recording_id)
        if recording is None:
            raise RecordingNotFound(f"no recording {recording_id}")
        if recording.status == "purged":
            raise RecordingNotFound(f"recording {recording_id} was purged on {recording.purged_at:%Y-%m-%d}")
        return recording

    def _verify_row(self, recording: Recording) -> VerifyReport:
        return verify_file(
            self.storage, recording.storage_key, self.data_key(recording), expected_for(recording)
        )

    def _seal_events(self, session: Session, recording: Recording) -> list[AuditEvent]:
        """Every seal or interruption event about this recording still in the audit log."""
        events = session.execute(
            select(AuditEvent)
            .where(AuditEvent.action.in_(SEALED_ACTIONS))
            .where(AuditEvent.session_id == recording.session_id)
            .order_by(AuditEvent.id)
        ).scalars()
        return [event for event in events if (event.details or {}).get("recording_id") == recording.id]

    def _seal_report(self, session: Session, recording: Recording, report: VerifyReport) -> VerifyReport:
        """The file matches its row: now check that the row is the one sealed, by its
        signature and by every audit event about it."""
        events = self._seal_events(session, recording)
        problems = audit_contradictions(recording, events)
        unsigned = signature_problem(recording, self._verifier)
        if unsigned is not None and recording.seal_signature:
            problems.insert(0, unsigned)
        elif unsigned is not None and not events:
            problems.insert(0, "the audit log has no seal event for this recording and its "
                               "catalog entry carries no signed seal")
        elif unsigned is not None:
            report = replace(report, notes=(*report.notes, "sealed before signed seals: "
                                            "checked against the audit log only"))
        elif not events:
            report = replace(report, notes=(*report.notes, "its seal event has left the audit "
                                            "log (retention); the signed seal vouches for it"))
        if problems:
            return _failed(report, "the catalog entry was altered: " + "; ".join(problems))
        return report

    @cached_property
    def _verifier(self) -> CheckpointVerifier:
        # Read once: `recordings verify --all` checks thousands of seals.
        return verifier_of(self.core)

    def verify(self, recording_id: int, actor: Actor | None = None) -> VerifyReport:
        """Verify against the catalog, its signed seal and the audit log; audited."""
        with self.core.db.session() as session:
            recording = self._get(session, recording_id)
            report = self._verify_row(recording)
            if report.ok and recording.status != "open":
                report = self._seal_report(session, recording, report)
            self.core.audit.append(
                session,
                action="recording.verified",
                outcome="ok" if report.ok else "failed",
                actor=actor,
                details={
                    "recording_id": recording_id,
                    "chunks": report.chunks,
                    "bad_chunk": report.bad_chunk,
                    "problem": report.problem,
                },
                **session_audit_fields(recording.session),
            )
            return report

    def open_reader(self, recording_id: int, actor: Actor, purpose: str = "replay",
                    reason: str | None = None) -> RecordingReader:
        """A verifying reader for replay (the console), audited before anything is read:
        who looked at what, and why when the viewer said (``reason``)."""
        with self.core.db.session() as session:
            recording = self._get(session, recording_id)
            self.core.audit.append(
                session, action="recording.viewed", outcome="ok", actor=actor,
                reasons=[reason] if reason else [],
                details={"recording_id": recording_id, "purpose": purpose, "reason": reason},
                **session_audit_fields(recording.session),
            )
            return RecordingReader(
                self.storage, recording.storage_key, self.data_key(recording), expected_for(recording)
            )

    def export(
        self, recording_id: int, out: TextIO, actor: Actor, *, destination: str = "-",
        include_input: bool = False, purpose: str | None = None,
    ) -> int:
        """Write the recording to ``out`` as asciicast v2, audited (ok or failed, who,
        where to). Raises RecordingCorrupted if it does not verify; ``out`` then holds a
        partial export the caller must discard."""
        return self._audited_export(
            recording_id, actor, {"destination": destination, "include_input": include_input,
                                  "purpose": purpose},
            lambda reader: export_recording(reader, out, include_input=include_input),
            lambda count: {"events": count})

    def export_raw(
        self, recording_id: int, stdout: BinaryIO, stderr: BinaryIO, actor: Actor, *,
        destination: str = "-", purpose: str | None = None,
    ) -> tuple[int, int]:
        """Write the exact stdout and stderr bytes to two files, audited like
        :meth:`export` (same failure contract). Returns their sizes."""
        return self._audited_export(
            recording_id, actor, {"destination": destination, "format": "raw", "purpose": purpose},
            lambda reader: write_raw(reader, stdout, stderr),
            lambda sizes: {"stdout_bytes": sizes[0], "stderr_bytes": sizes[1]})

    def _audited_export(self, recording_id: int, actor: Actor, details: dict[str, Any],
                        work: Callable[[RecordingReader], T],
                        outcome: Callable[[T], dict[str, Any]]) -> T:
        with self.core.db.session() as session:
            recording = self._get(session, recording_id)
            reader = RecordingReader(
                self.storage, recording.storage_key, self.data_key(recording), expected_for(recording)
            )
            fields = session_audit_fields(recording.session)
            details = {"recording_id": recording_id, **details, "final_hash": recording.final_hash}
        try:
            result = work(reader)
        except RecordingError as exc:
            with self.core.db.session() as session:
                self.core.audit.append(
                    session, action="recording.exported", outcome="failed", actor=actor,
                    details={**details, "problem": str(exc)}, **fields,
                )
            raise
        with self.core.db.session() as session:
            self.core.audit.append(
                session, action="recording.exported", outcome="ok", actor=actor,
                details={**details, **outcome(result)}, **fields,
            )
        return result

    # --- commands ---------------------------------------------------------------------

    def index_commands(self, recording_id: int) -> list[Command]:
        """(Re-)extract the recording's commands into ``recorded_commands``. A recording
        that fails verification is indexed up to its first bad chunk, then this raises."""
        with self.core.db.session() as session:
            recording = self._get(session, recording_id)
            reader = RecordingReader(
                self.storage, recording.storage_key, self.data_key(recording), expected_for(recording)
            )
            started_at, session_id = recording.started_at, recording.session_id
        problems: list[RecordingCorrupted] = []
        # Streamed, never held whole: a 300 MB transfer's events in a list kept the node's
        # memory 700 MB high after the session ended. The header (terminal size) is known
        # once the first event is read.
        events = _events_until_error(reader, problems)
        first = next(events, None)
        header = reader.header or {}
        commands = extract_commands(chain([first] if first is not None else [], events),
                                    header.get("width", 80), header.get("height", 24))
        with self.core.db.session() as session:
            session.execute(delete(RecordedCommand).where(RecordedCommand.recording_id == recording_id))
            for command in commands:
                row = RecordedCommand(
                    recording_id=recording_id,
                    session_id=session_id,
                    offset_seconds=command.offset_seconds,
                    at=started_at + timedelta(seconds=command.offset_seconds),
                    kind=command.kind,
                    exit_status=command.exit_status,
                )
                # What was typed names patients: sealed at rest, searchable by keyed hashes.
                self.core.traces.fill_command(session, row, command.text)
                session.add(row)
        if problems:
            raise problems[0]
        return commands


def _events_until_error(reader: RecordingReader, box: list[RecordingCorrupted]) -> Iterator[Event]:
    try:
        yield from reader.events()
    except RecordingCorrupted as exc:
        box.append(exc)


def _failed(report: VerifyReport, problem: str) -> VerifyReport:
    return replace(report, ok=False, problem=problem)

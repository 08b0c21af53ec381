"""Opening channels: each one is decided, audited, recorded, then relayed."""

from __future__ import annotations

import asyncio
import contextlib
from functools import partial
from typing import TYPE_CHECKING

import asyncssh

from bastion.contracts import ResolvedPath, TransferCommand, UncheckableTransfer, parse_transfer
from bastion.i18n import N_, Phrase
from bastion.recording import BudgetExceeded
from bastion.recording.budget import MIB

from . import messages
from .connection import ProxyConnection, Refusal
from .directory import GrantSnapshot
from .relay import ChannelRecorder, Volume, relay
from .sftp.relay import SftpRelay
from .transfer_paths import resolve_transfer
from .typed_commands import TypedCommands

if TYPE_CHECKING:
    from .service import ProxyService


def channel_kind(process: asyncssh.SSHServerProcess[bytes]) -> str:
    if process.subsystem:
        return process.subsystem
    return "exec" if process.command is not None else "shell"


class ChannelHandlers:
    def __init__(self, service: ProxyService) -> None:
        self.service = service
        self._stopping: set[asyncio.Task[str]] = set()
        self._telling: dict[ProxyConnection, asyncio.Future[None]] = {}

    async def handle_process(self, process: asyncssh.SSHServerProcess[bytes]) -> None:
        owner: ProxyConnection = process.get_extra_info("connection").get_owner()
        kind = channel_kind(process)
        owner.processes.add(process)
        recorder: ChannelRecorder | None = None
        volume: Volume | None = None  # set once bytes may move
        end_reason = f"{kind} ended"
        try:
            if process.subsystem and process.subsystem != "sftp":
                await owner.audit_channel("channel.refused", {"channel": kind}, outcome="denied")
                raise Refusal(owner.tr("the {kind} subsystem is not available through the bastion",
                                   kind=kind))
            owner.waiting_process = process
            grant = await owner.ensure_access(kind)
            if kind == "exec":
                await self._check_command(owner, process.command or "")
            for refused in getattr(process, "refused_requests", []):
                _tell(process, owner.tr("bastion: {request} is refused: the bastion never "
                                        "relays it to a target", request=refused))
                await owner.audit_channel("channel.request_refused",
                                          {"channel": kind, "request": refused}, outcome="denied")
            upstream = await owner.ensure_upstream()
            if kind == "exec":
                await self._check_transfer(owner, upstream, process.command or "")
            terminal = None
            if process.get_terminal_type():
                width, height, _, _ = process.get_terminal_size()
                terminal = (process.get_terminal_type(), width, height)
            # No recording, no relay: a recording that cannot start refuses the channel.
            recorder = await self.service.recordings.open(owner, kind, process.command, terminal)
            recorder.on_failure(partial(self._recording_failed, owner, kind))
            await owner.audit_channel("channel.opened", {"channel": kind,
                                                         "command": process.command})
            if not owner.notice_shown and process.get_terminal_type():
                await self._show_notice(owner, process, recorder)
            if kind == "sftp":
                await self._relay_sftp(owner, process, upstream, recorder, grant)
                process.exit(0)
                return
            volume = Volume()
            status, signal = await relay(process, upstream, recorder, owner.touch, volume,
                                         self._typed_commands(owner, process, recorder, kind))
            await recorder.marker("exit", {"status": status,
                                           "signal": signal[0] if signal else None})
            await self._audit_closed(owner, process, kind, volume, status)
            volume = None
            end_reason = f"{kind} ended with status {status}"
            if signal:
                process.exit_with_signal(signal[0], signal[1], signal[2], signal[3])
            else:
                process.exit(status if status is not None else 255)
        except Refusal as refusal:
            end_reason = f"refused: {refusal}"
            _tell(process, owner.tr("bastion: {line}", line=str(refusal)))
            process.exit(1)
        except self.service.recordings.failure_types as failure:
            end_reason = await self._stop_unrecordable(owner, kind, failure, volume)
        except (asyncssh.Error, OSError) as exc:
            end_reason = owner.closing_reason or f"connection error: {exc}"
            _tell(process, owner.tr("bastion: the connection to {target} failed: {error}",
                                    target=owner.target_name, error=exc))
            process.exit(255)
        finally:
            owner.processes.discard(process)
            if volume is not None:
                # The channel ended otherwise than by its command's exit: the bytes it moved
                # still count in the transfer volumes.
                with contextlib.suppress(Exception):
                    await self._audit_closed(owner, process, kind, volume, None)
            if recorder is not None:
                # Sealing never raises for a storage failure; the end reason goes in the
                # recording itself (a budget overrun, a revocation, a normal exit).
                with contextlib.suppress(Exception):
                    await recorder.close(owner.closing_reason or end_reason)

    def _recording_failed(self, owner: ProxyConnection, kind: str, failure: Exception) -> None:
        # Not waiting for the relay to trip on it: an idle shell would stay open, its
        # recording dead, until the target said something.
        task = asyncio.get_running_loop().create_task(
            self._stop_unrecordable(owner, kind, failure, None))
        self._stopping.add(task)  # held until done: the loop keeps only weak references
        task.add_done_callback(self._stopping.discard)

    async def _stop_unrecordable(self, owner: ProxyConnection, kind: str,
                                 failure: Exception, volume: Volume | None) -> str:
        """Output that cannot be recorded ends the whole connection, every channel of it,
        now: audited first (the decision), then the technician is told in one line why
        (a spent budget, or the recording storage) and everything is closed. Once: the
        other channels of a connection already closing stop with it, not again."""
        if owner.closing_reason is not None:
            # Another channel (or the recorder's death) is already ending it: wait until
            # the technician has been told, or this channel's close would cut the line.
            telling = self._telling.get(owner)
            if telling is not None:
                await asyncio.shield(telling)
            return owner.closing_reason
        telling = self._telling[owner] = asyncio.get_running_loop().create_future()
        try:
            return await self._end_unrecordable(owner, kind, failure, volume)
        finally:
            del self._telling[owner]
            telling.set_result(None)

    async def _end_unrecordable(self, owner: ProxyConnection, kind: str,
                                failure: Exception, volume: Volume | None) -> str:
        budget = isinstance(failure, BudgetExceeded)
        reason = (f"output budget spent ({failure.scope})" if isinstance(failure, BudgetExceeded)
                  else f"recording stopped: {failure}")
        owner.closing_reason = reason  # before the audit's await: a second failure sees it
        details: dict[str, object] = {"channel": kind, "error": str(failure),
                                      **(volume.details() if volume else {})}
        if isinstance(failure, BudgetExceeded):
            details.update(budget_bytes=failure.budget_bytes, scope=failure.scope)
            line = owner.tr(messages.BUDGET_SPENT[failure.scope],
                            mb=failure.budget_bytes // MIB)
        else:
            line = owner.tr(messages.RECORDING_FAILED)
        try:
            await owner.audit_channel("recording.budget_spent" if budget else "recording.failed",
                                      details, outcome="denied" if budget else "error")
        finally:
            owner.terminate(reason, line)  # even if the audit log cannot be written
        return reason

    async def _audit_closed(self, owner: ProxyConnection,
                            process: asyncssh.SSHServerProcess[bytes], kind: str, volume: Volume,
                            status: int | None) -> None:
        await owner.audit_channel("channel.closed", {"channel": kind, "exit_status": status,
                                                     "command": process.command,
                                                     **volume.details()})

    async def _show_notice(self, owner: ProxyConnection,
                           process: asyncssh.SSHServerProcess[bytes],
                           recorder: ChannelRecorder) -> None:
        """A terminal session starts by telling the technician it is recorded, and why
        (every login was also told by the authentication banner). The notice is terminal
        output like any other: recorded before it is shown."""
        owner.notice_shown = True
        settings = self.service.core.settings
        _ = owner.tr
        # The hospital's own wording (ssh.notice_fr / notice_en) replaces the catalogue's.
        own = settings.ssh.notice_fr if _.language == "fr" else settings.ssh.notice_en
        assert owner.grant is not None and owner.policy is not None
        values = {"target": owner.target_name, "account": owner.grant.account,
                  "until": _.when(owner.deadline or owner.grant.not_after,
                                  settings.web.time_zone),
                  "contract": owner.policy.constraints.contract_reference}
        text = own.format(**values) if own else _(messages.RECORDING_NOTICE, **values)
        line = f"{text}\r\n".encode()
        await recorder.output(line)
        process.stdout.write(line)
        await recorder.marker("notice", {"language": _.language, "text": text})
        await owner.audit_channel("session.notice_shown", {"language": _.language, "text": text})

    async def _check_command(self, owner: ProxyConnection, command: str) -> None:
        """Exec commands (scp -O and rsync included) pass the contract's command rules."""
        assert owner.policy is not None
        verdict = owner.policy.command(command)
        if verdict.action == "deny":
            await owner.audit_channel("command.refused", {"command": command,
                                                          "rule": verdict.pattern,
                                                          "reason": verdict.rule_reason},
                                      outcome="denied")
            # The reason is the contract's own words, as its author wrote them.
            raise Refusal(owner.tr("command refused: {reason}", reason=verdict.rule_reason))
        if verdict.action == "flag":
            await owner.audit_channel("command.flagged", {"command": command,
                                                          "rule": verdict.pattern,
                                                          "reason": verdict.rule_reason},
                                      outcome="allowed")

    async def _check_transfer(self, owner: ProxyConnection, upstream: asyncssh.SSHClientConnection,
                              command: str) -> None:
        """scp -O and rsync run over exec: they must not reach what SFTP would refuse."""
        assert owner.policy is not None
        transfer = parse_transfer(command)
        if transfer is None:
            return
        paths: list[ResolvedPath] = []
        if isinstance(transfer, TransferCommand) and owner.policy.path_rules_apply():
            try:
                paths = await resolve_transfer(upstream, transfer)
            except (asyncssh.Error, OSError, TimeoutError) as exc:
                error = " ".join(str(exc).split()) or type(exc).__name__
                why = Phrase.of(N_("its paths could not be resolved on the target ({error})"),
                                error=error)
                transfer = UncheckableTransfer(transfer.tool, why.english(), why)
        verdict = owner.policy.transfer(transfer, paths)
        details = {"command": command, "tool": transfer.tool, "reason": verdict.reason,
                   "paths": [p.candidates[-1] for p in paths]}
        if not verdict.allowed:
            await owner.audit_channel("transfer.refused", details, outcome="denied")
            raise Refusal(owner.policy.said(verdict) or verdict.reason)
        await owner.audit_channel("transfer.allowed", details, outcome="allowed")

    def _typed_commands(self, owner: ProxyConnection, process: asyncssh.SSHServerProcess[bytes],
                        recorder: ChannelRecorder, kind: str) -> TypedCommands | None:
        """On a terminal (a shell, or an exec with ``ssh -t``), lines typed pass the
        contract's command rules too. Nothing to follow when the grant has no rule."""
        policy = owner.policy
        if process.get_terminal_type() is None or policy is None \
                or not policy.constraints.command_rules:
            return None

        async def report(action: str, details: dict[str, object], outcome: str) -> None:
            reason = str(details.get("reason") or "")
            try:
                await recorder.marker("policy", {"decision": action, **details})
                await owner.audit_channel(action, details, outcome=outcome, reasons=[reason])
            except Exception as exc:
                # Fail closed: a decision that cannot be recorded ends the session rather
                # than leave it running unaudited (or stuck with its keys held back).
                owner.closing_reason = f"a command decision could not be recorded: {exc}"
                owner.terminate(Phrase(messages.COMMAND_NOT_RECORDED))
                raise

        width, height, _, _ = process.get_terminal_size()
        return TypedCommands(policy.command, report, kind, width, height)

    async def _relay_sftp(self, owner: ProxyConnection, process: asyncssh.SSHServerProcess[bytes],
                          upstream: asyncssh.SSHClientConnection, recorder: ChannelRecorder,
                          grant: GrantSnapshot) -> None:
        back = await upstream.create_process(subsystem="sftp", encoding=None)

        async def event(action: str, details: dict[str, object], outcome: str) -> None:
            owner.touch()
            await recorder.marker(action, {**details, "outcome": outcome})
            if action != "sftp.operation" or outcome != "ok":
                await owner.audit_channel(action, details, outcome=outcome)

        try:
            assert owner.policy is not None
            await SftpRelay(process.stdin, process.stdout, process.stderr, back,
                            owner.policy, event).run()
        finally:
            back.close()


def _tell(process: asyncssh.SSHServerProcess[bytes], line: str) -> None:
    with contextlib.suppress(Exception):
        process.stderr.write(f"{line}\r\n".encode())

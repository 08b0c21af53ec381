"""Holding a technician's channel while their access request waits for an approver, or
their emergency on health data for an on-call approver's acknowledgement."""

from __future__ import annotations

import asyncio
import contextlib
import time
from typing import TYPE_CHECKING

import asyncssh

from bastion.approvals import cancel_request, get_request
from bastion.audit import Actor
from bastion.breakglass import AcknowledgementAsked, acknowledgement_state, give_up
from bastion.i18n.catalogue import Translator

if TYPE_CHECKING:
    from .connection import ProxyConnection

POLL_SECONDS = 1.0
PROGRESS_SECONDS = 5.0
CTRL_C = b"\x03"


class RequestNotApproved(Exception):
    """The request ended without a grant; ``str()`` is the technician's line."""


def _elapsed(seconds: float) -> str:
    return f"{int(seconds // 60)}:{int(seconds % 60):02d}"


async def _watch_for_ctrl_c(process: asyncssh.SSHServerProcess[bytes], pressed: asyncio.Event) -> None:
    """On a terminal, Ctrl-C arrives as a byte, not a signal: it cancels the request."""
    while not pressed.is_set():
        try:
            data = await process.stdin.read(1024)
        except (asyncssh.TerminalSizeChanged, asyncssh.BreakReceived, asyncssh.SignalReceived):
            continue
        if not data or CTRL_C in data:
            pressed.set()
            return


class _Waiting:
    """What every wait of a technician's channel shares: on a terminal, Ctrl-C cancels it
    and a progress line is redrawn every few seconds; the caller polls once a second."""

    def __init__(self, owner: ProxyConnection,
                 process: asyncssh.SSHServerProcess[bytes] | None) -> None:
        self._owner, self._process = owner, process
        self._terminal = process is not None and bool(process.get_terminal_type())
        self._pressed = asyncio.Event()
        self._watcher: asyncio.Task[None] | None = None
        self.started = self._last_progress = time.monotonic()

    async def __aenter__(self) -> _Waiting:
        if self._terminal:
            assert self._process is not None
            self._watcher = asyncio.create_task(_watch_for_ctrl_c(self._process, self._pressed))
        return self

    async def __aexit__(self, *_exc: object) -> None:
        if self._watcher is not None:
            self._watcher.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._watcher

    @property
    def cancelled(self) -> bool:
        return self._pressed.is_set()

    @property
    def elapsed(self) -> float:
        return time.monotonic() - self.started

    def progress(self, line: str) -> None:
        if self._terminal and time.monotonic() - self._last_progress >= PROGRESS_SECONDS:
            self._last_progress = time.monotonic()
            self._owner.say(self._process, end="\r")(line)

    async def pause(self) -> None:
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._pressed.wait(), POLL_SECONDS)


async def wait_for_approval(owner: ProxyConnection, request_id: int,
                            process: asyncssh.SSHServerProcess[bytes] | None) -> None:
    """Return once the request is approved; raise RequestNotApproved otherwise."""
    core = owner.core
    limit = core.settings.ssh.approval_wait_minutes * 60
    say = owner.say(process)
    _ = owner.tr
    say(_("bastion: request {request} is waiting for approval by the hospital's IT "
          "(up to {minutes} min; Ctrl-C cancels it).", request=request_id, minutes=limit // 60))
    actor = Actor(f"technician:{owner.technician}", "technician")
    async with _Waiting(owner, process) as waiting:
        while True:
            request = await owner.service.call(get_request, core, request_id)
            if request.status == "approved":
                say(_("bastion: request {request} approved: connecting to {target}.",
                      request=request_id, target=owner.target_name))
                return
            if request.status != "pending":
                raise RequestNotApproved(_ended(request_id, request.status, request, _))
            if waiting.cancelled or waiting.elapsed >= limit:
                why = ("cancelled by the technician" if waiting.cancelled else
                       f"no answer within {limit // 60} min")
                with contextlib.suppress(Exception):
                    await owner.service.call(cancel_request, core, request_id, actor=actor,
                                             reason=why)
                raise RequestNotApproved(
                    _("request {request} cancelled by the technician: it is cancelled.",
                      request=request_id) if waiting.cancelled else
                    _("request {request} got no answer within {minutes} min: it is cancelled.",
                      request=request_id, minutes=limit // 60))
            waiting.progress(_("  waiting for approval: {elapsed}",
                               elapsed=_elapsed(waiting.elapsed)))
            await waiting.pause()


def _ended(request_id: int, status: str, request: object, _: Translator) -> str:
    if status == "denied":
        reviews = [r for r in getattr(request, "reviews", ()) if getattr(r, "decision", "") == "deny"]
        why = reviews[-1].reason if reviews and getattr(reviews[-1], "reason", None) else None
        # The approver's reason is shown as they wrote it.
        return (_("request {request} was denied: {why}", request=request_id, why=why) if why
                else _("request {request} was denied.", request=request_id))
    if status == "expired":
        return _("request {request} expired: nobody answered in time.", request=request_id)
    return _("request {request} was {status}.", request=request_id, status=status)


async def wait_for_acknowledgement(owner: ProxyConnection, asked: AcknowledgementAsked,
                                   process: asyncssh.SSHServerProcess[bytes] | None) -> None:
    """Return once an on-call approver acknowledged the emergency; raise RequestNotApproved
    (after ending it, audited) when its time is up or the technician cancels it."""
    core = owner.core
    _ = owner.tr
    actor = Actor(f"technician:{owner.technician}", "technician")
    async with _Waiting(owner, process) as waiting:
        while True:
            state, late = await owner.service.call(acknowledgement_state, core,
                                                   asked.request_id)
            if state == "approved":
                return
            if state != "acknowledging":
                raise RequestNotApproved(_("emergency {request} was {status}.",
                                           request=asked.request_id, status=state))
            if waiting.cancelled or late:
                why = ("cancelled by the technician" if waiting.cancelled else
                       "no on-call approver acknowledged it in time")
                ended = await owner.service.call(give_up, core, asked.request_id, why=why,
                                                 actor=actor)
                if ended:
                    raise RequestNotApproved(
                        _("emergency {request} refused: cancelled by the technician.",
                          request=asked.request_id) if waiting.cancelled else
                        _("emergency {request} refused: no on-call approver acknowledged it in "
                          "time; call the hospital's IT on-call line.", request=asked.request_id))
                continue  # acknowledged at the last moment
            waiting.progress(_("  waiting for an on-call approver: {elapsed}",
                               elapsed=_elapsed(waiting.elapsed)))
            await waiting.pause()

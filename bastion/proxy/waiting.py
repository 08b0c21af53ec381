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


async def wait_for_approval(owner: ProxyConnection, request_id: int,
                            process: asyncssh.SSHServerProcess[bytes] | None) -> None:
    """Return once the request is approved; raise RequestNotApproved otherwise."""
    core = owner.core
    limit = core.settings.ssh.approval_wait_minutes * 60
    started = time.monotonic()
    say = owner.say(process)
    say(f"bastion: request {request_id} is waiting for approval by the hospital's IT "
        f"(up to {limit // 60} min; Ctrl-C cancels it).")
    cancelled = asyncio.Event()
    watcher = None
    if process is not None and process.get_terminal_type():
        watcher = asyncio.create_task(_watch_for_ctrl_c(process, cancelled))
    last_progress = started
    actor = Actor(f"technician:{owner.technician}", "technician")
    try:
        while True:
            request = await owner.service.call(get_request, core, request_id)
            if request.status == "approved":
                say(f"bastion: request {request_id} approved: connecting to {owner.target_name}.")
                return
            if request.status != "pending":
                raise RequestNotApproved(_ended(request_id, request.status, request))
            waited = time.monotonic() - started
            if cancelled.is_set() or waited >= limit:
                why = ("cancelled by the technician" if cancelled.is_set() else
                       f"no answer within {limit // 60} min")
                with contextlib.suppress(Exception):
                    await owner.service.call(cancel_request, core, request_id, actor=actor,
                                             reason=why)
                raise RequestNotApproved(f"request {request_id} {why}: it is cancelled.")
            if process is not None and process.get_terminal_type() and \
                    time.monotonic() - last_progress >= PROGRESS_SECONDS:
                last_progress = time.monotonic()
                owner.say(process, end="\r")(f"  waiting for approval: {_elapsed(waited)}")
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(cancelled.wait(), POLL_SECONDS)
    finally:
        if watcher is not None:
            watcher.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await watcher


def _ended(request_id: int, status: str, request: object) -> str:
    if status == "denied":
        reviews = [r for r in getattr(request, "reviews", ()) if getattr(r, "decision", "") == "deny"]
        why = reviews[-1].reason if reviews and getattr(reviews[-1], "reason", None) else None
        return f"request {request_id} was denied" + (f": {why}" if why else ".")
    if status == "expired":
        return f"request {request_id} expired: nobody answered in time."
    return f"request {request_id} was {status}."


async def wait_for_acknowledgement(owner: ProxyConnection, asked: AcknowledgementAsked,
                                   process: asyncssh.SSHServerProcess[bytes] | None) -> None:
    """Return once an on-call approver acknowledged the emergency; raise RequestNotApproved
    (after ending it, audited) when its time is up or the technician cancels it."""
    core = owner.core
    cancelled = asyncio.Event()
    watcher = None
    if process is not None and process.get_terminal_type():
        watcher = asyncio.create_task(_watch_for_ctrl_c(process, cancelled))
    started = last_progress = time.monotonic()
    actor = Actor(f"technician:{owner.technician}", "technician")
    try:
        while True:
            state, late = await owner.service.call(acknowledgement_state, core,
                                                   asked.request_id)
            if state == "approved":
                return
            if state != "acknowledging":
                raise RequestNotApproved(f"emergency {asked.request_id} was {state}.")
            if cancelled.is_set() or late:
                why = ("cancelled by the technician" if cancelled.is_set() else
                       "no on-call approver acknowledged it in time")
                ended = await owner.service.call(give_up, core, asked.request_id, why=why,
                                                 actor=actor)
                if ended:
                    raise RequestNotApproved(
                        f"emergency {asked.request_id} refused: {why}; call the hospital's "
                        "IT on-call line.")
                continue  # acknowledged at the last moment
            if process is not None and process.get_terminal_type() and \
                    time.monotonic() - last_progress >= PROGRESS_SECONDS:
                last_progress = time.monotonic()
                owner.say(process, end="\r")(
                    f"  waiting for an on-call approver: {_elapsed(time.monotonic() - started)}")
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(cancelled.wait(), POLL_SECONDS)
    finally:
        if watcher is not None:
            watcher.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await watcher

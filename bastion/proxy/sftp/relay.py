"""The SFTP relay: client packets are parsed, checked against the grant's SFTP rules,
forwarded with request ids of our own, and answered; the client's pipelining is kept.

Paths are checked as the target resolves them (``realpath`` asked of the target itself),
so ``..`` and symbolic links cannot walk out of an allowed folder.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import posixpath
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any, Protocol

import asyncssh

from . import packets as p
from .paths import resolve

PATH_OPERATIONS = {
    p.LSTAT: "stat", p.STAT: "stat", p.READLINK: "stat",
    p.OPENDIR: "list", p.SETSTAT: "setstat", p.REMOVE: "remove", p.MKDIR: "mkdir",
    p.RMDIR: "rmdir",
}
# Operations that change the target, audited one by one (reads and stats are in the recording).
MUTATIONS = {"setstat", "remove", "mkdir", "rmdir", "rename", "symlink", "hardlink"}
MAX_REORDER_BYTES = 8 * 1024 * 1024


class SftpPolicy(Protocol):
    def check(self, operation: str, path: str) -> str | None:
        """``None`` if allowed, else the reason for refusing."""


@dataclass
class Transfer:
    """One open file: what moved through it, and its SHA-256 when it moved whole, in order."""

    path: str
    writing: bool
    reading: bool
    is_dir: bool = False
    bytes: int = 0
    next_offset: int = 0
    contiguous: bool = True
    reached_eof: bool = False
    digest: Any = field(default_factory=hashlib.sha256)
    pending: dict[int, bytes] = field(default_factory=dict)
    pending_bytes: int = 0

    def account(self, offset: int, data: p.Buffer) -> None:
        self.bytes += len(data)
        if not self.contiguous:
            return
        if offset == self.next_offset:
            self.digest.update(data)
            self.next_offset += len(data)
            while self.next_offset in self.pending:
                chunk = self.pending.pop(self.next_offset)
                self.pending_bytes -= len(chunk)
                self.digest.update(chunk)
                self.next_offset += len(chunk)
        elif offset > self.next_offset and self.pending_bytes + len(data) <= MAX_REORDER_BYTES:
            self.pending[offset] = bytes(data)  # not a view: it would hold its whole read
            self.pending_bytes += len(data)
        else:
            self.contiguous = False
            self.pending.clear()

    def sha256(self) -> str | None:
        whole = self.contiguous and not self.pending and self.next_offset == self.bytes
        if self.reading and not self.writing:
            whole = whole and self.reached_eof
        return self.digest.hexdigest() if whole and self.bytes else None


@dataclass
class Pending:
    client_id: int
    request: p.Request
    path: str | None = None
    transfer: Transfer | None = None


Events = Callable[[str, dict[str, Any], str], Awaitable[None]]


class SftpRelay:
    def __init__(self, front_in: asyncssh.SSHReader[bytes], front_out: asyncssh.SSHWriter[bytes],
                 front_err: asyncssh.SSHWriter[bytes], back: asyncssh.SSHClientProcess[bytes],
                 policy: SftpPolicy, event: Events) -> None:
        self.front_in, self.front_out, self.front_err = front_in, front_out, front_err
        self.back = back
        self.policy = policy
        self.event = event  # (action, details, outcome): recorded and, for decisions, audited
        self.pending: dict[int, Pending | asyncio.Future[p.Response]] = {}
        self.handles: dict[bytes, Transfer] = {}
        self._next_id = 1
        self.home = "/"
        self._write_lock = asyncio.Lock()
        # The refusal line last written on stderr. A client retrying one path (scp stats it
        # twice, then opens it) shows the technician one line, not three; every refusal is
        # still answered and audited.
        self._last_said: str | None = None

    def _new_id(self) -> int:
        self._next_id = (self._next_id + 1) & 0xFFFFFFFF
        return self._next_id

    async def _to_client(self, data: bytes) -> None:
        async with self._write_lock:
            self.front_out.write(data)
            await self.front_out.drain()

    async def _to_target(self, data: bytes) -> None:
        self.back.stdin.write(data)
        await self.back.stdin.drain()

    # --- start-up: version exchange and the account's home, for relative paths ----------

    async def _read_packet(self, reader: asyncssh.SSHReader[bytes], buffer: p.FrameBuffer,
                           queue: list[p.Buffer]) -> p.Buffer | None:
        while not queue:
            data = await reader.read(65536)
            if not data:
                return None
            queue.extend(buffer.feed(data))
        return queue.pop(0)

    async def run(self) -> None:
        client_buffer, client_queue = p.FrameBuffer(), []
        target_buffer, target_queue = p.FrameBuffer(), []
        init = await self._read_packet(self.front_in, client_buffer, client_queue)
        if init is None or init[0] != p.INIT:
            raise p.MalformedPacket("the client did not start with SFTP INIT")
        await self._to_target(p.frame(init))
        version = await self._read_packet(self.back.stdout, target_buffer, target_queue)
        if version is None or version[0] != p.VERSION:
            raise p.MalformedPacket("the target did not answer SFTP INIT with VERSION")
        probe_id = self._new_id()
        await self._to_target(p.build_packet(p.REALPATH, probe_id, p.pack_string(b".")))
        answer = await self._read_packet(self.back.stdout, target_buffer, target_queue)
        if answer is not None:
            response = p.parse_response(answer)
            if response.kind == p.NAME and response.names:
                self.home = response.names[0].decode("utf-8", "surrogateescape")
        await self._to_client(p.frame(version))
        upward = asyncio.create_task(self._client_loop(client_buffer, client_queue))
        downward = asyncio.create_task(self._target_loop(target_buffer, target_queue))
        try:
            done, _ = await asyncio.wait({upward, downward}, return_when=asyncio.FIRST_COMPLETED)
            if upward in done and upward.exception() is None:
                # The client is done: let the answers to its last requests come back.
                self.back.stdin.write_eof()
                await downward
            for task in done:
                task.result()
        finally:
            for task in (upward, downward):
                task.cancel()
                with contextlib.suppress(asyncio.CancelledError, Exception):
                    await task
            for transfer in list(self.handles.values()):
                await self._finish(transfer, closed=False)

    # --- client -> target ----------------------------------------------------------------

    async def _client_loop(self, buffer: p.FrameBuffer, queue: list[p.Buffer]) -> None:
        while True:
            packet = await self._read_packet(self.front_in, buffer, queue)
            if packet is None:
                return
            try:
                request = p.parse_request(packet)
            except p.MalformedPacket as exc:
                await self.event("sftp.malformed", {"error": str(exc)}, "denied")
                if len(packet) >= 5:
                    await self._to_client(p.build_status(int.from_bytes(packet[1:5], "big"),
                                                         p.FX_BAD_MESSAGE, f"bastion: {exc}"))
                    continue
                raise
            await self._handle_request(request)

    async def _handle_request(self, request: p.Request) -> None:
        pending = Pending(request.request_id, request)
        refusal = await self._decide(request, pending)
        if refusal is not None:
            code, reason = refusal
            if reason != self._last_said:
                self.front_err.write(f"bastion: {reason}\r\n".encode())
                self._last_said = reason
            await self._to_client(p.build_status(request.request_id, code, f"bastion: {reason}"))
            return
        if request.kind != p.REALPATH:  # something else happened: the next refusal is news
            self._last_said = None
        if request.kind == p.WRITE and pending.transfer is not None:
            pending.transfer.account(request.offset, request.data)
        upstream_id = self._new_id()
        self.pending[upstream_id] = pending
        await self._to_target(p.build_packet(request.kind, upstream_id, request.body))

    async def _ask(self, kind: int, body: bytes) -> p.Response:
        future: asyncio.Future[p.Response] = asyncio.get_running_loop().create_future()
        upstream_id = self._new_id()
        self.pending[upstream_id] = future
        await self._to_target(p.build_packet(kind, upstream_id, body))
        return await future

    async def _realpath(self, path: str) -> str | None:
        answer = await self._ask(p.REALPATH, p.pack_string(path.encode("utf-8", "surrogateescape")))
        if answer.kind == p.NAME and answer.names:
            return answer.names[0].decode("utf-8", "surrogateescape")
        return None

    async def _resolve(self, raw: bytes) -> list[str]:
        return await resolve(self._realpath, self.home, raw.decode("utf-8", "surrogateescape"))

    async def _check_paths(self, operation: str, raw: bytes) -> tuple[str, str | None]:
        paths = await self._resolve(raw)
        for path in paths:
            reason = self.policy.check(operation, path)
            if reason is not None:
                return paths[-1], reason
        return paths[-1], None

    async def _decide(self, request: p.Request, pending: Pending) -> tuple[int, str] | None:
        kind = request.kind
        operations: list[tuple[str, bytes]] = []
        if kind == p.OPEN:
            writing = bool(request.pflags & (p.FXF_WRITE | p.FXF_APPEND | p.FXF_CREAT | p.FXF_TRUNC))
            reading = bool(request.pflags & p.FXF_READ) or not writing
            if reading:
                operations.append(("open_read", request.paths[0]))
            if writing:
                operations.append(("open_write", request.paths[0]))
            pending.transfer = Transfer("", writing=writing, reading=reading)
        elif kind == p.REALPATH:
            # Canonicalising a path reveals no content, and every client needs it for its
            # working folder; what is then done with the path is checked.
            return None
        elif kind in PATH_OPERATIONS:
            operations.append((PATH_OPERATIONS[kind], request.paths[0]))
        elif kind == p.RENAME or request.extension == "posix-rename@openssh.com":
            operations += [("remove", request.paths[0]), ("open_write", request.paths[1])]
        elif kind == p.SYMLINK:
            # OpenSSH's sftp-server takes SYMLINK's arguments in (target, link) order, and a
            # relative target is read from the link's own folder, not from the home folder.
            target, link = request.paths
            if not target.startswith(b"/"):
                folder = posixpath.dirname(posixpath.join(self.home.encode("utf-8", "surrogateescape"),
                                                          link))
                target = posixpath.join(folder, target)
            operations += [("open_read", target), ("symlink", link)]
        elif request.extension == "hardlink@openssh.com":
            operations += [("open_read", request.paths[0]), ("symlink", request.paths[1])]
        elif kind == p.EXTENDED:
            if request.extension not in p.EXTENSION_PATHS:
                await self.event("sftp.refused", {"operation": request.extension,
                                                  "reason": "unsupported extension"}, "denied")
                return p.FX_OP_UNSUPPORTED, self.policy.tr(
                    "SFTP extension {extension} is not available", extension=request.extension)
            if request.extension in ("statvfs@openssh.com", "expand-path@openssh.com"):
                operations.append(("stat", request.paths[0]))
            elif request.extension == "lsetstat@openssh.com":
                operations.append(("setstat", request.paths[0]))
        elif request.handle is not None:
            transfer = self.handles.get(request.handle)
            pending.transfer = transfer
            if kind in (p.WRITE, p.FSETSTAT) and transfer is not None and not transfer.writing:
                return p.FX_PERMISSION_DENIED, f"{transfer.path} was opened read-only"
            return None
        resolved = None
        for operation, raw in operations:
            resolved, reason = await self._check_paths(operation, raw)
            if reason is not None:
                await self.event("sftp.refused", {"operation": operation, "path": resolved,
                                                  "reason": reason}, "denied")
                return p.FX_PERMISSION_DENIED, reason
        pending.path = resolved
        if pending.transfer is not None and resolved is not None:
            pending.transfer.path = resolved
        name = operations[0][0] if operations else "request"
        if name in MUTATIONS or (kind in (p.RENAME, p.SYMLINK)):
            details = {"operation": "rename" if kind == p.RENAME else name,
                       "paths": [r.decode("utf-8", "surrogateescape") for r in request.paths]}
            await self.event("sftp.operation", details, "allowed")
        return None

    # --- target -> client ----------------------------------------------------------------

    async def _target_loop(self, buffer: p.FrameBuffer, queue: list[p.Buffer]) -> None:
        while True:
            packet = await self._read_packet(self.back.stdout, buffer, queue)
            if packet is None:
                return
            response = p.parse_response(packet)
            waiting = self.pending.pop(response.request_id, None)
            if waiting is None:
                raise p.MalformedPacket(f"the target answered unknown request {response.request_id}")
            if isinstance(waiting, asyncio.Future):
                waiting.set_result(response)
                continue
            body = response.body
            if waiting.request.kind == p.READDIR and response.kind == p.NAME:
                body = await self._visible_entries(waiting, response.body)
                if body is None:
                    # Every entry was hidden: an empty reply would end the client's listing,
                    # so ask the target for the next batch instead.
                    upstream_id = self._new_id()
                    self.pending[upstream_id] = waiting
                    await self._to_target(p.build_packet(p.READDIR, upstream_id,
                                                          waiting.request.body))
                    continue
            await self._observe(waiting, response)
            await self._to_client(p.build_packet(response.kind, waiting.client_id, body))

    async def _visible_entries(self, pending: Pending, body: p.Buffer) -> bytes | None:
        """A listing shows only what the technician may reach: entries the rules refuse are
        left out (their names alone can be personal data). ``None``: nothing left."""
        folder = pending.transfer.path if pending.transfer is not None else ""
        entries = p.parse_names(body)
        visible = []
        for entry in entries:
            name = entry.filename.decode("utf-8", "surrogateescape")
            path = posixpath.normpath(posixpath.join(folder, name)) if folder else ""
            if "/" not in name and self.policy.check("stat", path) is None:
                visible.append(entry)
        if len(visible) < len(entries):
            await self.event("sftp.hidden", {"operation": "list", "path": folder,
                                             "hidden": len(entries) - len(visible),
                                             "reason": "entries outside the contract's paths "
                                                       "are not listed"}, "denied")
        if not visible and entries:
            return None
        return p.build_names_body(visible)

    async def _observe(self, pending: Pending, response: p.Response) -> None:
        request = pending.request
        if request.kind in (p.OPEN, p.OPENDIR) and response.kind == p.HANDLE:
            transfer = pending.transfer or Transfer(pending.path or "", False, True, is_dir=True)
            self.handles[response.handle] = transfer  # type: ignore[index]
        elif request.kind == p.READ and pending.transfer is not None:
            if response.kind == p.DATA:
                pending.transfer.account(request.offset, response.data)
            elif response.status == p.FX_EOF:
                pending.transfer.reached_eof = True
        elif request.kind == p.CLOSE and request.handle in self.handles:
            await self._finish(self.handles.pop(request.handle), closed=response.status == p.FX_OK)

    async def _finish(self, transfer: Transfer, *, closed: bool) -> None:
        if transfer.is_dir:
            return
        direction = "upload" if transfer.writing else "download"
        details = {"operation": direction, "path": transfer.path, "bytes": transfer.bytes,
                   "sha256": transfer.sha256(), "closed": closed}
        await self.event("sftp.transfer", details, "ok")

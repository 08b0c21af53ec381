"""An exec transfer's paths (scp -O, rsync) as the target resolves them, for the engine.

They are asked of the target over an SFTP session of the bastion's own, as the SFTP relay
asks them: the same ``realpath`` answers, so scp and rsync reach exactly what SFTP would. A
folder that is sent is walked (scp -r follows symbolic links, rsync -L too), every path below
it resolved, up to a bound past which the engine refuses rather than guesses.
"""

from __future__ import annotations

import asyncio
import posixpath
import stat

import asyncssh

from bastion.contracts import ResolvedPath, TransferCommand

from .sftp.paths import RealPath, resolve

MAX_ENTRIES_BELOW = 10_000
RESOLVE_TIMEOUT_SECONDS = 60


async def resolve_transfer(upstream: asyncssh.SSHClientConnection,
                           transfer: TransferCommand) -> list[ResolvedPath]:
    """Raises ``asyncssh.Error``, ``OSError`` or ``TimeoutError`` when the target cannot be
    asked: the caller refuses the transfer then."""
    async with asyncio.timeout(RESOLVE_TIMEOUT_SECONDS):
        async with upstream.start_sftp_client(path_errors="surrogateescape") as sftp:
            return await _resolve_all(sftp, transfer)


async def _resolve_all(sftp: asyncssh.SFTPClient, transfer: TransferCommand) -> list[ResolvedPath]:
    async def realpath(path: str) -> str | None:
        try:
            return str(await sftp.realpath(path))
        except asyncssh.SFTPError:
            return None

    home = await realpath(".")
    if home is None:
        raise asyncssh.SFTPFailure("the target did not tell the account's home folder")
    resolved = []
    for typed in transfer.paths:
        candidates = await resolve(realpath, home, typed)
        real = candidates[-1]
        folder = await sftp.isdir(real)
        below: list[str] = []
        complete = True
        if folder and transfer.direction == "download":
            complete = await _walk(sftp, realpath, real, below)
        resolved.append(ResolvedPath(typed, tuple(candidates), folder, tuple(below), complete))
    return resolved


async def _walk(sftp: asyncssh.SFTPClient, realpath: RealPath, folder: str,
                found: list[str]) -> bool:
    """Every path below ``folder`` into ``found``, symbolic links with where they lead;
    ``False`` if there were more than ``MAX_ENTRIES_BELOW``."""
    seen = {folder}
    stack = [folder]
    while stack:
        current = stack.pop()
        try:
            entries = [entry async for entry in sftp.scandir(current)]
        except asyncssh.SFTPError:
            continue  # unreadable: scp and rsync cannot send it either
        for entry in entries:
            name = str(entry.filename)
            if name in (".", ".."):
                continue
            path = posixpath.join(current, name)
            found.append(path)
            mode = entry.attrs.permissions or 0
            inner = path if stat.S_ISDIR(mode) else None
            if stat.S_ISLNK(mode):
                real = await realpath(path)
                if real is not None:
                    found.append(real)
                    inner = real if await sftp.isdir(real) else None
            if inner is not None and inner not in seen:
                seen.add(inner)
                stack.append(inner)
            if len(found) > MAX_ENTRIES_BELOW:
                return False
    return True

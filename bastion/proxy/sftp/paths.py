"""Paths as the target resolves them: shared by the SFTP relay and the exec transfer check.

A path is checked as typed (made absolute) and as the target's own ``realpath`` resolves it,
so ``..`` and symbolic links cannot walk out of an allowed folder. A path that does not
exist yet (an upload) is resolved through its folder.
"""

from __future__ import annotations

import posixpath
from collections.abc import Awaitable, Callable

RealPath = Callable[[str], Awaitable[str | None]]


async def resolve(realpath: RealPath, home: str, path: str) -> list[str]:
    """``path`` (relative ones from ``home``) as typed and as the target resolves it, last."""
    lexical = posixpath.normpath(posixpath.join(home, path))
    candidates = [lexical]
    real = await realpath(path)
    if real is not None:
        candidates.append(real)
    else:
        parent, name = posixpath.split(lexical)
        folder = await realpath(parent)
        if folder is not None:
            candidates.append(posixpath.join(folder, name))
    return list(dict.fromkeys(candidates))

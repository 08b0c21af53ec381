"""Paths as the target resolves them: shared by the SFTP relay and the exec transfer check.

A path is checked as typed (made absolute) and as the target's own ``realpath`` resolves it,
so ``..`` and symbolic links cannot walk out of an allowed folder. A path that does not
exist yet (an upload) is resolved through the nearest folder that does.
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
        # Not there yet (an upload, rsync --mkpath): resolve the nearest folder that exists,
        # so a symbolic link higher up cannot lead the new path elsewhere.
        head, missing = lexical, []
        while head not in ("/", ""):
            head, name = posixpath.split(head)
            missing.insert(0, name)
            folder = await realpath(head)
            if folder is not None:
                candidates.append(posixpath.join(folder, *missing))
                break
    return list(dict.fromkeys(candidates))

"""How a path is resolved for the checks (the relay's and the exec transfers' shared
helper), with a table of what the target's realpath answers."""

from __future__ import annotations

import asyncio

import pytest

from bastion.proxy.sftp.paths import resolve

# The target's file system as its realpath sees it: existing paths and where links lead.
EXISTING = {"/home/maint": "/home/maint", "/srv": "/srv", "/srv/in": "/srv/in",
            "/srv/in/link": "/etc", "/srv/in/app.log": "/srv/in/app.log", "/": "/",
            "/home": "/home"}


async def realpath(path: str) -> str | None:
    full = path if path.startswith("/") else f"/home/maint/{path}"
    return EXISTING.get(full.rstrip("/") or "/")


@pytest.mark.parametrize(("path", "candidates"), [
    ("/srv/in/app.log", ["/srv/in/app.log"]),
    ("app.log", ["/home/maint/app.log"]),
    ("/srv/in/new.tar", ["/srv/in/new.tar"]),
    ("/srv/in/link", ["/srv/in/link", "/etc"]),
    # Not there yet, below a link: resolved through the nearest folder that exists.
    ("/srv/in/link/shadow", ["/srv/in/link/shadow", "/etc/shadow"]),
    ("/srv/in/link/a/b/c", ["/srv/in/link/a/b/c", "/etc/a/b/c"]),
    ("/srv/in/../in/link/x", ["/srv/in/link/x", "/etc/x"]),
])
def test_resolve(path: str, candidates: list[str]) -> None:
    assert asyncio.run(resolve(realpath, "/home/maint", path)) == candidates

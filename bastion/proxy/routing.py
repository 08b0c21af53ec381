"""The SSH user name carries the route: ``<technician>+<target>[+<account>]``.

``+`` survives ``ssh``, ``scp``, ``sftp`` and ``rsync -e ssh`` unchanged, unlike ``@`` or
``:`` which those tools parse themselves.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

_PART = re.compile(r"^[a-z0-9][a-z0-9._-]{0,99}$")


@dataclass(frozen=True)
class Route:
    technician: str
    target: str
    account: str | None


class RouteError(ValueError):
    pass


def parse_route(username: str) -> Route:
    parts = username.split("+")
    if len(parts) not in (2, 3) or not all(_PART.match(part) for part in parts):
        raise RouteError(
            "log in as <technician>+<target>[+<account>], e.g. jdupont+dpi-app-01"
        )
    return Route(parts[0], parts[1], parts[2] if len(parts) == 3 else None)

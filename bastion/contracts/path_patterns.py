"""The contracts' path patterns (``channels.sftp.allow`` / ``deny``) and how they match.

Pure. ``*`` and ``?`` stay within one folder; ``**`` crosses folders, and ``/dir/**`` also
matches ``/dir`` itself so a client can open the folder it may read. Extensions (a name's
end from its last dot, e.g. ``.pem``) match whatever their case: ``/**/*.pem`` written to
keep certificates out must also keep out ``KEY.PEM``. On a case-insensitive target the whole
pattern ignores case (``case_insensitive``), since ``/ETC/Shadow`` is then ``/etc/shadow``.
"""

from __future__ import annotations

import posixpath
import re
from collections.abc import Iterable
from functools import lru_cache

GLOB_CHARACTERS = "*?"


def normalise_path(path: str) -> str | None:
    """The absolute path without ``.``, ``..`` nor doubled slashes; ``None`` if it is not
    absolute or holds a NUL (never matched: fail closed)."""
    if not path.startswith("/") or "\x00" in path:
        return None
    normal = posixpath.normpath(path)
    return "/" + normal.lstrip("/")  # normpath keeps a leading '//' as is


def _extension_spans(pattern: str) -> list[tuple[int, int]]:
    """(start, end) of each component's literal extension: from the last dot of a name that
    has something before the dot and no glob character after it."""
    spans = []
    start = 0
    for component in pattern.split("/"):
        dot = component.rfind(".")
        extension = component[dot + 1:] if dot > 0 else ""
        if extension and not any(c in extension for c in GLOB_CHARACTERS):
            spans.append((start + dot, start + len(component)))
        start += len(component) + 1
    return spans


@lru_cache(maxsize=1024)
def glob_regex(pattern: str, case_insensitive: bool = False) -> re.Pattern[str]:
    out = []
    extensions = dict(_extension_spans(pattern))
    i = 0
    while i < len(pattern):
        if i in extensions:
            out.append(f"(?i:{re.escape(pattern[i:extensions[i]])})")
            i = extensions[i]
        elif pattern.startswith("/**", i) and (i + 3 == len(pattern) or pattern[i + 3] == "/"):
            out.append("(?:/.*)?" if i + 3 == len(pattern) else "(?:/.*)?(?=/)")
            i += 3
        elif pattern.startswith("**", i):
            out.append(".*")
            i += 2
        elif pattern[i] == "*":
            out.append("[^/]*")
            i += 1
        elif pattern[i] == "?":
            out.append("[^/]")
            i += 1
        else:
            out.append(re.escape(pattern[i]))
            i += 1
    return re.compile("".join(out), re.DOTALL | (re.IGNORECASE if case_insensitive else 0))


def matches(patterns: Iterable[str], path: str, case_insensitive: bool = False) -> str | None:
    """The first pattern matching the (normalised) path, if any."""
    return next((p for p in patterns if glob_regex(p, case_insensitive).fullmatch(path)), None)


def covers_everything_below(allow: Iterable[str], folder: str,
                            case_insensitive: bool = False) -> bool:
    """Whether every path below ``folder`` is allowed whatever its name: some pattern is
    ``PREFIX/**`` with ``PREFIX`` matching the folder or one of its parents. Used when the
    names are chosen after the check (an scp or rsync upload into a folder)."""
    ancestors = [folder]
    while ancestors[-1] not in ("/", ""):
        ancestors.append(posixpath.dirname(ancestors[-1]))
    ancestors = ["" if a == "/" else a for a in ancestors]
    for pattern in allow:
        if not pattern.endswith("/**"):
            continue
        prefix = glob_regex(pattern[:-3], case_insensitive)
        if any(prefix.fullmatch(a) for a in ancestors):
            return True
    return False


def may_match_below(patterns: Iterable[str], folder: str, case_insensitive: bool = False) -> bool:
    """Whether some pattern could match a path strictly below ``folder``. Conservative: a
    component holding ``**`` is assumed to match anything from there on."""
    parts = [] if folder == "/" else folder.split("/")[1:]
    for pattern in patterns:
        components = pattern.split("/")[1:]
        for k, part in enumerate(parts):
            if k >= len(components):
                break
            if "**" in components[k]:
                return True
            if not glob_regex(components[k], case_insensitive).fullmatch(part):
                break
        else:
            if len(components) > len(parts):
                return True
    return False

"""Checks of single operations inside an allowed session, against the grant's constraints.

Pure, like the engine. Anything not understood is refused: an unknown SFTP operation, a
relative or odd path, a command rule that no longer compiles.
"""

from __future__ import annotations

import posixpath
import re
from dataclasses import dataclass
from datetime import datetime
from functools import lru_cache

from .constraints import Constraints

READ_OPERATIONS = frozenset({"open_read", "list", "stat", "lstat", "readlink"})
WRITE_OPERATIONS = frozenset({"open_write", "remove", "rename", "mkdir", "rmdir", "setstat",
                              "symlink", "link"})
# The OpenSSH sftp client resolves its working folder at start and gives up without it;
# the answer is a path name, not file content.
ALWAYS_READABLE = frozenset({"realpath"})


@dataclass(frozen=True)
class OperationVerdict:
    allowed: bool
    reason: str


@dataclass(frozen=True)
class CommandVerdict:
    action: str  # allow | deny | flag
    rule_reason: str | None
    pattern: str | None = None


def check_time(constraints: Constraints, now: datetime) -> OperationVerdict:
    if now < constraints.not_before:
        return OperationVerdict(False, f"access starts at {constraints.not_before.isoformat()}")
    if now >= constraints.latest_end:
        return OperationVerdict(False, f"access ended at {constraints.latest_end.isoformat()}")
    return OperationVerdict(True, f"access valid until {constraints.latest_end.isoformat()}")


def check_channel(constraints: Constraints, channel: str) -> OperationVerdict:
    if channel in constraints.channels:
        return OperationVerdict(True, f"channel {channel} allowed")
    return OperationVerdict(False, f"channel {channel} is not allowed by contract "
                                   f"{constraints.contract_reference}")


def check_sftp(constraints: Constraints, operation: str, path: str,
               target_path: str | None = None) -> OperationVerdict:
    """``target_path`` is the second path of ``rename``, ``symlink`` and ``link``; both must
    be allowed. Paths must be absolute: the proxy resolves relative ones first."""
    rules = constraints.sftp
    ref = constraints.contract_reference
    if "sftp" not in constraints.channels or rules.access == "none":
        return OperationVerdict(False, f"SFTP is not allowed by contract {ref}")
    if operation in ALWAYS_READABLE:
        return OperationVerdict(True, f"{operation} allowed")
    if operation in WRITE_OPERATIONS:
        if rules.access != "read-write":
            return OperationVerdict(False, f"{operation} refused: contract {ref} allows SFTP "
                                           "read only")
    elif operation not in READ_OPERATIONS:
        return OperationVerdict(False, f"unknown SFTP operation {operation!r} refused")
    for candidate in (path, target_path) if target_path is not None else (path,):
        verdict = _check_path(rules.allow, rules.deny, candidate, ref)
        if not verdict.allowed:
            return OperationVerdict(False, f"{operation} {verdict.reason}")
    return OperationVerdict(True, f"{operation} {path} allowed")


def _check_path(allow: tuple[str, ...], deny: tuple[str, ...], path: str,
                ref: str) -> OperationVerdict:
    normal = normalise_path(path)
    if normal is None:
        return OperationVerdict(False, f"{path!r} refused: not an absolute path")
    if any(glob_regex(p).fullmatch(normal) for p in deny):
        return OperationVerdict(False, f"{normal} refused: excluded by contract {ref}")
    if not any(glob_regex(p).fullmatch(normal) for p in allow):
        return OperationVerdict(False, f"{normal} refused: outside the paths of contract {ref}")
    return OperationVerdict(True, normal)


def normalise_path(path: str) -> str | None:
    if not path.startswith("/") or "\x00" in path:
        return None
    normal = posixpath.normpath(path)
    return "/" + normal.lstrip("/")  # normpath keeps a leading '//' as is


@lru_cache(maxsize=512)
def glob_regex(pattern: str) -> re.Pattern[str]:
    """``*`` and ``?`` stay within one folder; ``**`` crosses folders, and ``/dir/**`` also
    matches ``/dir`` itself so a client can open the folder it may read."""
    out = []
    i = 0
    while i < len(pattern):
        if pattern.startswith("/**", i) and (i + 3 == len(pattern) or pattern[i + 3] == "/"):
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
    return re.compile("".join(out), re.DOTALL)


def check_forward(constraints: Constraints, host: str, port: int) -> OperationVerdict:
    ref = constraints.contract_reference
    if "forward" not in constraints.channels:
        return OperationVerdict(False, f"forwarding is not allowed by contract {ref}")
    if (host.strip("[]").lower(), port) in constraints.forwards:
        return OperationVerdict(True, f"forward to {host}:{port} allowed")
    return OperationVerdict(False, f"forward to {host}:{port} is not allowed by contract {ref}")


def check_command(constraints: Constraints, command: str) -> CommandVerdict:
    """A deny rule wins over a flag rule. Each rule is also tried on the command with
    quotes and backslashes removed, so ``p''g_dump`` or ``pg\\_dump`` do not slip past a
    rule written for ``pg_dump``. Rules are a safeguard, not the control: the recording is."""
    variants = (command, re.sub(r"['\"\\]", "", command))
    flagged: CommandVerdict | None = None
    for rule in constraints.command_rules:
        try:
            regex = _rule_regex(rule.pattern, rule.case_sensitive)
        except re.error:
            return CommandVerdict("deny", f"command rule {rule.pattern!r} is broken; refused",
                                  rule.pattern)
        if not any(regex.search(text) for text in variants):
            continue
        if rule.action == "deny":
            return CommandVerdict("deny", rule.reason, rule.pattern)
        if rule.action != "flag":
            return CommandVerdict("deny", f"unknown rule action {rule.action!r}; refused",
                                  rule.pattern)
        flagged = flagged or CommandVerdict("flag", rule.reason, rule.pattern)
    return flagged or CommandVerdict("allow", None)


@lru_cache(maxsize=512)
def _rule_regex(pattern: str, case_sensitive: bool) -> re.Pattern[str]:
    return re.compile(pattern, 0 if case_sensitive else re.IGNORECASE)

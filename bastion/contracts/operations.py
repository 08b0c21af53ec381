"""Checks of single operations inside an allowed session, against the grant's constraints.

Pure, like the engine. Anything not understood is refused: an unknown SFTP operation, a
relative or odd path, a command rule that no longer compiles.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from functools import lru_cache

from bastion.i18n.marker import N_, Phrase

from .constraints import Constraints, SftpRules
from .path_patterns import covers_everything_below, matches, may_match_below, normalise_path
from .transfer_commands import TransferCommand, UncheckableTransfer

READ_OPERATIONS = frozenset({"open_read", "list", "stat", "lstat", "readlink"})
WRITE_OPERATIONS = frozenset({"open_write", "remove", "rename", "mkdir", "rmdir", "setstat",
                              "symlink", "link"})
# The OpenSSH sftp client resolves its working folder at start and gives up without it;
# the answer is a path name, not file content.
ALWAYS_READABLE = frozenset({"realpath"})


@dataclass(frozen=True)
class OperationVerdict:
    allowed: bool
    reason: str  # English, for the audit trail
    phrase: Phrase | None = None  # a refusal's line for the technician, translated at the edge


def _refused(message: str, **params: object) -> OperationVerdict:
    phrase = Phrase.of(message, **params)
    return OperationVerdict(False, phrase.english(), phrase)


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
    return _refused(N_("channel {channel} is not allowed by contract {contract}"),
                    channel=channel, contract=constraints.contract_reference)


def check_sftp(constraints: Constraints, operation: str, path: str,
               target_path: str | None = None) -> OperationVerdict:
    """``target_path`` is the second path of ``rename``, ``symlink`` and ``link``; both must
    be allowed. Paths must be absolute: the proxy resolves relative ones first."""
    rules = constraints.sftp
    ref = constraints.contract_reference
    if "sftp" not in constraints.channels or rules.access == "none":
        return _refused(N_("SFTP is not allowed by contract {contract}"), contract=ref)
    if operation in ALWAYS_READABLE:
        return OperationVerdict(True, f"{operation} allowed")
    if operation in WRITE_OPERATIONS:
        if rules.access != "read-write":
            return _refused(N_("{operation} refused: contract {contract} allows SFTP read only"),
                            operation=operation, contract=ref)
    elif operation not in READ_OPERATIONS:
        return _refused(N_("unknown SFTP operation {operation} refused"),
                        operation=repr(operation))
    for candidate in (path, target_path) if target_path is not None else (path,):
        verdict = _check_path(rules, candidate, ref)
        if not verdict.allowed:
            return _refused(N_("{operation} {reason}"), operation=operation,
                            reason=verdict.phrase)
    return OperationVerdict(True, f"{operation} {path} allowed")


def _check_path(rules: SftpRules, path: str, ref: str) -> OperationVerdict:
    normal = normalise_path(path)
    if normal is None:
        return _refused(N_("{path} refused: not an absolute path"), path=repr(path))
    if matches(rules.deny, normal, rules.case_insensitive):
        return _refused(N_("{path} refused: excluded by contract {contract}"), path=normal,
                        contract=ref)
    if not matches(rules.allow, normal, rules.case_insensitive):
        return _refused(N_("{path} refused: outside the paths of contract {contract}"),
                        path=normal, contract=ref)
    return OperationVerdict(True, normal)


@dataclass(frozen=True)
class ResolvedPath:
    """One path of an scp or rsync transfer, as the target resolves it."""

    typed: str
    candidates: tuple[str, ...]  # absolute: as typed, and as the target's realpath says
    folder: bool = False  # an existing folder
    below: tuple[str, ...] = ()  # for a folder sent: every path found below it, resolved
    complete: bool = True  # False: too many entries below it to list them all


def path_rules_apply(constraints: Constraints) -> bool:
    """Whether exec transfers (scp -O, rsync) must pass the SFTP path rules: they are file
    transfers, and may not reach what SFTP would refuse."""
    return constraints.sftp.access != "none"


def check_transfer(constraints: Constraints, transfer: TransferCommand | UncheckableTransfer,
                   paths: Sequence[ResolvedPath]) -> OperationVerdict:
    """An exec command that runs scp or rsync as a server, against the SFTP path rules."""
    rules = constraints.sftp
    ref = constraints.contract_reference
    tool = transfer.tool
    if not path_rules_apply(constraints):
        return OperationVerdict(True, f"{tool} allowed: contract {ref} sets no file path rules")
    if isinstance(transfer, UncheckableTransfer):
        return _refused(N_("{tool} refused: {reason}, and contract {contract} limits file "
                           "paths; use sftp instead"),
                        tool=tool, reason=transfer.phrase or transfer.reason, contract=ref)
    writes = transfer.direction == "upload" or transfer.changes_sources
    if writes and rules.access != "read-write":
        return _refused(N_("{tool} upload refused: contract {contract} allows file transfers "
                           "read only") if transfer.direction == "upload" else
                        N_("{tool} download refused: contract {contract} allows file "
                           "transfers read only"), tool=tool, contract=ref)
    if not paths or len(paths) != len(transfer.paths):
        return _refused(N_("{tool} refused: its paths were not resolved on the target; try "
                           "again or use sftp"), tool=tool)
    for path in paths:
        for candidate in path.candidates:
            verdict = _check_path(rules, candidate, ref)
            if not verdict.allowed:
                return _refused(N_("{operation} {reason}"), operation=tool,
                                reason=verdict.phrase)
        resolved = path.candidates[-1]
        if transfer.direction == "download" and path.folder:
            if not path.complete:
                return _refused(N_("{tool} refused: too many files below {folder} to check "
                                   "them all; fetch a smaller folder or use sftp"),
                                tool=tool, folder=resolved)
            for inside in path.below:
                verdict = _check_path(rules, inside, ref)
                if not verdict.allowed:
                    return _refused(N_("{tool} {reason} (inside {folder}); fetch the allowed "
                                       "files by name or use sftp"),
                                    tool=tool, reason=verdict.phrase, folder=resolved)
        into_folder = path.folder or transfer.recursive or path.typed.endswith("/")
        if transfer.direction == "upload" and into_folder:
            # The client names the files only once the transfer runs: every name below the
            # folder must be allowed, whatever it is.
            if (not covers_everything_below(rules.allow, resolved, rules.case_insensitive)
                    or may_match_below(rules.deny, resolved, rules.case_insensitive)):
                return _refused(N_("{tool} upload into {folder} refused: contract {contract} "
                                   "does not allow every name below it; upload with sftp, "
                                   "which checks each file"),
                                tool=tool, folder=resolved, contract=ref)
    listed = ", ".join(p.candidates[-1] for p in paths)
    return OperationVerdict(True, f"{tool} {transfer.direction} of {listed} allowed")


def check_forward(constraints: Constraints, host: str, port: int) -> OperationVerdict:
    ref = constraints.contract_reference
    if "forward" not in constraints.channels:
        return _refused(N_("forwarding is not allowed by contract {contract}"), contract=ref)
    if (host.strip("[]").lower(), port) in constraints.forwards:
        return OperationVerdict(True, f"forward to {host}:{port} allowed")
    return _refused(N_("forward to {host}:{port} is not allowed by contract {contract}"),
                    host=host, port=port, contract=ref)


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

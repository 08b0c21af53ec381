"""Exec commands that are file transfers: what ``scp -O`` and ``rsync`` run on the server.

``scp -O`` (the legacy protocol) runs ``scp [-r] [-p] [-d] -f|-t [--] PATH...`` and
``rsync`` runs ``rsync --server [--sender] -FLAGS[e.CAPS] [--long-option...] . PATH...``.
Both go through the target account's shell, which would expand ``$(...)``, globs and
``~user``: a command line we cannot read exactly as that shell will is refused (with the
reason), never guessed. Pure: no I/O.
"""

from __future__ import annotations

import posixpath
import re
import shlex
from dataclasses import dataclass

from bastion.i18n.marker import N_, Phrase

SCP_FLAGS = frozenset("rpdvqft")
# Letters rsync puts in its server flag cluster that name no path. Absent: 's'
# (--secluded-args: the paths then travel inside the protocol, unseen) and 'K'
# (--keep-dirlinks: the receiver would write through links to folders it was sent).
RSYNC_FLAGS = frozenset("vqcbunlLkHpAXogDtUNOJWxSRrdmzyIEiCP8")
# rsync long options that carry no path (those naming folders, such as --backup-dir,
# --temp-dir, --link-dest or --files-from, are refused: they reach outside the paths).
RSYNC_LONG = frozenset({
    "server", "sender", "delete", "delete-before", "delete-during", "delete-after",
    "delete-delay", "delete-excluded", "partial", "inplace", "append", "append-verify",
    "size-only", "ignore-times", "ignore-existing", "existing", "numeric-ids", "safe-links",
    "munge-links", "copy-unsafe-links", "force", "ignore-errors", "delay-updates", "fuzzy",
    "compress-level", "compress-choice", "zc", "checksum-choice", "cc", "checksum-seed",
    "bwlimit", "timeout", "contimeout", "max-size", "min-size", "max-delete",
    "modify-window", "no-implied-dirs", "mkpath", "preallocate", "open-noatime",
    "fake-super", "super", "info", "debug", "msgs2stderr", "no-msgs2stderr", "stderr",
    "log-format", "out-format", "iconv", "ignore-missing-args", "new-compress",
    "old-compress", "use-qsort", "write-devices", "copy-devices", "usermap", "groupmap",
    "chown", "no-W", "no-whole-file", "whole-file", "omit-dir-times", "omit-link-times",
    "no-inc-recursive", "inc-recursive", "trust-sender", "remove-source-files",
    "delete-missing-args", "qsort", "atimes", "crtimes",
})
# rsync long options that change files on the side that sends them.
RSYNC_SOURCE_WRITES = frozenset({"remove-source-files"})
# Characters the target's shell would give a meaning of its own (substitution, redirection,
# several commands, globbing, comments): we cannot predict the paths it ends up using.
SHELL_SPECIALS = re.compile(r"[`$;&|<>(){}\n\r#*?\[\]!\\^]")
TRANSFER_TOOLS = ("scp", "rsync")


@dataclass(frozen=True)
class TransferCommand:
    """A transfer the bastion can check: which way, and the paths as the server will read
    them (relative ones from the account's home folder, where exec commands start)."""

    tool: str  # scp | rsync
    direction: str  # download | upload
    paths: tuple[str, ...]
    recursive: bool
    changes_sources: bool = False  # rsync --remove-source-files: a download that deletes


@dataclass(frozen=True)
class UncheckableTransfer:
    """A command that runs scp or rsync in a way the bastion cannot check."""

    tool: str
    reason: str  # English, for the audit trail
    phrase: Phrase | None = None  # the same, for the technician in the contract's language


def _uncheckable(tool: str, why: Phrase) -> UncheckableTransfer:
    return UncheckableTransfer(tool, why.english(), why)


def parse_transfer(command: str) -> TransferCommand | UncheckableTransfer | None:
    """The transfer ``command`` runs, or ``None`` if it is not an scp or rsync server."""
    tool = _transfer_tool(command)
    if tool is None:
        return None
    # Backslashes are how rsync escapes spaces; shlex reads them as the shell does.
    specials = SHELL_SPECIALS.findall(command.replace("\\ ", " "))
    if specials:
        return _uncheckable(tool, Phrase.of(N_("the character {character} would be "
                                               "interpreted by the server's shell"),
                                            character=repr(specials[0])))
    try:
        words = shlex.split(command)
    except ValueError as exc:
        return _uncheckable(tool, Phrase.of(N_("the command line cannot be read ({error})"),
                                            error=str(exc)))
    if not words or posixpath.basename(words[0]) != tool:
        return _uncheckable(tool, Phrase.of(N_("{tool} is run through another command"), tool=tool))
    parse = _parse_scp if tool == "scp" else _parse_rsync
    # A quoted '~' is a plain name to the shell, an unquoted one the home folder: with quotes
    # about, a path starting with '~' is ambiguous to us and refused.
    result = parse(words[1:], "'" in command or '"' in command)
    if isinstance(result, Phrase):
        return _uncheckable(tool, result)
    return result


def _transfer_tool(command: str) -> str | None:
    """Which tool, if the command would run scp or rsync as a server, even wrapped (``sudo
    rsync --server``, ``env X=1 scp -f``) or spelt with quotes that confuse shlex."""
    try:
        words = shlex.split(command)
    except ValueError:
        words = re.split(r"[\s'\"]+", command)
    names = [posixpath.basename(w) for w in words]
    if "rsync" in names and "--server" in words:
        return "rsync"
    if "scp" in names and any(re.fullmatch(r"-[a-zA-Z]*[ft][a-zA-Z]*", w) for w in words):
        return "scp"
    return None


def _home_relative(path: str, quoted: bool) -> str | None:
    """The path with the shell's ``~`` expanded as 'from the home folder'; ``None`` for
    ``~user`` (another account's home) or when quotes make the ``~`` ambiguous."""
    if path.startswith("~") and quoted:
        return None
    if path == "~":
        return "."
    if path.startswith("~/"):
        return path[2:] or "."
    if path.startswith("~"):
        return None
    return path


def _paths(words: list[str], quoted: bool) -> tuple[str, ...] | Phrase:
    out = []
    for word in words:
        if not word:
            return Phrase.of(N_("an empty path cannot be checked"))
        if word.startswith("-"):
            return Phrase.of(N_("the path {path} looks like an option"), path=repr(word))
        path = _home_relative(word, quoted)
        if path is None:
            return Phrase.of(N_("the path {path} may name another account's home"), path=repr(word))
        out.append(path)
    return tuple(out)


def _parse_scp(words: list[str], quoted: bool) -> TransferCommand | Phrase:
    flags: set[str] = set()
    index = 0
    while index < len(words) and words[index].startswith("-"):
        word = words[index]
        index += 1
        if word == "--":
            break
        unknown = set(word[1:]) - SCP_FLAGS
        if unknown or len(word) < 2:
            return Phrase.of(N_("scp option {option} cannot be checked"), option=word)
        flags |= set(word[1:])
    if ("f" in flags) == ("t" in flags):
        return Phrase.of(N_("scp must either send (-f) or receive (-t)"))
    paths = _paths(words[index:], quoted)
    if isinstance(paths, Phrase):
        return paths
    if not paths:
        return Phrase.of(N_("scp names no path"))
    download = "f" in flags
    if not download and len(paths) != 1:
        return Phrase.of(N_("scp -t takes one destination"))
    return TransferCommand("scp", "download" if download else "upload", paths,
                           recursive="r" in flags)


def _parse_rsync(words: list[str], quoted: bool) -> TransferCommand | Phrase:
    long_options: set[str] = set()
    flags = ""
    index = 0
    while index < len(words) and words[index].startswith("-"):
        word = words[index]
        index += 1
        if word.startswith("--"):
            name = word[2:].split("=", 1)[0]
            if name not in RSYNC_LONG:
                return Phrase.of(N_("rsync option --{option} cannot be checked"), option=name)
            long_options.add(name)
            continue
        letters, _, _capabilities = word[1:].partition("e")
        unknown = set(letters) - RSYNC_FLAGS
        if unknown:
            letter = sorted(unknown)[0]
            if letter == "s":
                return Phrase.of(N_("rsync --secluded-args (-s) sends the paths where they "
                                    "cannot be seen"))
            return Phrase.of(N_("rsync option -{option} cannot be checked"), option=letter)
        flags += letters
    if "server" not in long_options:
        return Phrase.of(N_("rsync runs as a server only with --server"))
    if index >= len(words) or words[index] != ".":
        return Phrase.of(N_("rsync's server arguments are not in the expected form"))
    paths = _paths(words[index + 1:], quoted)
    if isinstance(paths, Phrase):
        return paths
    if not paths:
        return Phrase.of(N_("rsync names no path"))
    download = "sender" in long_options
    if not download and len(paths) != 1:
        return Phrase.of(N_("rsync receives into one destination"))
    return TransferCommand("rsync", "download" if download else "upload", paths,
                           recursive="r" in flags,
                           changes_sources=download and bool(long_options & RSYNC_SOURCE_WRITES))

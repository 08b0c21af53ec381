"""The engine's decision on exec transfers (scp -O, rsync) against the SFTP path rules:
a table of transfers, their paths as the target resolved them, and the verdict."""

from __future__ import annotations

from typing import Any

import pytest

from bastion.contracts import (
    AccessQuery,
    Constraints,
    ResolvedPath,
    TransferCommand,
    UncheckableTransfer,
    check_transfer,
    decide,
)

from .conftest import APP, TUESDAY_10H, contract

READ = {"channels.sftp": {"access": "read", "allow": ["/srv/logs/**"], "deny": ["/**/*.pem"]}}
WRITE = {"channels.sftp": {"access": "read-write", "allow": ["/srv/logs/**", "/srv/in/**"],
                           "deny": ["/**/*.pem", "/srv/logs/private/**"]}}
INBOX = {"channels.sftp": {"access": "read-write", "allow": ["/srv/logs/**", "/srv/in/**"],
                           "deny": ["/srv/logs/private/**"]}}
NO_RULES = {"channels.sftp": {"access": "none"}}


def constraints(changes: dict[str, Any]) -> Constraints:
    decision = decide(contract(changes), AccessQuery("jdupont", APP, None, "request",
                                                     TUESDAY_10H))
    assert decision.constraints is not None, decision.reasons
    return decision.constraints


def get(*paths: str, recursive: bool = False) -> TransferCommand:
    return TransferCommand("scp", "download", paths, recursive)


def put(path: str, recursive: bool = False) -> TransferCommand:
    return TransferCommand("rsync", "upload", (path,), recursive)


def at(typed: str, *candidates: str, **more: Any) -> ResolvedPath:
    return ResolvedPath(typed, candidates or (typed,), **more)


CASES = [
    # (rules, transfer, resolved paths, allowed, words in the reason)
    (READ, get("/srv/logs/app.log"), [at("/srv/logs/app.log")], True, "download of /srv/logs/app.log"),
    (READ, get("/etc/shadow"), [at("/etc/shadow")], False, "/etc/shadow refused: outside the paths"),
    (READ, get("/srv/logs/x.PEM"), [at("/srv/logs/x.PEM")], False, "excluded by contract"),
    (READ, get("/srv/logs/link"), [at("/srv/logs/link", "/srv/logs/link", "/etc/shadow")], False,
     "/etc/shadow refused"),
    (READ, get("a", "b"), [at("a", "/srv/logs/a"), at("b", "/srv/b")], False, "/srv/b refused"),
    (READ, get("/srv/logs", recursive=True),
     [at("/srv/logs", folder=True, below=("/srv/logs/a.log", "/srv/logs/k/x.pem"))], False,
     "x.pem refused: excluded by contract ACME-1 (inside /srv/logs)"),
    (READ, get("/srv/logs", recursive=True),
     [at("/srv/logs", folder=True, below=("/srv/logs/a.log", "/srv/logs/b.log"))], True,
     "allowed"),
    (READ, get("/srv/logs", recursive=True), [at("/srv/logs", folder=True, complete=False)],
     False, "too many files below /srv/logs"),
    (READ, put("/srv/logs/new.log"), [at("/srv/logs/new.log")], False, "read only"),
    (READ, TransferCommand("rsync", "download", ("/srv/logs/a",), False, changes_sources=True),
     [at("/srv/logs/a")], False, "read only"),
    (READ, UncheckableTransfer("scp", "the character '$' would be interpreted"), [], False,
     "scp refused: the character '$' would be interpreted, and contract ACME-1 limits file paths"),
    (READ, get("/srv/logs/a"), [], False, "not resolved"),
    (WRITE, put("/srv/in/new.tar"), [at("/srv/in/new.tar")], True, "upload of /srv/in/new.tar"),
    (INBOX, put("/srv/in/"), [at("/srv/in/", "/srv/in", folder=True)], True, "allowed"),
    # Names chosen by the client below a folder where a deny rule could match one of them.
    (WRITE, put("/srv/in/"), [at("/srv/in", folder=True)], False,
     "upload into /srv/in refused: contract ACME-1 does not allow every name below it"),
    (INBOX, put("/srv/logs", recursive=True), [at("/srv/logs", folder=True)], False,
     "upload into /srv/logs refused"),
    (INBOX, put("/srv", recursive=True), [at("/srv", folder=True)], False,
     "/srv refused: outside the paths"),
    (WRITE, put("/srv/in/x.pem"), [at("/srv/in/x.pem")], False, "excluded"),
    (WRITE, put("/etc/cron.d/x"), [at("/etc/cron.d/x")], False, "outside the paths"),
    (NO_RULES, get("/etc/shadow"), [], True, "sets no file path rules"),
    (NO_RULES, UncheckableTransfer("scp", "x"), [], True, "sets no file path rules"),
]


@pytest.mark.parametrize(("rules", "transfer", "paths", "allowed", "words"), CASES)
def test_transfer_verdicts(rules: dict[str, Any], transfer: Any, paths: list[ResolvedPath],
                           allowed: bool, words: str) -> None:
    verdict = check_transfer(constraints(rules), transfer, paths)
    assert verdict.allowed is allowed, verdict.reason
    assert words in verdict.reason
    assert "\n" not in verdict.reason

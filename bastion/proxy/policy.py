"""TEMPORARY: SFTP rules read from the grant's scope, until the contracts engine lands."""

from __future__ import annotations

import fnmatch

from .directory import GrantSnapshot

READ_OPERATIONS = {"open_read", "list", "stat"}


class ScopeSftpPolicy:
    def __init__(self, rules: dict[str, object]) -> None:
        self.mode = str(rules.get("mode", "none"))
        self.allow = list(rules.get("allow", ["/**"]))  # type: ignore[call-overload]
        self.deny = list(rules.get("deny", []))  # type: ignore[call-overload]

    def check(self, operation: str, path: str) -> str | None:
        if self.mode == "none":
            return "SFTP is not allowed by your grant"
        if operation not in READ_OPERATIONS and self.mode != "read-write":
            return f"{operation} of {path} refused: SFTP is read-only under your grant"
        if any(fnmatch.fnmatchcase(path, pattern) for pattern in self.deny):
            return f"{path} is in a folder your contract excludes"
        if not any(fnmatch.fnmatchcase(path, pattern) for pattern in self.allow):
            return f"{path} is outside the folders your contract allows"
        return None


def sftp_policy(grant: GrantSnapshot) -> ScopeSftpPolicy:
    return ScopeSftpPolicy(dict(grant.scope.get("sftp", {})))

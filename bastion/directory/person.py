"""What the directory or the identity provider says about one person."""

from __future__ import annotations

from dataclasses import dataclass

SOURCES = ("ldap", "oidc")


@dataclass(frozen=True)
class DirectoryPerson:
    source: str  # ldap | oidc
    username: str  # the console user name (lower case)
    # Stable id at the source (the entry's DN; the provider's issuer and subject): a new
    # entry given an old login is another person and inherits nothing.
    external_id: str
    full_name: str
    email: str | None
    groups: tuple[str, ...]
    disabled: bool = False
    disabled_reason: str = ""

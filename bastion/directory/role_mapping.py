"""Directory groups -> console roles: pure, so the same rule serves LDAP and OIDC."""

from __future__ import annotations

from collections.abc import Iterable, Mapping


def _norm(name: str) -> str:
    # DNs compare case-insensitively, and "cn=a, ou=b" is "cn=a,ou=b".
    return ",".join(part.strip() for part in name.strip().lower().split(","))


def roles_for(groups: Iterable[str], role_groups: Mapping[str, Iterable[str]]
              ) -> dict[str, list[str]]:
    """Each role the groups give, with the groups that give it (for the audit's reasons)."""
    held = {_norm(group): group for group in groups}
    roles: dict[str, list[str]] = {}
    for role, mapped in sorted(role_groups.items()):
        matched = sorted(held[_norm(group)] for group in mapped if _norm(group) in held)
        if matched:
            roles[role] = matched
    return roles

"""What an allow permits at most. A grant stores this (``grants.scope``), so the proxy
enforces the contract as it was when access was approved, and a later, narrower contract
version can tell whether the grant still fits."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

SFTP_RANK = {"none": 0, "read": 1, "read-write": 2}


class ScopeError(ValueError):
    """A stored scope cannot be read back: callers must treat it as no permission."""


@dataclass(frozen=True)
class SftpRules:
    access: str  # none | read | read-write
    allow: tuple[str, ...]
    deny: tuple[str, ...]
    # The target's file names ignore case: patterns must too, or /ETC/x slips past /etc/**.
    case_insensitive: bool = False


@dataclass(frozen=True)
class CommandRule:
    pattern: str
    action: str  # deny | flag
    reason: str
    case_sensitive: bool = False


@dataclass(frozen=True)
class Constraints:
    account: str
    not_before: datetime
    latest_end: datetime
    channels: frozenset[str]
    sftp: SftpRules
    forwards: frozenset[tuple[str, int]]
    command_rules: tuple[CommandRule, ...]
    approvers_required: int
    break_glass: bool
    break_glass_allowed: bool
    break_glass_max_minutes: int
    max_session_minutes: int
    idle_timeout_minutes: int | None
    contract_reference: str
    time_zone: str
    # An emergency on health or INS data under on_sensitive: acknowledged, not yet
    # acknowledged: the on-call approvers, one of whom must acknowledge before it opens.
    acknowledgement_by: tuple[str, ...] = ()
    acknowledgement_minutes: int = 0  # how long the technician waits for it

    def to_dict(self) -> dict[str, Any]:
        return {
            "account": self.account,
            "not_before": self.not_before.isoformat(),
            "latest_end": self.latest_end.isoformat(),
            "channels": sorted(self.channels),
            "sftp": {"access": self.sftp.access, "allow": list(self.sftp.allow),
                     "deny": list(self.sftp.deny), "case_insensitive": self.sftp.case_insensitive},
            "forwards": [f"{host}:{port}" for host, port in sorted(self.forwards)],
            "command_rules": [{"pattern": r.pattern, "action": r.action, "reason": r.reason,
                               "case_sensitive": r.case_sensitive} for r in self.command_rules],
            "approvers_required": self.approvers_required,
            "break_glass": self.break_glass,
            "break_glass_allowed": self.break_glass_allowed,
            "break_glass_max_minutes": self.break_glass_max_minutes,
            "max_session_minutes": self.max_session_minutes,
            "idle_timeout_minutes": self.idle_timeout_minutes,
            "contract_reference": self.contract_reference,
            "time_zone": self.time_zone,
            **({"acknowledgement_by": list(self.acknowledgement_by),
                "acknowledgement_minutes": self.acknowledgement_minutes}
               if self.acknowledgement_by else {}),
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Constraints:
        try:
            sftp = data["sftp"]
            not_before = datetime.fromisoformat(data["not_before"])
            latest_end = datetime.fromisoformat(data["latest_end"])
            if not_before.tzinfo is None or latest_end.tzinfo is None:
                raise ScopeError("stored scope has a time without a time zone")
            if sftp["access"] not in SFTP_RANK:
                raise ScopeError(f"stored scope has an unknown SFTP access {sftp['access']!r}")
            return cls(
                account=str(data["account"]),
                not_before=not_before,
                latest_end=latest_end,
                channels=frozenset(data["channels"]),
                sftp=SftpRules(sftp["access"], tuple(sftp["allow"]), tuple(sftp["deny"]),
                               bool(sftp.get("case_insensitive", False))),
                forwards=frozenset(parse_host_port(item) for item in data["forwards"]),
                command_rules=tuple(CommandRule(r["pattern"], r["action"], r["reason"],
                                                bool(r.get("case_sensitive", False)))
                                    for r in data["command_rules"]),
                approvers_required=int(data["approvers_required"]),
                break_glass=bool(data["break_glass"]),
                break_glass_allowed=bool(data["break_glass_allowed"]),
                break_glass_max_minutes=int(data["break_glass_max_minutes"]),
                max_session_minutes=int(data["max_session_minutes"]),
                idle_timeout_minutes=(None if data["idle_timeout_minutes"] is None
                                      else int(data["idle_timeout_minutes"])),
                contract_reference=str(data["contract_reference"]),
                time_zone=str(data["time_zone"]),
                acknowledgement_by=tuple(str(n) for n in data.get("acknowledgement_by", ())),
                acknowledgement_minutes=int(data.get("acknowledgement_minutes", 0)),
            )
        except ScopeError:
            raise
        except (KeyError, TypeError, ValueError, AttributeError) as exc:
            raise ScopeError(f"stored scope cannot be read: {exc!r}") from None

    def exceeds(self, ceiling: Constraints) -> list[str]:
        """Every way this scope is wider than ``ceiling`` (times aside: callers compare the
        grant's own end with ``ceiling.latest_end``). Empty: it fits."""
        wider: list[str] = []
        if self.account != ceiling.account:
            wider.append(f"account {self.account} is no longer the one allowed")
        if extra := sorted(self.channels - ceiling.channels):
            wider.append(f"channel(s) {', '.join(extra)} no longer allowed")
        if SFTP_RANK[self.sftp.access] > SFTP_RANK[ceiling.sftp.access]:
            wider.append(f"SFTP access {self.sftp.access} now limited to {ceiling.sftp.access}")
        elif self.sftp.access != "none" and (
                not set(self.sftp.allow) <= set(ceiling.sftp.allow)
                or not set(ceiling.sftp.deny) <= set(self.sftp.deny)
                or ceiling.sftp.case_insensitive != self.sftp.case_insensitive):
            wider.append("SFTP paths narrowed")
        if extra_fw := sorted(self.forwards - ceiling.forwards):
            listed = ", ".join(f"{h}:{p}" for h, p in extra_fw)
            wider.append(f"forward(s) {listed} no longer allowed")
        if not set(ceiling.command_rules) <= set(self.command_rules):
            wider.append("command rules changed")
        if self.approvers_required < ceiling.approvers_required:
            wider.append(f"{ceiling.approvers_required} approvers now required "
                         f"(granted with {self.approvers_required})")
        if self.max_session_minutes > ceiling.max_session_minutes:
            wider.append(f"maximum session length now {ceiling.max_session_minutes} min")
        if ceiling.idle_timeout_minutes is not None and (
                self.idle_timeout_minutes is None
                or self.idle_timeout_minutes > ceiling.idle_timeout_minutes):
            wider.append(f"idle timeout now {ceiling.idle_timeout_minutes} min")
        return wider


def parse_host_port(item: str) -> tuple[str, int]:
    host, _, port = item.rpartition(":")
    return host.strip("[]").lower(), int(port)

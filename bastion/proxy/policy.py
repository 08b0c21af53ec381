"""The proxy's questions to the contracts engine (the one policy decision point).

``contract_decision`` runs in a worker thread (it reads the database); the checks against
a grant's scope are pure and run on the event loop.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import select

from bastion.context import Bastion
from bastion.contracts import (
    Constraints,
    Decision,
    OperationVerdict,
    ResolvedPath,
    ScopeError,
    TransferCommand,
    UncheckableTransfer,
    check_channel,
    check_command,
    check_forward,
    check_sftp,
    check_transfer,
    current_contract_for_technician,
    decide_access,
    path_rules_apply,
)
from bastion.contracts.second_factor import SecondFactorPolicy, second_factor_policy
from bastion.models import Technician
from bastion.totp import secret_of, use_code

from .directory import GrantSnapshot


def contract_decision(core: Bastion, *, technician: str, target: str, account: str | None,
                      channel: str, at: datetime, break_glass: bool = False) -> Decision:
    with core.db.session() as session:
        decision, _version = decide_access(session, technician=technician, target=target,
                                           account=account, channel=channel, at=at,
                                           break_glass=break_glass)
        return decision


@dataclass(frozen=True)
class SecondFactorFacts:
    policy: SecondFactorPolicy
    totp_secret: str | None


def second_factor_facts(core: Bastion, technician: str) -> SecondFactorFacts:
    """The rule for this technician's vendor, and their one-time-code secret if enrolled."""
    with core.db.session() as session:
        current = current_contract_for_technician(session, technician)
        person = session.scalar(select(Technician).where(Technician.ident == technician))
        sealed = person.totp_secret_encrypted if person else None
    policy = second_factor_policy(current[1] if current else None,
                                  core.settings.ssh.second_factor)
    return SecondFactorFacts(policy, secret_of(core.keys.master_key, technician, sealed))


def use_totp_code(core: Bastion, technician: str, secret: str, code: str) -> bool:
    """The one-time code typed at login, accepted once across every node (database I/O:
    run through ProxyService.call)."""
    with core.db.session() as session:
        return use_code(session, technician, secret, code)


def grant_constraints(grant: GrantSnapshot) -> Constraints | None:
    """The grant's scope as the engine wrote it; ``None`` if it cannot be read (fail closed)."""
    try:
        return Constraints.from_dict(grant.scope)
    except ScopeError:
        return None


@dataclass(frozen=True)
class GrantPolicy:
    """Checks of single operations against what the grant allows (never wider than the
    contract: the approvals built the grant's scope from the engine's constraints)."""

    constraints: Constraints

    def channel(self, channel: str) -> str | None:
        verdict = check_channel(self.constraints, channel)
        return None if verdict.allowed else verdict.reason

    def check(self, operation: str, path: str) -> str | None:
        verdict = check_sftp(self.constraints, operation, path)
        return None if verdict.allowed else verdict.reason

    def path_rules_apply(self) -> bool:
        return path_rules_apply(self.constraints)

    def transfer(self, transfer: TransferCommand | UncheckableTransfer,
                 paths: list[ResolvedPath]) -> OperationVerdict:
        return check_transfer(self.constraints, transfer, paths)

    def forward(self, host: str, port: int) -> str | None:
        verdict = check_forward(self.constraints, host, port)
        return None if verdict.allowed else verdict.reason

    def command(self, command: str):  # type: ignore[no-untyped-def]
        return check_command(self.constraints, command)

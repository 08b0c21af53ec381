"""The proxy's questions to the contracts engine (the one policy decision point).

``contract_decision`` runs in a worker thread (it reads the database); the checks against
a grant's scope are pure and run on the event loop.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime

from sqlalchemy import select

from bastion.audit import Actor
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
from bastion.contracts.second_factor import (
    SecondFactorPolicy,
    second_factor_policy,
    setting_rule,
)
from bastion.i18n import N_, Phrase
from bastion.i18n.catalogue import Translator, translator
from bastion.models import Technician, utcnow
from bastion.sign_in_lockout import clear_failures, count_failure, locked_until
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
    locked_until: datetime | None = None


def second_factor_facts(core: Bastion, technician: str) -> SecondFactorFacts:
    """The rule for this technician's vendor, and their one-time-code secret if enrolled."""
    with core.db.session() as session:
        current = current_contract_for_technician(session, technician)
        person = session.scalar(select(Technician).where(Technician.ident == technician))
        sealed = person.totp_secret_encrypted if person else None
        locked = locked_until(session, Technician, Technician.ident == technician)
    contract = current[1] if current else None
    # An exception's last day is a day in the contract's time zone (the bastion's: UTC).
    today = utcnow().astimezone(contract.zone).date() if contract else utcnow().date()
    policy = second_factor_policy(contract, setting_rule(core.settings.ssh), today)
    return SecondFactorFacts(policy, secret_of(core.keys.master_key, technician, sealed), locked)


LOCKED = N_("too many wrong one-time codes or passwords: locked until {until}; wait, or ask "
            "the hospital's IT to unlock you")


def locked_line(until: datetime) -> Phrase:
    return Phrase.of(LOCKED, until=until)


def use_totp_code(core: Bastion, technician: str, secret: str, code: str,
                  client_address: str | None = None) -> Phrase | None:
    """The one-time code typed at login, accepted once across every node (database I/O:
    run through ProxyService.call). None when accepted, else the line to show.

    A wrong code counts on the technician's row, the same counter as the vendor portal's
    sign-in (bastion.sign_in_lockout): guesses spread over connections and nodes add up."""
    actor = Actor(f"ssh:{technician}", "technician")
    with core.db.session() as session:
        until = locked_until(session, Technician, Technician.ident == technician)
        if until is None and use_code(session, technician, secret, code):
            clear_failures(session, Technician, Technician.ident == technician)
            return None
        if until is not None:
            reason = "one-time code not checked: " + locked_line(until).english()
        else:
            until = count_failure(session, Technician, Technician.ident == technician)
            reason = "wrong or already used one-time code" + (
                f"; technician locked until {until.isoformat(timespec='seconds')}" if until else "")
        core.audit.append(session, action="login.code_refused", outcome="denied", actor=actor,
                          technician=technician, reasons=[reason],
                          details={"client_address": client_address})
        if until is not None:
            return locked_line(until)
        return Phrase(N_("That one-time code is not valid: type the current one."))


def grant_constraints(grant: GrantSnapshot) -> Constraints | None:
    """The grant's scope as the engine wrote it; ``None`` if it cannot be read (fail closed)."""
    try:
        return Constraints.from_dict(grant.scope)
    except ScopeError:
        return None


@dataclass(frozen=True)
class GrantPolicy:
    """Checks of single operations against what the grant allows (never wider than the
    contract: the approvals built the grant's scope from the engine's constraints). A
    refusal comes back as the technician's line, in their words (``tr``)."""

    constraints: Constraints
    tr: Translator = field(default_factory=lambda: translator("en"))

    def said(self, verdict: OperationVerdict) -> str | None:
        if verdict.allowed:
            return None
        return self.tr.phrase(verdict.phrase) if verdict.phrase else verdict.reason

    def channel(self, channel: str) -> str | None:
        return self.said(check_channel(self.constraints, channel))

    def check(self, operation: str, path: str) -> str | None:
        return self.said(check_sftp(self.constraints, operation, path))

    def path_rules_apply(self) -> bool:
        return path_rules_apply(self.constraints)

    def transfer(self, transfer: TransferCommand | UncheckableTransfer,
                 paths: list[ResolvedPath]) -> OperationVerdict:
        return check_transfer(self.constraints, transfer, paths)

    def forward(self, host: str, port: int) -> str | None:
        return self.said(check_forward(self.constraints, host, port))

    def command(self, command: str):  # type: ignore[no-untyped-def]
        return check_command(self.constraints, command)

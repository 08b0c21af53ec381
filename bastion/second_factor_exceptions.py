"""Where the technicians' second factor is switched off, why, and until when: the bastion's
own setting (``[ssh] second_factor = "off"`` with its reason and last day) and each current
contract's ``authentication.exception``. Read by ``bastion serve`` at each start (recorded
in the audit trail) and by the DPO's home page."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime

from sqlalchemy import select
from sqlalchemy.orm import Session

from .config import SshSettings
from .context import Bastion
from .contracts.repository import ContractStoreError, contract_of
from .contracts.second_factor import setting_rule
from .models import ContractVersion, utcnow


@dataclass(frozen=True)
class SecondFactorException:
    scope: str  # "bastion" (the global setting) or the vendor's id
    reason: str
    until: date
    in_force: bool  # False: past its last day, the second factor is required again


def second_factor_exceptions(session: Session, ssh: SshSettings,
                             now: datetime) -> list[SecondFactorException]:
    found = []
    rule = setting_rule(ssh)
    if rule.setting == "off" and rule.reason and rule.until:
        found.append(SecondFactorException("bastion", rule.reason, rule.until,
                                           rule.off_on(now.date())))
    for version in session.scalars(select(ContractVersion)
                                   .where(ContractVersion.is_current.is_(True))):
        try:
            contract = contract_of(version)
        except ContractStoreError:
            continue  # unreadable: the decision point refuses its vendor anyway
        section = contract.authentication
        if section.second_factor == "off" and section.exception is not None:
            today = now.astimezone(contract.zone).date()
            found.append(SecondFactorException(contract.vendor.id, section.exception.reason,
                                               section.exception.until,
                                               today <= section.exception.until))
    return sorted(found, key=lambda e: (e.scope != "bastion", e.scope))


def record_second_factor_exceptions(core: Bastion) -> None:
    """Each start of a node puts the exceptions in the audit trail, so an inspection finds
    when one factor was accepted, for whom and why, without reading old config files."""
    with core.db.session() as session:
        exceptions = second_factor_exceptions(session, core.settings.ssh, utcnow())
        core.audit.append(
            session, action="second_factor.exceptions", outcome="ok",
            reasons=[f"{e.scope}: second factor off ({e.reason}) until {e.until}"
                     + ("" if e.in_force else ", expired: required again") for e in exceptions],
            details={"exceptions": [{"scope": e.scope, "reason": e.reason,
                                     "until": e.until.isoformat(), "in_force": e.in_force}
                                    for e in exceptions]})

"""Vendors' HDS certificates that expire soon or have expired, from the current contracts:
the DPO's home lists them (``contracts check`` warns of the same 60 days)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime

from sqlalchemy import select
from sqlalchemy.orm import Session

from .contracts.checks import HDS_WARNING_DAYS
from .contracts.repository import ContractStoreError, contract_of
from .models import ContractVersion


@dataclass(frozen=True)
class HdsDeadline:
    vendor: str
    contract: str
    number: str
    valid_until: date
    days_left: int  # negative: expired, health and INS data are refused


def hds_deadlines(session: Session, now: datetime) -> list[HdsDeadline]:
    found = []
    for version in session.scalars(select(ContractVersion)
                                   .where(ContractVersion.is_current.is_(True))):
        try:
            contract = contract_of(version)
        except ContractStoreError:
            continue  # unreadable: the decision point refuses its vendor anyway
        certificate = contract.contract.hds_certificate
        if certificate is None:
            continue
        left = (certificate.valid_until - now.astimezone(contract.zone).date()).days
        if left < HDS_WARNING_DAYS:
            found.append(HdsDeadline(contract.vendor.id, contract.reference, certificate.number,
                                     certificate.valid_until, left))
    return sorted(found, key=lambda d: d.days_left)

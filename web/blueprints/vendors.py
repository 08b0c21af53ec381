"""Vendors, their current contract and their technicians: read-only, from the database
(contracts are loaded from YAML with ``bastion contracts load``)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import Any

from flask import Blueprint, render_template
from flask.typing import ResponseReturnValue
from sqlalchemy import select
from sqlalchemy.orm import Session, selectinload

from bastion.models import ContractVersion, Technician, Vendor, utcnow

from ..access import requires
from ..identity import core

blueprint = Blueprint("vendors", __name__)

WARN_DAYS = 30


@dataclass(frozen=True)
class Warning:
    vendor: str
    what: str  # contract | technician
    name: str
    ends: date


def contract_end(version: ContractVersion | None) -> date | None:
    if version is None:
        return None
    raw = (version.document or {}).get("contract", {}).get("valid_until")
    try:
        return date.fromisoformat(str(raw)) if raw else None
    except ValueError:
        return None


def current_contracts(db: Session) -> dict[int, ContractVersion]:
    rows = db.scalars(select(ContractVersion).where(ContractVersion.is_current.is_(True))
                      .order_by(ContractVersion.version))
    return {row.vendor_id: row for row in rows}


def _ending_soon(day: date | datetime | None, today: date) -> bool:
    if day is None:
        return False
    end = day.date() if isinstance(day, datetime) else day
    return end <= today + timedelta(days=WARN_DAYS)


def expiry_warnings(db: Session) -> list[Warning]:
    """Contracts and technicians whose validity ends within 30 days (or has ended)."""
    today = utcnow().date()
    warnings = []
    contracts = current_contracts(db)
    for vendor in db.scalars(select(Vendor).options(selectinload(Vendor.technicians))
                             .order_by(Vendor.name)):
        end = contract_end(contracts.get(vendor.id))
        if end is not None and _ending_soon(end, today):
            warnings.append(Warning(vendor.name, "contract", contracts[vendor.id].reference, end))
        for technician in vendor.technicians:
            if technician.active and _ending_soon(technician.valid_until, today):
                assert technician.valid_until is not None
                warnings.append(Warning(vendor.name, "technician", technician.full_name,
                                        technician.valid_until.date()))
    return sorted(warnings, key=lambda w: w.ends)


@blueprint.get("/vendors")
@requires("admin", "approver", "dpo")
def index() -> ResponseReturnValue:
    with core().db.session() as db:
        vendors = list(db.scalars(
            select(Vendor).options(selectinload(Vendor.technicians).selectinload(Technician.keys))
            .order_by(Vendor.name)))
        contracts = current_contracts(db)
        rows: list[dict[str, Any]] = [
            {"vendor": vendor, "contract": contracts.get(vendor.id),
             "contract_end": contract_end(contracts.get(vendor.id)),
             "technicians": sorted(vendor.technicians, key=lambda t: t.ident)}
            for vendor in vendors
        ]
        return render_template("vendors/index.html", rows=rows, warnings=expiry_warnings(db),
                               today=utcnow().date(), warn_days=WARN_DAYS)

"""Realistic console data for the browser test and the page tests: the demo inventory,
vendors with technicians and a current contract, pending requests, a live session.

Rows are written directly (not through the contracts loader or the request filing): the
console shows what is in the database, and these tests should not depend on those
modules' own rules.
"""

from __future__ import annotations

import hashlib
import json
from datetime import timedelta

import asyncssh
import yaml

from bastion.audit import Actor
from bastion.context import Bastion
from bastion.demo.setup import DEMO_TARGETS, EXAMPLES, open_at_all_hours
from bastion.inventory import add_target
from bastion.models import AccessRequest, ContractVersion, SshSession, Target, Technician, Vendor, utcnow

SEED_ACTOR = Actor("test:seed", "admin")


def host_key_line() -> str:
    key = asyncssh.generate_private_key("ssh-ed25519")
    return key.export_public_key().decode().strip()


def seed_inventory(core: Bastion) -> None:
    with core.db.session() as db:
        for name, labels, categories, accounts in DEMO_TARGETS:
            add_target(db, core.audit, name=name, host="10.20.0.11", port=22,
                       host_key=host_key_line(), accounts=accounts, labels=labels,
                       data_categories=categories, description="Serveur DPI de test", actor=SEED_ACTOR)


def seed_vendors(core: Bastion, *, at_all_hours: bool = False) -> dict[str, int]:
    """Vendors, technicians and current contracts from contracts/examples; ident -> id.

    ``at_all_hours`` opens the contracts' maintenance windows all day, every day (as the
    demo does), for a test that files a request: the examples' weekday hours would make
    it pass or fail by the time of day the suite runs."""
    technicians = {}
    now = utcnow()
    with core.db.session() as db:
        for path in sorted(EXAMPLES.glob("*.yaml")):
            text = path.read_text(encoding="utf-8")
            document = yaml.safe_load(text)
            if at_all_hours:
                open_at_all_hours(document)
                text = yaml.safe_dump(document, allow_unicode=True, sort_keys=False)
            # Get or create: the `people` fixture may have made the first vendor already.
            vendor = db.query(Vendor).filter_by(slug=document["vendor"]["id"]).one_or_none()
            if vendor is None:
                vendor = Vendor(slug=document["vendor"]["id"], name=document["vendor"]["name"])
                db.add(vendor)
                db.flush()
            db.add(ContractVersion(vendor_id=vendor.id, version=1,
                                   reference=document["contract"]["reference"],
                                   content_hash=hashlib.sha256(text.encode()).hexdigest(),
                                   source_name=path.name, source_text=text,
                                   # As the loader stores it: JSON, dates as ISO strings.
                                   document=json.loads(json.dumps(document, default=str)),
                                   loaded_by="test:seed"))
            for entry in document.get("technicians", []):
                existing = db.query(Technician).filter_by(ident=entry["id"]).one_or_none()
                if existing is not None:
                    technicians[entry["id"]] = existing.id
                    continue
                technician = Technician(ident=entry["id"], vendor_id=vendor.id,
                                        employer=entry["employer"], full_name=entry["full_name"],
                                        email=entry["email"],
                                        valid_until=now + timedelta(days=20)
                                        if entry["id"] == "mleroy" else None)
                db.add(technician)
                db.flush()
                technicians[entry["id"]] = technician.id
    return technicians


def seed_activity(core: Bastion, technician_id: int) -> int:
    """A pending request and a live session on dpi-app-01; returns the request id."""
    now = utcnow()
    with core.db.session() as db:
        target = db.query(Target).filter_by(name="dpi-app-01").one()
        request = AccessRequest(
            technician_id=technician_id, target_id=target.id, account_name="maint",
            window_start=now, window_end=now + timedelta(hours=2), channels=["shell"],
            reason="Mise à jour corrective du module d'admission", ticket="INC-4242",
            source="ssh", verdict={"allowed": True, "reasons": ["contrat EDI-2024-07 en vigueur"]},
            created_at=now - timedelta(minutes=7), expires_at=now + timedelta(minutes=53))
        db.add(request)
        db.add(SshSession(technician_id=technician_id, target_id=target.id, account_name="maint",
                          client_address="192.0.2.10", node="test-node",
                          started_at=now - timedelta(minutes=3)))
        db.flush()
        return request.id

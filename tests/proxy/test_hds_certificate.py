"""A vendor reaching health or INS data works under a valid HDS certificate: once it has
expired, the decision point refuses the real ssh client on such a target, in one line,
with the reason audited; targets without health data stay reachable."""

from __future__ import annotations

from datetime import timedelta

import yaml
from sqlalchemy import select

from bastion.audit import Actor
from bastion.contracts import load_contracts
from bastion.inventory import add_target
from bastion.models import AuditEvent, utcnow
from tests.proxy.conftest import TEST_LABELS, Scenario, contract_for_tests

ADMIN = Actor("test", "admin")


def test_an_expired_hds_certificate_refuses_health_targets(scenario: Scenario) -> None:
    with scenario.core.db.session() as s:
        add_target(s, scenario.core.audit, name="dpi-db-01", host="127.0.0.1",
                   port=scenario.target.port, host_key=scenario.target.host_key_line,
                   accounts=[scenario.target.account], labels=TEST_LABELS,
                   data_categories=["administrative", "health", "ins"], actor=ADMIN)
    yesterday = (utcnow() - timedelta(days=1)).date()
    document = yaml.safe_load(contract_for_tests(scenario.client.public_key,
                                                 [scenario.target.account]))
    document["scope"]["data_categories"] += ["health", "ins"]
    document["contract"]["hds_certificate"] = {"number": "HDS-CERT-2023-0007",
                                               "valid_until": str(yesterday)}
    path = scenario.client.workdir.parent / "editeur.yaml"
    path.write_text(yaml.safe_dump(document, allow_unicode=True))
    # Loaded while the certificate held (today `check` refuses an expired certificate).
    assert load_contracts(scenario.core, [path], ADMIN, now=utcnow() - timedelta(days=3)).ok
    refused = scenario.ssh("true", user="jdupont+dpi-db-01")
    assert refused.returncode == 1
    lines = refused.stderr.decode().strip().splitlines()
    # A day in the technician's words (their contract's language: en here, dd/mm/yyyy).
    assert lines == [f"bastion: refused: the vendor's HDS certificate expired on "
                     f"{yesterday:%d/%m/%Y}: no access "
                     "to health data until the contract records a valid one"]
    with scenario.core.db.session() as s:
        event = s.scalars(select(AuditEvent).where(AuditEvent.action == "channel.refused")
                          .order_by(AuditEvent.id.desc())).first()
    assert event.target == "dpi-db-01" and "hds_certificate_expired" in event.details["codes"]
    assert any("HDS-CERT-2023-0007" in reason for reason in event.reasons)
    # The application server holds no health data: the certificate does not concern it.
    scenario.grant()
    assert scenario.ssh("echo app-ok").stdout == b"app-ok\n"

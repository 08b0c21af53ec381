"""The data model on both databases: the same tests run on SQLite and PostgreSQL."""

from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import select, text
from sqlalchemy.exc import DBAPIError, IntegrityError

from bastion.audit import Actor, AuditLog, verify_chain
from bastion.db import Database
from bastion.models import (
    AccessRequest,
    AuditEvent,
    BreakGlassReview,
    ContractVersion,
    Grant,
    RecordedCommand,
    Recording,
    Review,
    SshSession,
    StaffRole,
    StaffUser,
    Target,
    TargetAccount,
    Technician,
    TechnicianKey,
    Vendor,
    WebAuthnCredential,
)

KEY = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIOTbGOp7cf6ORfxPb1ZMu1P5H5GhYIbf+4kkhYr5BuYh"


def _populate(db: Database) -> None:
    now = datetime.now(UTC)
    with db.session() as s:
        vendor = Vendor(slug="editeur-dpi", name="Éditeur DPI SAS")
        tech = Technician(ident="jdupont", vendor=vendor, employer="Éditeur DPI SAS",
                          full_name="Jean Dupont", email="j.dupont@example.org",
                          valid_until=now + timedelta(days=90))
        tech.keys.append(TechnicianKey(algorithm="ssh-ed25519", public_key=KEY,
                                       fingerprint="SHA256:abc"))
        target = Target(name="dpi-app-01", host="10.0.0.5", port=22, host_key=KEY,
                        labels={"role": "app"}, data_categories=["administrative"],
                        accounts=[TargetAccount(name="maint")])
        approver = StaffUser(username="alice", full_name="Alice Martin",
                             roles=[StaffRole(role="approver")])
        approver.credentials.append(WebAuthnCredential(credential_id=b"\x01\x02", public_key=b"k",
                                                       name="YubiKey bleue"))
        s.add_all([vendor, tech, target, approver])
        s.flush()
        contract = ContractVersion(vendor_id=vendor.id, version=1, reference="EDI-2026-01",
                                   content_hash="a" * 64, source_name="editeur.yaml",
                                   source_text="vendor: x", document={"vendor": "x"},
                                   loaded_by="cli:root")
        s.add(contract)
        s.flush()
        request = AccessRequest(technician_id=tech.id, target_id=target.id, account_name="maint",
                                window_start=now, window_end=now + timedelta(hours=1),
                                channels=["shell"], reason="mise à jour", ticket="INC-42",
                                source="ssh", contract_version_id=contract.id,
                                verdict={"allowed": True, "reasons": ["in scope"]})
        s.add(request)
        s.flush()
        s.add(Review(request_id=request.id, staff_id=approver.id, decision="approve"))
        grant = Grant(request_id=request.id, technician_id=tech.id, target_id=target.id,
                      account_name="maint", not_before=now, not_after=now + timedelta(hours=1),
                      scope={"channels": ["shell"]}, contract_version_id=contract.id)
        s.add(grant)
        s.flush()
        s.add(BreakGlassReview(request_id=request.id, grant_id=grant.id, justification="urgence",
                               deadline=now + timedelta(days=2)))
        session = SshSession(grant_id=grant.id, technician_id=tech.id, target_id=target.id,
                             account_name="maint", node="n1", client_address="127.0.0.1")
        s.add(session)
        s.flush()
        recording = Recording(session_id=session.id, channel="shell", storage_key="r/1",
                              wrapped_key=b"w", master_key_id="m")
        s.add(recording)
        s.flush()
        s.add(RecordedCommand(recording_id=recording.id, session_id=session.id,
                              offset_seconds=1.5, at=now, kind="shell", text="uptime"))


def test_every_entity_round_trips(database: Database) -> None:
    _populate(database)
    with database.session() as s:
        tech = s.scalar(select(Technician).where(Technician.ident == "jdupont"))
        assert tech.vendor.name == "Éditeur DPI SAS"
        assert [k.fingerprint for k in tech.keys] == ["SHA256:abc"]
        target = s.scalar(select(Target))
        assert target.labels == {"role": "app"} and [a.name for a in target.accounts] == ["maint"]
        grant = s.scalar(select(Grant))
        # Datetimes come back aware and in UTC on both backends.
        assert grant.not_after.tzinfo is UTC
        assert grant.not_after - grant.not_before == timedelta(hours=1)
        assert s.scalar(select(StaffUser)).role_names == {"approver"}
        assert s.scalar(select(RecordedCommand)).text == "uptime"
        assert s.scalar(select(BreakGlassReview)).request.reason == "mise à jour"


def test_one_key_cannot_belong_to_two_technicians(database: Database) -> None:
    _populate(database)
    with pytest.raises(IntegrityError):
        with database.session() as s:
            vendor = s.scalar(select(Vendor))
            other = Technician(ident="pmartin", vendor=vendor, employer="x", full_name="P M",
                               email="p@example.org")
            other.keys.append(TechnicianKey(algorithm="ssh-ed25519", public_key=KEY,
                                            fingerprint="SHA256:abc"))
            s.add(other)


def test_naive_datetimes_are_refused(database: Database) -> None:
    _populate(database)
    with pytest.raises(Exception, match="naive datetime"):
        with database.session() as s:
            s.scalar(select(Grant)).not_after = datetime(2030, 1, 1)
            s.flush()


def test_audit_chain_and_append_only_triggers(database: Database) -> None:
    log = AuditLog("n1")
    with database.session() as s:
        for i in range(5):
            log.append(s, action="test.event", outcome="ok", actor=Actor("staff:alice", "admin"),
                       reasons=[f"reason {i}"], details={"i": i, "é": "ü"}, target="dpi-app-01")
    with database.session() as s:
        rows = [r._asdict() for r in s.execute(select(*AuditEvent.__table__.c).order_by(AuditEvent.id))]
    count, problem = verify_chain(rows)
    assert (count, problem) == (5, None)

    for statement in ("UPDATE audit_events SET outcome = 'denied'", "DELETE FROM audit_events"):
        with pytest.raises(DBAPIError, match="append-only"):
            with database.session() as s:
                s.execute(text(statement))
    with database.session() as s:
        assert s.scalar(select(AuditEvent).where(AuditEvent.outcome == "denied")) is None
        assert len(s.scalars(select(AuditEvent)).all()) == 5


def test_audit_chain_names_the_first_changed_event() -> None:
    from bastion.audit.chain import GENESIS_HASH, event_hash

    events = []
    prev = GENESIS_HASH
    for i in range(4):
        fields = {"id": i + 1, "at": "2026-01-01T00:00:00", "actor": "a", "action": "x",
                  "outcome": "ok", "reasons": [], "details": {"i": i}, "node": "n"}
        fields["prev_hash"], fields["hash"] = prev, event_hash(fields, prev)
        prev = fields["hash"]
        events.append(fields)
    tampered = [dict(e) for e in events]
    tampered[2]["details"] = {"i": 99}
    assert verify_chain(tampered)[1].event_id == 3
    assert "modified" in str(verify_chain(tampered)[1])
    deleted = events[:1] + events[2:]
    assert verify_chain(deleted)[1].event_id == 3
    swapped = [events[0], events[2], events[1], events[3]]
    assert verify_chain(swapped)[1].event_id == 3

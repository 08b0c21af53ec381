"""``contracts load``: versioned, idempotent, all or nothing; technicians and keys follow the
file; a narrower version revokes the grants it no longer allows and ends their sessions."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime, timedelta
from pathlib import Path

from sqlalchemy import func, select

from bastion.audit import verify_chain
from bastion.context import Bastion
from bastion.contracts import (
    current_contract_for_technician,
    decide_access,
    load_contracts,
    target_facts,
)
from bastion.contracts.sshkeys import inspect_key
from bastion.models import (
    AccessRequest,
    AuditEvent,
    ContractVersion,
    Grant,
    SshSession,
    Target,
    Technician,
    TechnicianKey,
    Vendor,
)

from .conftest import (
    ADMIN,
    EXAMPLES,
    TUESDAY_10H,
    add_demo_inventory,
    base_document,
    public_key,
    to_yaml,
    with_changes,
)

NOW = TUESDAY_10H
Write = Callable[..., Path]


def load(core: Bastion, *paths: Path, now: datetime = NOW):  # type: ignore[no-untyped-def]
    return load_contracts(core, list(paths), ADMIN, now=now)


def count(core: Bastion, model: type) -> int:
    with core.db.session() as session:
        return int(session.scalar(select(func.count()).select_from(model)) or 0)


def actions(core: Bastion) -> list[str]:
    with core.db.session() as session:
        return list(session.scalars(select(AuditEvent.action).order_by(AuditEvent.id)))


def test_examples_load_once_and_then_are_unchanged(demo_core: Bastion) -> None:
    first = load(demo_core, EXAMPLES)
    assert first.ok, first.problems
    assert [(c.vendor, c.version, c.status) for c in first.contracts] == [
        ("quantis-db", 1, "loaded"), ("medilogic", 1, "loaded"),
        ("radiance-imagerie", 1, "loaded")]
    again = load(demo_core, EXAMPLES)
    assert [(c.version, c.status) for c in again.contracts] == [(1, "unchanged")] * 3
    assert count(demo_core, ContractVersion) == 3
    assert count(demo_core, Technician) == 6
    assert actions(demo_core).count("contract.loaded") == 3
    assert actions(demo_core).count("contract.unchanged") == 3
    with demo_core.db.session() as session:
        jdupont = session.scalar(select(Technician).where(Technician.ident == "jdupont"))
        assert jdupont is not None
        assert jdupont.vendor.slug == "medilogic" and jdupont.employer == "Médilogic SAS"
        key_line = (EXAMPLES / "dpi-editor.yaml").read_text().split("- ssh-ed25519 ")[1]
        assert [k.fingerprint for k in jdupont.keys] == [
            inspect_key("ssh-ed25519 " + key_line.splitlines()[0]).fingerprint]
        found = current_contract_for_technician(session, "jdupont")
        assert found is not None
        version, contract = found
        assert version.reference == "EDI-2024-07" and contract.vendor.id == "medilogic"
        assert version.source_text == (EXAMPLES / "dpi-editor.yaml").read_text()
        assert len(version.content_hash) == 64
        event = session.scalars(select(AuditEvent).where(
            AuditEvent.action == "contract.loaded", AuditEvent.vendor == "medilogic")).one()
        assert event.details["version"] == 1
        assert event.details["reference"] == "EDI-2024-07"
        assert event.details["content_hash"] == version.content_hash
    with demo_core.db.session() as session:
        rows = [r._asdict() for r in session.execute(
            select(*AuditEvent.__table__.c).order_by(AuditEvent.id))]
    assert verify_chain(rows)[1] is None


def test_a_changed_file_is_a_new_version(demo_core: Bastion, write_contract: Write) -> None:
    path = write_contract(base_document())
    assert load(demo_core, path).contracts[0].version == 1
    path.write_text(path.read_text() + "# signed amendment 1\n")
    second = load(demo_core, path).contracts[0]
    assert (second.version, second.status) == (2, "loaded")
    with demo_core.db.session() as session:
        rows = session.scalars(select(ContractVersion).order_by(ContractVersion.version)).all()
        assert [(r.version, r.is_current) for r in rows] == [(1, False), (2, True)]
        assert rows[1].document == rows[0].document  # the same contract, another text
    # Back to the first text: version 1 becomes current again, no copy is stored.
    path.write_text(to_yaml(base_document()))
    third = load(demo_core, path).contracts[0]
    assert (third.version, third.status) == (1, "reinstated")
    assert count(demo_core, ContractVersion) == 2


def test_nothing_is_half_loaded(demo_core: Bastion, write_contract: Write) -> None:
    good = write_contract(base_document(), "a-good.yaml")
    broken = write_contract("vendor: {id: [\n", "b-broken.yaml")
    report = load(demo_core, good, broken)
    assert not report.ok
    assert [str(p) for p in report.problems][0].startswith(f"{broken}:2: not valid YAML")
    assert report.contracts == []
    for model in (Vendor, Technician, TechnicianKey, ContractVersion):
        assert count(demo_core, model) == 0
    with demo_core.db.session() as session:
        event = session.scalars(select(AuditEvent).where(
            AuditEvent.action == "contract.rejected")).one()
        assert event.outcome == "failed" and str(broken) in event.reasons[0]


def test_load_refuses_what_check_refuses(demo_core: Bastion, write_contract: Write) -> None:
    path = write_contract(with_changes({"scope.targets": [{"name": "dpi-app-99",
                                                           "accounts": ["maint"]}]}))
    report = load(demo_core, path)
    assert [p.message for p in report.problems] == [
        "unknown target dpi-app-99: it is not in the inventory"]
    assert count(demo_core, ContractVersion) == 0


def test_technicians_and_keys_follow_the_file(demo_core: Bastion, write_contract: Write) -> None:
    document = base_document()
    path = write_contract(document)
    load(demo_core, path)
    # kbenali leaves; jdupont gets a new key in place of the old one.
    document["technicians"] = [{**document["technicians"][0], "keys": [public_key("jd-new")]}]
    path.write_text(to_yaml(document))
    report = load(demo_core, path)
    assert report.contracts[0].technicians["deactivated"] == ["kbenali"]
    with demo_core.db.session() as session:
        kb = session.scalar(select(Technician).where(Technician.ident == "kbenali"))
        jd = session.scalar(select(Technician).where(Technician.ident == "jdupont"))
        assert kb is not None and jd is not None
        assert not kb.active and kb.suspended_reason == "removed from contract ACME-1 v2"
        assert [k.fingerprint for k in jd.keys] == [inspect_key(public_key("jd-new")).fingerprint]
        assert jd.keys[0].algorithm == "ssh-ed25519" and jd.keys[0].comment == "jd-new"
    # kbenali comes back in v3: reactivated, since the file had deactivated them.
    path.write_text(to_yaml(base_document()))
    assert load(demo_core, path).contracts[0].technicians["reactivated"] == ["kbenali"]


def test_a_suspension_by_it_is_not_lifted_by_a_load(demo_core: Bastion,
                                                    write_contract: Write) -> None:
    path = write_contract(base_document())
    load(demo_core, path)
    with demo_core.db.session() as session:
        kb = session.scalars(select(Technician).where(Technician.ident == "kbenali")).one()
        kb.active, kb.suspended_reason = False, "suspended by IT: lost laptop"
    path.write_text(path.read_text() + "# v2\n")
    load(demo_core, path)
    with demo_core.db.session() as session:
        kb = session.scalars(select(Technician).where(Technician.ident == "kbenali")).one()
        assert not kb.active and kb.suspended_reason == "suspended by IT: lost laptop"


def test_a_key_may_move_between_two_people_of_one_load(demo_core: Bastion,
                                                       write_contract: Write) -> None:
    document = base_document()
    path = write_contract(document)
    load(demo_core, path)
    moved = public_key("jdupont")
    document["technicians"][0]["keys"] = [public_key("jd-other")]
    document["technicians"][1]["keys"] = [moved]
    path.write_text(to_yaml(document))
    assert load(demo_core, path).ok
    with demo_core.db.session() as session:
        owner = session.scalar(select(Technician.ident).join(TechnicianKey).where(
            TechnicianKey.fingerprint == inspect_key(moved).fingerprint))
        assert owner == "kbenali"


def test_a_key_of_another_vendor_is_refused(demo_core: Bastion, write_contract: Write) -> None:
    load(demo_core, write_contract(base_document(), "acme.yaml"))
    other = with_changes({"vendor.id": "other", "technicians.0.id": "zorro",
                          "technicians.1.id": "zorra", "technicians.1.keys": [public_key("z")]})
    report = load(demo_core, write_contract(other, "other.yaml"))
    fingerprint = inspect_key(public_key("jdupont")).fingerprint
    assert [p.message for p in report.problems] == [
        f"key {fingerprint} of technician zorro is already registered for technician jdupont: "
        "one key, one person"]


def grant_for(core: Bastion, technician: str, target: str, *, at: datetime = NOW,
              hours: int = 2, live: bool = True) -> tuple[int, int | None]:
    """A grant made the way the approvals make it, with a live session if asked."""
    with core.db.session() as session:
        decision, version = decide_access(session, technician=technician, target=target,
                                          account=None, channel="request", at=at,
                                          window_end=at + timedelta(hours=hours))
        assert decision.allowed and decision.constraints is not None, decision.reasons
        tech = session.scalars(select(Technician).where(Technician.ident == technician)).one()
        row = session.scalars(select(Target).where(Target.name == target)).one()
        request = AccessRequest(technician_id=tech.id, target_id=row.id,
                                account_name=decision.constraints.account, window_start=at,
                                window_end=at + timedelta(hours=hours), channels=["shell"],
                                reason="INC-1", source="portal", status="approved",
                                contract_version_id=version.id if version else None,
                                verdict=decision.to_dict())
        session.add(request)
        session.flush()
        grant = Grant(request_id=request.id, technician_id=tech.id, target_id=row.id,
                      account_name=decision.constraints.account, not_before=at,
                      not_after=decision.constraints.latest_end,
                      scope=decision.constraints.to_dict(),
                      contract_version_id=version.id if version else None, status="active")
        session.add(grant)
        session.flush()
        live_id = None
        if live:
            ssh = SshSession(grant_id=grant.id, technician_id=tech.id, target_id=row.id,
                             account_name=grant.account_name, node="test", status="live")
            session.add(ssh)
            session.flush()
            live_id = ssh.id
        return grant.id, live_id


def test_a_narrower_version_revokes_what_no_longer_fits(demo_core: Bastion,
                                                        write_contract: Write) -> None:
    path = write_contract(base_document())
    load(demo_core, path)
    jd_grant, jd_session = grant_for(demo_core, "jdupont", "dpi-app-01")
    kb_grant, kb_session = grant_for(demo_core, "kbenali", "dpi-app-01")
    # v2: kbenali is no longer in the contract; jdupont's grant still fits.
    path.write_text(to_yaml(with_changes({"technicians": base_document()["technicians"][:1]})))
    report = load(demo_core, path)
    assert report.contracts[0].revoked_grants == [kb_grant]
    with demo_core.db.session() as session:
        grant = session.get(Grant, kb_grant)
        assert grant is not None
        assert grant.status == "revoked" and grant.revoked_by == "contract:ACME-1 v2"
        assert grant.revoked_at == NOW
        assert grant.revoke_reason == "technician kbenali is not named in contract ACME-1"
        live = session.get(SshSession, kb_session)
        assert live is not None
        assert live.terminate_requested_at == NOW
        assert live.terminate_requested_by == "contract:ACME-1 v2"
        assert live.terminate_reason == grant.revoke_reason
        event = session.scalars(select(AuditEvent).where(
            AuditEvent.action == "grant.revoked")).one()
        assert (event.grant_id, event.technician, event.target, event.vendor) == (
            kb_grant, "kbenali", "dpi-app-01", "acme")
        assert event.reasons == [grant.revoke_reason]
        assert event.details["sessions_terminated"] == [kb_session]
        assert session.get(Grant, jd_grant).status == "active"  # type: ignore[union-attr]
    # v3: the window now closes at 10:30, before jdupont's grant ends (12:00).
    path.write_text(to_yaml(with_changes({
        "technicians": base_document()["technicians"][:1],
        "scope.windows": [{"days": ["mon", "tue", "wed", "thu", "fri"],
                           "start": "08:00", "end": "10:30"}]})))
    assert load(demo_core, path).contracts[0].revoked_grants == [jd_grant]
    with demo_core.db.session() as session:
        grant = session.get(Grant, jd_grant)
        assert grant is not None and grant.revoked_by == "contract:ACME-1 v3"
        assert grant.revoke_reason == (
            "contract ACME-1 now ends this access at 2027-03-02T09:30:00+00:00, before the "
            "grant's end 2027-03-02T11:00:00+00:00")
        assert session.get(SshSession, jd_session).terminate_requested_at == NOW  # type: ignore[union-attr]


def test_grants_that_still_fit_are_kept(demo_core: Bastion, write_contract: Write) -> None:
    path = write_contract(base_document())
    load(demo_core, path)
    grant_id, session_id = grant_for(demo_core, "jdupont", "dpi-app-01")
    # v2 widens: more windows, a longer session. Nothing to revoke.
    wider = with_changes({"scope.max_session_minutes": 480, "scope.windows": [
        {"days": ["mon", "tue", "wed", "thu", "fri", "sat"], "start": "07:00", "end": "20:00"}]})
    path.write_text(to_yaml(wider))
    report = load(demo_core, path)
    assert report.contracts[0].revoked_grants == []
    with demo_core.db.session() as session:
        assert session.get(Grant, grant_id).status == "active"  # type: ignore[union-attr]
        live = session.get(SshSession, session_id)
        assert live is not None and live.terminate_requested_at is None


def revoke_reason_after(core: Bastion, path: Path, changes: dict, grant_id: int) -> str:
    path.write_text(to_yaml(with_changes(changes)))
    report = load(core, path)
    assert report.ok, report.problems
    with core.db.session() as session:
        grant = session.get(Grant, grant_id)
        assert grant is not None and grant.status == "revoked", "the grant was kept"
        return grant.revoke_reason or ""


def test_each_narrowing_revokes_with_its_reason(demo_core: Bastion, write_contract: Write) -> None:
    path = write_contract(base_document())
    load(demo_core, path)
    cases = [
        ({"technicians": base_document()["technicians"][1:]},
         "technician jdupont is not named in contract ACME-1"),
        ({"channels.exec": False}, "channel(s) exec no longer allowed"),
        ({"approval.approvers": 2}, "2 approvers now required (granted with 1)"),
        ({"scope.data_categories": ["technical"]},
         "target dpi-app-01 holds administrative data, outside contract ACME-1's data scope"),
        ({"command_rules": [{"pattern": "rm", "action": "deny", "reason": "no"}]},
         "command rules changed"),
        ({"scope.max_session_minutes": 60}, "before the grant's end"),
    ]
    for changes, reason in cases:
        path.write_text(to_yaml(base_document()))
        load(demo_core, path)
        grant_id, _ = grant_for(demo_core, "jdupont", "dpi-app-01", live=False)
        assert reason in revoke_reason_after(demo_core, path, changes, grant_id), changes


def test_an_unreadable_grant_scope_is_revoked(demo_core: Bastion, write_contract: Write) -> None:
    path = write_contract(base_document())
    load(demo_core, path)
    grant_id, _ = grant_for(demo_core, "jdupont", "dpi-app-01")
    with demo_core.db.session() as session:
        session.get(Grant, grant_id).scope = {"channels": "everything"}  # type: ignore[union-attr]
    reason = revoke_reason_after(demo_core, path, {"scope.max_concurrent_sessions": 3}, grant_id)
    assert "the grant's scope cannot be compared" in reason


def test_other_vendors_grants_are_untouched(demo_core: Bastion, write_contract: Write) -> None:
    load(demo_core, EXAMPLES)
    pacs_time = NOW  # Tuesday 10:00 in Paris: inside the PACS vendor's window
    grant_id, _ = grant_for(demo_core, "agarcia", "pacs-01", at=pacs_time, hours=1)
    path = write_contract(base_document())
    load(demo_core, path)
    path.write_text(to_yaml(with_changes({"technicians": []})))
    load(demo_core, path)
    with demo_core.db.session() as session:
        assert session.get(Grant, grant_id).status == "active"  # type: ignore[union-attr]


def test_decide_access_refuses_with_reasons(demo_core: Bastion) -> None:
    load(demo_core, EXAMPLES)
    with demo_core.db.session() as session:
        decision, version = decide_access(session, technician="jdupont", target="dpi-db-01",
                                          account=None, channel="shell", at=NOW)
        assert version is not None and version.reference == "EDI-2024-07"
        assert not decision.allowed
        assert decision.summary() == ("refused: target dpi-db-01 is outside contract "
                                      "EDI-2024-07's scope")
        assert "target dpi-db-01 holds health, ins data" in decision.reasons[1]
        unknown, none = decide_access(session, technician="nobody", target="dpi-app-01",
                                      account=None, channel="shell", at=NOW)
        assert none is None and unknown.codes == ("technician_unknown",)
        missing, _ = decide_access(session, technician="jdupont", target="nowhere",
                                   account=None, channel="shell", at=NOW)
        assert missing.codes == ("target_unknown",)
        facts = target_facts(session.scalars(select(Target).where(
            Target.name == "dpi-app-01")).one())
        assert facts.accounts == ("appadmin", "maint")


def ask_shell(core: Bastion, technician: str, target: str, at: datetime = NOW) -> tuple[str, ...]:
    with core.db.session() as session:
        decision, _ = decide_access(session, technician=technician, target=target,
                                    account=None, channel="shell", at=at)
        return decision.codes


def test_live_sessions_count_towards_the_limit(demo_core: Bastion) -> None:
    load(demo_core, EXAMPLES)
    grant_for(demo_core, "jdupont", "dpi-app-01")
    assert ask_shell(demo_core, "jdupont", "dpi-app-01") == ()
    grant_for(demo_core, "jdupont", "dpi-app-01")
    assert ask_shell(demo_core, "jdupont", "dpi-app-01") == ("too_many_sessions",)
    assert ask_shell(demo_core, "mleroy", "dpi-app-01") == ()  # counted per technician
    # The database vendor counts per vendor: one DBA at a time, whoever they work for.
    db_time = NOW + timedelta(days=1, hours=11)  # Wednesday 21:00 in Paris
    assert ask_shell(demo_core, "ptran", "dpi-db-01", db_time) == ()
    grant_for(demo_core, "slambert", "dpi-db-01", at=db_time, hours=1)
    assert ask_shell(demo_core, "ptran", "dpi-db-01", db_time) == ("too_many_sessions",)


def test_a_stored_contract_that_cannot_be_read_denies(demo_core: Bastion) -> None:
    load(demo_core, EXAMPLES)
    with demo_core.db.session() as session:
        version = session.scalars(select(ContractVersion).where(
            ContractVersion.reference == "EDI-2024-07")).one()
        version.document = {**version.document, "scope": "everything"}
    with demo_core.db.session() as session:
        decision, _ = decide_access(session, technician="jdupont", target="dpi-app-01",
                                    account=None, channel="shell", at=NOW)
        assert not decision.allowed and decision.codes == ("contract_unreadable",)


def test_load_and_revoke_on_both_databases(any_core: Bastion, write_contract: Write) -> None:
    add_demo_inventory(any_core)
    path = write_contract(base_document())
    assert load(any_core, path).ok
    grant_id, session_id = grant_for(any_core, "kbenali", "dpi-app-01")
    path.write_text(to_yaml(with_changes({"technicians": base_document()["technicians"][:1]})))
    report = load(any_core, path)
    assert (report.contracts[0].version, report.contracts[0].revoked_grants) == (2, [grant_id])
    assert load(any_core, path).contracts[0].status == "unchanged"
    with any_core.db.session() as session:
        assert session.get(Grant, grant_id).status == "revoked"  # type: ignore[union-attr]
        live = session.get(SshSession, session_id)
        assert live is not None and live.terminate_requested_by == "contract:ACME-1 v2"
        kb = session.scalars(select(Technician).where(Technician.ident == "kbenali")).one()
        assert not kb.active

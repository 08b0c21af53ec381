"""Staff sign-in against a real OpenLDAP slapd: group -> role mapping under the bastion's
separation of duties, accounts the directory disables or drops, and the local
break-glass admin."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import pytest
from sqlalchemy import select
from webauthn import options_to_json

from bastion import approvals
from bastion.approvals import ApprovalError
from bastion.approvals.probation import probation_ends
from bastion.config import load_settings
from bastion.console_sessions import check_session, open_session
from bastion.context import Bastion
from bastion.directory.directory_checks import check_directory_accounts
from bastion.directory.password_step import password_step
from bastion.models import AuditEvent, RoleChange, StaffUser
from tests.conftest import SECOND_FACTOR_OFF, _initialised_core
from tests.harness.slapd import GROUPS, PEOPLE, SlapdServer
from tests.web.conftest import PASSWORD, make_staff, soft_key

from .conftest import ldap_toml

ALICE = "alice's directory password"


def events(core: Bastion, prefix: str = "") -> list[AuditEvent]:
    with core.db.session() as db:
        rows = db.scalars(select(AuditEvent).where(AuditEvent.action.startswith(prefix))
                          .order_by(AuditEvent.id)).all()
        db.expunge_all()
        return list(rows)


def refused(core: Bastion, username: str, password: str) -> ApprovalError:
    with pytest.raises(ApprovalError) as caught:
        password_step(core, username, password, address="192.0.2.7")
    return caught.value


def confirm(core: Bastion, change_id: int, confirmer_id: int) -> None:
    """Another admin confirms a role change with their (software) security key."""
    key = soft_key(core, confirmer_id)
    options = approvals.role_change_options(core, change_id, confirmer_id)
    approvals.confirm_role_change(core, change_id, confirmer_id, key.get(options_to_json(options)))


def staff(core: Bastion, username: str) -> StaffUser:
    with core.db.session() as db:
        user = db.scalar(select(StaffUser).where(StaffUser.username == username))
        assert user is not None
        db.expunge(user)
        return user


def test_a_directory_role_takes_effect_once_another_admin_confirms_it(ldap_core: Bastion) -> None:
    core = ldap_core
    admin = make_staff(core, "bob", ["admin"])  # the local break-glass admin

    error = refused(core, "amartin", ALICE)
    assert error.code == "roles_awaiting_confirmation"
    assert "role change" in error.message and "confirmation" in error.message
    alice = staff(core, "amartin")
    assert (alice.identity_source, alice.external_id) == ("ldap", f"uid=amartin,{PEOPLE}")
    assert alice.full_name == "Alice Martin" and alice.email == "amartin@hopital.example"
    assert alice.granted_roles == set() and alice.password_hash is None
    with core.db.session() as db:
        change = db.scalar(select(RoleChange).where(RoleChange.staff_id == alice.id))
        assert (change.status, change.origin, change.roles_after) == ("pending", "directory",
                                                                      ["approver"])
        change_id = change.id
    proposed = events(core, "staff.role_change_proposed")[-1]
    assert proposed.actor == "directory:ldap"
    assert f"cn=dpi-approvers,{GROUPS}" in proposed.reasons[0]
    refusal = events(core, "staff.sign_in_refused")[-1]
    assert refusal.details["source"] == "ldap" and refusal.details["code"] == "roles_awaiting_confirmation"

    # A second sign-in files nothing new while the change waits.
    assert refused(core, "amartin", ALICE).code == "roles_awaiting_confirmation"
    with core.db.session() as db:
        assert len(db.scalars(select(RoleChange)).all()) == 1

    # Nobody confirms their own directory role: the person is proposer and subject.
    confirm(core, change_id, admin)
    signed = password_step(core, "amartin", ALICE)
    assert (signed.staff_id, signed.source) == (alice.id, "ldap")
    alice = staff(core, "amartin")
    with core.db.session() as db:
        person = db.get(StaffUser, alice.id)
        # Confirmed by an admin, not the DPO: the new approver's probation applies.
        assert probation_ends(person, core.settings.approvals.new_approver_hours) is not None
        # The yearly review of staff roles still holds for directory accounts.
        person.roles_suspended_at = person.created_at
    assert refused(core, "amartin", ALICE).code == "roles_suspended"


def test_wrong_or_empty_password_disabled_or_unmapped_accounts_are_refused(ldap_core: Bastion) -> None:
    core = ldap_core
    wrong = refused(core, "amartin", "not the password")
    assert wrong.code == "sign_in_failed"
    # An empty password would be an LDAP "unauthenticated bind", which slapd accepts.
    assert refused(core, "amartin", "").code == "sign_in_failed"
    assert refused(core, "nobody", "whatever").code == "sign_in_failed"
    disabled = refused(core, "edisabled", "eve's directory password")
    assert disabled.code == "directory_account_disabled"
    assert "disabled in the hospital directory" in disabled.message
    unmapped = refused(core, "fcafe", "fanny's directory password")
    assert unmapped.code == "no_role_in_directory"
    with core.db.session() as db:  # neither got an account
        names = set(db.scalars(select(StaffUser.username)))
    assert names.isdisjoint({"edisabled", "fcafe", "nobody"})
    reasons = [(e.details["code"], e.reasons[-1]) for e in events(core, "staff.sign_in_refused")]
    assert reasons[0][0] == "sign_in_failed" and "directory refused the password" in reasons[0][1]
    assert reasons[1][0] == "sign_in_failed" and "empty password" in reasons[1][1]
    assert ("directory_account_disabled",
            "disabled in the directory (userAccountControl)") in reasons
    assert all(e.details["source"] == "ldap" for e in events(core, "staff.sign_in_refused"))


def _signed_in_directory_approver(core: Bastion) -> tuple[int, str]:
    admin = make_staff(core, "bob", ["admin"])
    refused(core, "amartin", ALICE)
    with core.db.session() as db:
        change_id = db.scalar(select(RoleChange.id))
    confirm(core, change_id, admin)
    staff_id = password_step(core, "amartin", ALICE).staff_id
    token = open_session(core, principal_kind="staff", principal_id=staff_id,
                         lifetime=timedelta(hours=1), user_agent="test", address="192.0.2.7")
    return staff_id, token


def session_state(core: Bastion, staff_id: int, token: str) -> str:
    with core.db.session() as db:
        return check_session(db, token, principal_kind="staff", principal_id=staff_id,
                             idle=timedelta(minutes=15)).reason


def test_removed_from_the_group_loses_role_and_console_sessions_at_the_next_check(
        ldap_core: Bastion, slapd: SlapdServer) -> None:
    core = ldap_core
    staff_id, token = _signed_in_directory_approver(core)
    assert check_directory_accounts(core).disabled == 0  # nothing changed yet
    assert session_state(core, staff_id, token) == "ok"

    slapd.modify(f"dn: cn=dpi-approvers,{GROUPS}\nchangetype: modify\ndelete: member\n"
                 f"member: uid=amartin,{PEOPLE}\n")
    report = check_directory_accounts(core)
    assert (report.checked, report.disabled) == (1, 1)
    assert session_state(core, staff_id, token) == "revoked"
    alice = staff(core, "amartin")
    assert not alice.active and alice.granted_roles == set()
    removed = events(core, "staff.roles_changed")[-1]
    assert removed.actor == "directory:ldap" and removed.details["after"] == []
    assert "no longer puts amartin in a group of approver" in removed.reasons[0]
    disabled = events(core, "staff.disabled_by_directory")[-1]
    assert disabled.reasons == ["no longer in any group mapped to a console role"]
    assert disabled.details["sessions_ended"] == 1
    assert "disabled by the directory" in events(core, "console_session.revoked")[-1].reasons[0]

    # Back in the group: the account comes back, but its role waits for a new confirmation.
    slapd.modify(f"dn: cn=dpi-approvers,{GROUPS}\nchangetype: modify\nadd: member\n"
                 f"member: uid=amartin,{PEOPLE}\n")
    assert refused(core, "amartin", ALICE).code == "roles_awaiting_confirmation"
    assert staff(core, "amartin").active
    assert events(core, "staff.enabled_by_directory")


def test_disabled_in_active_directory_or_deleted_ends_access(ldap_core: Bastion,
                                                              slapd: SlapdServer) -> None:
    core = ldap_core
    admin = make_staff(core, "bob", ["admin"])
    refused(core, "hroux", "hugo's directory password")
    with core.db.session() as db:
        change_id = db.scalar(select(RoleChange.id))
    confirm(core, change_id, admin)
    hugo = password_step(core, "hroux", "hugo's directory password").staff_id
    assert staff(core, "hroux").granted_roles == {"admin", "approver"}
    token = open_session(core, principal_kind="staff", principal_id=hugo,
                         lifetime=timedelta(hours=1), user_agent="test", address=None)

    slapd.modify(f"dn: uid=hroux,{PEOPLE}\nchangetype: modify\nreplace: userAccountControl\n"
                 "userAccountControl: 514\n")
    assert check_directory_accounts(core).disabled == 1
    assert session_state(core, hugo, token) == "revoked"
    assert events(core, "staff.disabled_by_directory")[-1].reasons == [
        "disabled in the directory (userAccountControl)"]
    assert refused(core, "hroux", "hugo's directory password").code == "directory_account_disabled"

    # Re-enabled, then deleted: the next check finds the entry gone.
    slapd.modify(f"dn: uid=hroux,{PEOPLE}\nchangetype: modify\nreplace: userAccountControl\n"
                 "userAccountControl: 512\n")
    refused(core, "hroux", "hugo's directory password")  # re-activated, roles to confirm again
    assert staff(core, "hroux").active
    slapd.modify(f"dn: uid=hroux,{PEOPLE}\nchangetype: delete\n")
    check_directory_accounts(core)
    assert not staff(core, "hroux").active
    assert "entry is gone" in events(core, "staff.disabled_by_directory")[-1].reasons[0]


def test_local_accounts_stay_local_and_can_be_kept_for_admins(
        slapd: SlapdServer, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    core = _initialised_core(load_settings(
        ldap_toml(slapd, tmp_path, extra='[sign_in]\nlocal_passwords = "admins"\n'),
        env=SECOND_FACTOR_OFF))
    try:
        admin = make_staff(core, "bob", ["admin"])
        make_staff(core, "carol", ["approver"])
        # The directory is down? The break-glass admin's local password still works.
        assert password_step(core, "bob", PASSWORD).source == "local"
        error = refused(core, "carol", PASSWORD)
        assert error.code == "local_sign_in_disabled"
        assert "hospital account" in error.message
        # A directory entry never takes over a local account of the same login.
        make_staff(core, "amartin", ["approver"])
        assert refused(core, "amartin", ALICE).code == "sign_in_failed"
        assert admin
    finally:
        core.close()


def test_the_directory_unreachable_or_untrusted_refuses_and_says_so(
        slapd: SlapdServer, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    other_ca = tmp_path / "other-ca.pem"
    # A CA that did not sign the directory's certificate: StartTLS must fail.
    other_ca.write_bytes(Path("/etc/ssl/certs/ca-certificates.crt").read_bytes())
    core = _initialised_core(load_settings(ldap_toml(slapd, tmp_path, ca_file=other_ca),
                                           env=SECOND_FACTOR_OFF))
    try:
        error = refused(core, "amartin", ALICE)
        assert error.code == "directory_unavailable"
        assert "cannot be reached" in error.message
        slapd.halt()
        assert refused(core, "amartin", ALICE).code == "directory_unavailable"
        assert check_directory_accounts(core).checked == 0
        assert events(core, "staff.sign_in_refused")[-1].details["code"] == "directory_unavailable"
    finally:
        core.close()


def test_a_directory_that_cannot_answer_changes_nothing_and_is_audited(
        ldap_core: Bastion, slapd: SlapdServer) -> None:
    core = ldap_core
    staff_id, token = _signed_in_directory_approver(core)
    slapd.halt()
    report = check_directory_accounts(core)
    assert (report.checked, report.disabled, report.narrowed) == (1, 0, 0)
    assert session_state(core, staff_id, token) == "ok"
    assert staff(core, "amartin").granted_roles == {"approver"}
    failed = events(core, "directory.check_failed")
    assert len(failed) == 1 and "cannot be reached" in failed[0].reasons[0]
    assert refused(core, "amartin", ALICE).code == "directory_unavailable"


def test_config_check_says_whether_the_directory_answers(ldap_core: Bastion, slapd: SlapdServer) -> None:
    from bastion.cli.config import _directory_findings

    assert [f.level for f in _directory_findings(ldap_core.settings)] == ["ok"]
    slapd.halt()
    [finding] = _directory_findings(ldap_core.settings)
    assert finding.level == "error" and "cannot be reached" in finding.text

"""The yearly review of staff roles, through the operator's ``bastion`` command and the
console: due roles are flagged; past the grace period they are suspended (the console signs
the person out, the CLI refuses them) until another admin or the DPO confirms them."""

from __future__ import annotations

from datetime import timedelta

from click.testing import CliRunner
from flask.testing import FlaskClient
from sqlalchemy import select

from bastion.access_review.staff_roles import suspend_unreviewed_staff
from bastion.cli import main_group
from bastion.context import Bastion
from bastion.models import AuditEvent, StaffUser, utcnow
from tests.conftest import SECOND_FACTOR_OFF

from .conftest import People


def cli(core: Bastion, *args: str):  # type: ignore[no-untyped-def]
    env = {"BASTION_PATHS__VAR_DIR": str(core.settings.var_dir), **SECOND_FACTOR_OFF}
    return CliRunner().invoke(main_group, list(args), env=env)


def age(core: Bastion, username: str, days: int) -> None:
    with core.db.session() as db:
        db.scalar(select(StaffUser).where(StaffUser.username == username)).created_at = (
            utcnow() - timedelta(days=days))


def test_unreviewed_roles_are_flagged_then_suspended_until_confirmed(
        core: Bastion, people: People, client: FlaskClient, sign_in_as) -> None:  # type: ignore[no-untyped-def]
    age(core, "bob", 370)
    flags = cli(core, "reports", "flags", "--kind", "access_review", "--language", "en")
    assert "Roles of bob not confirmed since never: roles suspended on" in flags.output
    assert "alice" not in flags.output
    assert suspend_unreviewed_staff(core) == []  # in the grace period

    sign_in_as("admin")
    assert client.get("/admin/staff").status_code == 200
    age(core, "bob", 400)
    assert suspend_unreviewed_staff(core) == ["bob"]
    # The console: bob's next click finds no role in force, and he is signed out.
    assert client.get("/admin/staff").status_code in (302, 401, 403)
    # The command line: bob cannot act, nor confirm himself.
    refused = cli(core, "--as", "bob", "access-review", "confirm-staff", "bob")
    assert refused.exit_code == 1 and "operator 'bob' is neither admin nor DPO" in refused.output
    assert "Roles of bob not confirmed since never: roles SUSPENDED" in cli(
        core, "reports", "flags", "--kind", "access_review", "--language", "en").output
    listed = cli(core, "access-review", "staff")
    assert listed.exit_code == 0 and "bob" in listed.output and "roles SUSPENDED" in listed.output

    # Without naming the reviewer, while reviewers are in force: refused.
    anonymous = cli(core, "access-review", "confirm-staff", "bob")
    assert anonymous.exit_code == 1 and "name the reviewer with --as USERNAME" in anonymous.output
    # The DPO reviews; not her own roles, though.
    own = cli(core, "--as", "chloe", "access-review", "confirm-staff", "chloe")
    assert own.exit_code == 1 and "nobody confirms their own roles" in own.output
    done = cli(core, "--as", "chloe", "access-review", "confirm-staff", "bob",
               "--comment", "administrateur du parc DPI")
    assert done.exit_code == 0, done.output
    assert "roles of bob confirmed: admin" in done.output
    with core.db.session() as db:
        bob = db.scalar(select(StaffUser).where(StaffUser.username == "bob"))
        assert bob.role_names == {"admin"} and bob.roles_suspended_at is None
        events = {e.action: e for e in db.scalars(select(AuditEvent)
                                                   .where(AuditEvent.action.like("access_review.staff%")))}
    assert events["access_review.staff_suspended"].details["username"] == "bob"
    confirmed = events["access_review.staff_confirmed"]
    assert confirmed.actor == "staff:chloe" and confirmed.details["lifted_suspension"] is True
    assert "Roles of bob" not in cli(core, "reports", "flags", "--kind", "access_review",
                                     "--language", "en").output
    sign_in_as("admin")
    assert client.get("/admin/staff").status_code == 200

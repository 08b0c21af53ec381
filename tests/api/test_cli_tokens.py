"""``bastion tokens create/list/revoke`` as an operator runs them; the token works at once
and stops working when revoked."""

from __future__ import annotations

from pathlib import Path

from click.testing import CliRunner

from bastion.cli import main_group
from tests.approvals.conftest import audit_events

from .conftest import ApiWorld
from .test_auth import assert_error


def cli(tmp_path: Path, *args: str):
    env = {"BASTION_PATHS__VAR_DIR": str(tmp_path / "var")}
    return CliRunner().invoke(main_group, ["tokens", *args], env=env, catch_exceptions=False)


def test_create_list_revoke(api: ApiWorld, tmp_path: Path) -> None:
    created = cli(tmp_path, "create", "glpi ticketing", "--staff", "erin", "--expires", "30")
    assert created.exit_code == 0, created.output
    token = created.stdout.strip()
    assert token.startswith("bst_") and "\n" not in token  # stdout holds the token alone
    assert "shown only now" in created.stderr
    assert api.as_token(token).get("/sessions").status_code == 200

    listed = cli(tmp_path, "list").stdout
    assert "glpi ticketing" in listed and "erin" in listed and "active" in listed
    assert token not in listed and token[:8] in listed and "last used" in listed

    assert cli(tmp_path, "revoke", "1").exit_code != 0  # a reason is required
    revoked = cli(tmp_path, "revoke", "1", "--reason", "GLPI replaced")
    assert revoked.exit_code == 0 and "revoked" in revoked.stdout
    assert_error(api.as_token(token).get("/sessions"), 401, "unauthenticated")
    assert "revoked" in cli(tmp_path, "list", "--staff", "erin").stdout
    again = cli(tmp_path, "revoke", "1", "--reason", "twice")
    assert again.exit_code == 1 and "already revoked" in again.stderr
    assert [e.actor.startswith("cli:") for e in audit_events(api.core, "api_token.created")] == [True]
    assert len(audit_events(api.core, "api_token.revoked")) == 1


def test_create_refuses_unknown_staff_and_bad_expiry(api: ApiWorld, tmp_path: Path) -> None:
    unknown = cli(tmp_path, "create", "x", "--staff", "nobody")
    assert unknown.exit_code == 1 and "no staff user nobody" in unknown.stderr
    assert cli(tmp_path, "create", "x", "--staff", "erin", "--expires", "400").exit_code == 2

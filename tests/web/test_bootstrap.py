"""The bootstrap: ``bastion init`` creates the first admin (no second person exists yet) and
prints the one-time link with which they register their security key in the console;
``bastion staff add`` (a local operator) grants roles at once, audited and told to the
DPO. Run as real subprocesses, then the real console on the same database."""

from __future__ import annotations

from pathlib import Path

import pytest
from sqlalchemy import select

from bastion.context import Bastion
from bastion.models import AuditEvent, NotificationOutbox, StaffUser
from tests.approvals.authenticator import SoftAuthenticator
from tests.conftest import make_settings
from tests.foundation.test_cli import run
from web import create_app

from .conftest import PASSWORD, csrf_from


def link_in(output: str) -> str:
    [line] = [line for line in output.splitlines() if "enrolment link" in line]
    return line.split("http://localhost:8080", 1)[1].strip()


def test_the_first_admin_enrols_with_the_link_init_prints(tmp_path: Path,
                                                          monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    (tmp_path / "password").write_text(PASSWORD + "\n")
    first = run(tmp_path, "init", "--password-file", str(tmp_path / "password"), check=True)
    link = link_in(first.stdout)
    assert link.startswith("/enrol/")

    smtp = {"BASTION_SMTP__HOST": "127.0.0.1"}
    run(tmp_path, "staff", "add", "chloe", "--name", "Chloé Petit", "--role", "dpo",
        "--email", "chloe@chu.example", "--password-file", str(tmp_path / "password"),
        env=smtp, check=True)
    added = run(tmp_path, "staff", "add", "alice", "--name", "Alice Martin", "--role", "approver",
                "--password-file", str(tmp_path / "password"), env=smtp, check=True)
    assert "/enrol/" in added.stdout

    core = Bastion.from_settings(make_settings(tmp_path), node="test-node")
    try:
        with core.db.session() as db:
            alice = db.scalar(select(StaffUser).where(StaffUser.username == "alice"))
            # A local operator's roles count at once (no probation): they are vouched for.
            assert [(r.role, r.vouched_at is not None) for r in alice.roles] == [("approver", True)]
            told = db.scalars(select(NotificationOutbox.subject)
                              .where(NotificationOutbox.kind == "staff.roles",
                                     NotificationOutbox.recipient == "chloe@chu.example")).all()
            assert any("alice" in subject for subject in told)
            assert db.scalar(select(AuditEvent).where(
                AuditEvent.action == "staff.enrolment_link_issued")) is not None

        client = create_app(core, {"TESTING": True}).test_client()
        assert client.get(link).location == "/sign-in"
        token = csrf_from(client.get("/sign-in").get_data(as_text=True))
        step = client.post("/sign-in", data={"username": "admin", "password": PASSWORD,
                                             "csrf_token": token})
        assert step.location == "/sign-in/enrol"
        headers = {"X-CSRFToken": csrf_from(client.get("/sign-in/enrol").get_data(as_text=True))}
        options = client.post("/sign-in/enrol/options", headers=headers).get_json()["options"]
        key = SoftAuthenticator(core.settings.web.public_url)
        enrolled = client.post("/sign-in/enrol/verify", headers=headers,
                               json={"credential": key.create(options), "name": "admin key"})
        assert enrolled.get_json() == {"redirect": "/sign-in/key"}
        options = client.post("/sign-in/key/options", headers=headers).get_json()["options"]
        signed = client.post("/sign-in/key/verify", headers=headers,
                             json={"credential": key.get(options)})
        assert signed.status_code == 200, signed.get_json()
        assert client.get("/admin/staff").status_code == 200
    finally:
        core.close()

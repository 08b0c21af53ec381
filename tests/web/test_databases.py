"""The console's queries on both databases the bastion supports (SQLite and PostgreSQL)."""

from __future__ import annotations

from bastion.context import Bastion
from web import create_app

from .conftest import make_staff, make_technician, session_for
from .seed import seed_activity, seed_inventory, seed_vendors


def test_every_page_answers_on_both_databases(any_core: Bastion) -> None:
    app = create_app(any_core, {"TESTING": True})
    seed_inventory(any_core)
    make_technician(any_core)
    technicians = seed_vendors(any_core)
    seed_activity(any_core, technicians["jdupont"])
    staff = make_staff(any_core, "bob", ["admin", "approver", "dpo"])

    class Everyone:  # the ids session_for needs for a signed-in admin
        admin = staff

    client = app.test_client()
    with client.session_transaction() as stored:
        stored.update(session_for(app, "admin", Everyone))  # type: ignore[arg-type]
    for path in ("/", "/vendors", "/targets", "/targets/1", "/admin/staff", f"/admin/staff/{staff}",
                 "/audit", "/audit?actor=SEED&action=target.&outcome=ok&start=2020-01-01&end=2099-01-01",
                 "/audit/integrity", "/account/keys"):
        response = client.get(path)
        assert response.status_code == 200, (path, response.status_code)
    page = client.get("/audit?actor=SEED&action=target.").get_data(as_text=True)
    assert page.count("target.created") == 3  # actor filter is case-insensitive on both
    assert "INC-4242" in client.get("/").get_data(as_text=True)

"""The console's target form: a target that does not say what data it holds is refused."""

from __future__ import annotations

from flask.testing import FlaskClient

from bastion.context import Bastion
from bastion.models import AuditEvent, Target

from .seed import host_key_line
from .test_admin import form_post


def test_a_target_without_data_categories_is_refused(client: FlaskClient, core: Bastion,
                                                     sign_in_as) -> None:  # type: ignore[no-untyped-def]
    sign_in_as("admin")
    response = form_post(client, "/targets/new", "/targets/new", {
        "name": "dpi-app-11", "host": "10.20.0.11", "port": "22", "host_key": host_key_line(),
        "accounts": "maint"})
    assert response.status_code == 400
    assert "target dpi-app-11 has no data category" in response.get_data(as_text=True)
    with core.db.session() as db:
        assert db.query(Target).count() == 0
        assert db.query(AuditEvent).filter_by(action="target.created").count() == 0

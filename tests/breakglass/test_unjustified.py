"""An emergency access the DPO judges unjustified, through the console: the technician is
suspended (the decision point refuses them, naming the review) and the vendor's contract
owner named in the contract gets an e-mail; without that contact, the audit says so."""

from __future__ import annotations

from sqlalchemy import select

from bastion.contracts import decide_access
from bastion.models import Grant, NotificationOutbox, utcnow
from tests.approvals.conftest import audit_events, load_contract
from tests.web.conftest import csrf_from

from .conftest import break_glass_contract
from .test_console import Console, console, declare  # noqa: F401 - fixture

OWNER = "contrats@acme.example"


def _close_unjustified(console: Console, review_id: int) -> None:  # noqa: F811
    url = f"/dpo/break-glass/{review_id}"
    console.sign_in("dpo")
    page = console.page(url)
    response = console.client.post(url, data={
        "verdict": "unjustified", "comment": "Planned upgrade declared as an emergency.",
        "csrf_token": csrf_from(page)})
    assert response.status_code == 302


def test_unjustified_suspends_the_technician_and_tells_the_contract_owner(
        console: Console) -> None:  # noqa: F811
    core = console.world.core
    document = break_glass_contract()
    document["vendor"]["contract_owner_email"] = OWNER
    load_contract(core, document)
    core.settings = core.settings.with_changes("smtp", host="127.0.0.1")
    access = declare(console.world)
    with core.db.session() as s:
        before, _ = decide_access(s, technician="jdupont", target="dpi-app-01", account=None,
                                  channel="request", at=utcnow())
    assert before.allowed, before.reasons
    _close_unjustified(console, access.review_id)
    with core.db.session() as s:
        after, _ = decide_access(s, technician="jdupont", target="dpi-app-01", account=None,
                                 channel="request", at=utcnow())
        mail = s.scalars(select(NotificationOutbox)
                         .where(NotificationOutbox.kind == "break_glass.unjustified")).one()
    assert not after.allowed and after.codes == ("technician_inactive",)
    assert (f"break-glass review {access.review_id} judged unjustified by the DPO"
            in after.reasons[0])
    assert "Planned upgrade declared as an emergency." in after.reasons[0]
    assert after.headline == "your access is suspended; contact the hospital's IT"
    assert mail.recipient == OWNER and "jdupont suspended" in mail.subject
    assert "Planned upgrade declared as an emergency." in mail.body
    (suspended,) = audit_events(core, "technician.suspended")
    assert suspended.actor == "staff:diane" and suspended.technician == "jdupont"
    assert audit_events(core, "break_glass.owner_told")
    # The emergency grant still open is revoked with the verdict, its sessions closed.
    with core.db.session() as s:
        grant = s.get(Grant, access.grant.id)
        assert grant.status == "revoked" and after.reasons[0].endswith(grant.revoke_reason)
    (revoked,) = audit_events(core, "grant.revoked")
    assert revoked.actor == "staff:diane" and revoked.technician == "jdupont"
    # Reloading the contract does not lift the suspension: IT does, deliberately.
    document["scope"]["max_session_minutes"] = 200  # a new version, not an unchanged file
    load_contract(core, document)
    with core.db.session() as s:
        again, _ = decide_access(s, technician="jdupont", target="dpi-app-01", account=None,
                                 channel="request", at=utcnow())
    assert again.codes == ("technician_inactive",)


def test_without_a_contract_owner_the_audit_says_nobody_was_told(console: Console) -> None:  # noqa: F811
    access = declare(console.world)
    _close_unjustified(console, access.review_id)
    (event,) = audit_events(console.world.core, "break_glass.owner_not_told")
    assert "the contract names no contract_owner_email" in event.reasons[0]

"""The review's effect with real parts: the real ``ssh`` client through the running proxy
to a real sshd. An access not confirmed by the deadline is refused at the technician's
next connection with the review's reason; a confirmed one keeps working."""

from __future__ import annotations

from sqlalchemy import select

from bastion.access_review import close_overdue_campaigns, confirm_line, get_campaign, open_campaign
from bastion.models import AuditEvent, Grant
from tests.access_review.conftest import DPO, after, tomorrow
from tests.proxy.conftest import Scenario, scenario  # noqa: F401 - the fixture, used below


def test_unconfirmed_access_is_refused_at_the_next_ssh(scenario: Scenario) -> None:  # noqa: F811
    core = scenario.core
    live = scenario.grant()
    before = scenario.ssh("echo before-review")
    assert before.returncode == 0 and before.stdout == b"before-review\n", before.stderr

    deadline = tomorrow()
    campaign = open_campaign(core, vendor="editeur", deadline=deadline, actor=DPO)
    assert campaign.total == 1  # jdupont on dpi-app-01 with the test account
    report = close_overdue_campaigns(core, now=after(deadline))
    assert [x.technician for x in report.suspended] == ["jdupont"]
    assert report.grants_revoked == (live,)

    # No grant left, and the contracts engine refuses before any request can be filed.
    result = scenario.ssh("echo after-review")
    assert result.returncode != 0 and b"after-review" not in result.stdout
    expected = (f"refused: access to dpi-app-01 suspended by access review {campaign.id}: "
                f"not confirmed by {deadline:%d/%m/%Y}")  # the technician's date format
    assert expected in result.stderr.decode(), result.stderr
    with core.db.session() as s:
        refusal = s.scalars(select(AuditEvent).where(AuditEvent.action == "channel.refused")
                            .order_by(AuditEvent.id.desc())).first()
        assert refusal is not None and refusal.technician == "jdupont"
        assert refusal.details.get("codes") == ["access_suspended"], refusal.details
        assert s.get(Grant, live).status == "revoked"


def test_confirmed_access_keeps_working(scenario: Scenario) -> None:  # noqa: F811
    core = scenario.core
    deadline = tomorrow()
    campaign = open_campaign(core, vendor="editeur", deadline=deadline, actor=DPO)
    [line] = get_campaign(core, campaign.id).lines
    confirm_line(core, line.id, actor=DPO, comment="contrat de maintenance reconduit")
    report = close_overdue_campaigns(core, now=after(deadline))
    assert report.suspended == () and report.grants_revoked == ()
    scenario.grant()
    result = scenario.ssh("echo still-allowed")
    assert result.returncode == 0 and result.stdout == b"still-allowed\n", result.stderr

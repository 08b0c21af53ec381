"""Access reviews that cannot be forgotten, with the real ``ssh`` and the operator's
``bastion reports flags``: a vendor a year without a confirmed review is flagged; past the
grace period it is suspended and its technician refused; a confirmed review reinstates it."""

from __future__ import annotations

from datetime import timedelta

from click.testing import CliRunner
from sqlalchemy import select

from bastion.access_review import confirm_line, get_campaign, open_campaign
from bastion.access_review.yearly import suspend_unreviewed_vendors
from bastion.cli import main_group
from bastion.models import AuditEvent, Grant, Vendor, utcnow
from tests.access_review.conftest import DPO, tomorrow
from tests.conftest import SECOND_FACTOR_OFF
from tests.proxy.conftest import Scenario, scenario  # noqa: F401 - the fixture, used below


def age_vendor(world: Scenario, days: int) -> None:
    """The vendor came in ``days`` ago and nobody reviewed its accesses since."""
    with world.core.db.session() as s:
        vendor = s.scalar(select(Vendor).where(Vendor.slug == "editeur"))
        vendor.created_at = utcnow() - timedelta(days=days)


def flags(world: Scenario) -> str:
    result = CliRunner().invoke(main_group, ["reports", "flags", "--kind", "access_review",
                                             "--language", "en"],
                                env={"BASTION_PATHS__VAR_DIR": str(world.core.settings.var_dir),
                                     **SECOND_FACTOR_OFF})
    assert result.exit_code == 0, result.output
    return result.output


def test_a_recent_vendor_is_not_flagged(scenario: Scenario) -> None:  # noqa: F811
    assert "access_review" not in flags(scenario)
    assert suspend_unreviewed_vendors(scenario.core) == []


def test_flagged_after_a_year_then_suspended_after_the_grace_period(scenario: Scenario) -> None:  # noqa: F811
    core = scenario.core
    scenario.grant()
    age_vendor(scenario, 370)  # due at 365 days, suspended at 365 + 30
    suspend_date = (utcnow() - timedelta(days=370) + timedelta(days=395)).date().isoformat()
    assert (f"No access review confirmed for editeur since never: accesses suspended on "
            f"{suspend_date}") in flags(scenario)
    assert suspend_unreviewed_vendors(core) == []  # still within the grace period
    assert scenario.ssh("echo in-grace").returncode == 0

    age_vendor(scenario, 400)
    assert suspend_unreviewed_vendors(core) == ["editeur"]
    assert suspend_unreviewed_vendors(core) == []  # once
    assert "No access review confirmed for editeur since never: accesses SUSPENDED" in flags(scenario)
    refused = scenario.ssh("echo suspended")
    assert refused.returncode != 0 and b"suspended\n" not in refused.stdout
    assert ("refused: your company's accesses are suspended until the hospital reviews them; "
            "contact the hospital's IT") in refused.stderr.decode()
    with core.db.session() as s:
        [suspension] = s.scalars(select(AuditEvent).where(
            AuditEvent.action == "access_review.vendor_suspended")).all()
        assert suspension.vendor == "editeur" and "since never" in suspension.reasons[0]
        # What was already granted ends too, not only what comes next.
        [grant] = s.scalars(select(Grant)).all()
        assert grant.status == "revoked"
        assert grant.revoke_reason == "vendor editeur suspended: no access review confirmed since never"
        refusal = s.scalars(select(AuditEvent).where(AuditEvent.action == "channel.refused")).first()
        assert refusal is not None and refusal.details.get("codes") == ["access_review_overdue"]

    # The review: the DPO confirms the access; the vendor is reinstated at once.
    campaign = open_campaign(core, vendor="editeur", deadline=tomorrow(), actor=DPO)
    [line] = get_campaign(core, campaign.id).lines
    confirm_line(core, line.id, actor=DPO, comment="contrat reconduit")
    assert "access_review" not in flags(scenario)
    # The revoked grant stays revoked: access again is a new, approved request.
    assert scenario.ssh("echo still-revoked").returncode != 0
    scenario.grant()
    result = scenario.ssh("echo reviewed")
    assert result.returncode == 0 and result.stdout == b"reviewed\n", result.stderr
    with core.db.session() as s:
        assert s.scalar(select(AuditEvent).where(AuditEvent.action == "access_review.vendor_reinstated"))

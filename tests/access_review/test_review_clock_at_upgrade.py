"""Upgrading an install older than a year must not suspend every vendor and staff member
on the first housekeeping round: rows that exist at the upgrade are counted from it."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

from alembic import command
from sqlalchemy import text

from bastion.access_review.staff_roles import staff_reviews
from bastion.access_review.yearly import vendor_reviews
from bastion.config import AccessReviewSettings
from bastion.db import Database
from bastion.models import utcnow

BEFORE = "0009_technicians_portal_lockout"


def test_rows_older_than_a_year_are_counted_from_the_upgrade(tmp_path: Path) -> None:
    db = Database(f"sqlite:///{tmp_path / 'old.db'}")
    config = db._alembic_config()  # noqa: SLF001 - the schema as an older release left it
    with db.engine.connect() as connection:
        config.attributes["connection"] = connection
        command.upgrade(config, BEFORE)
        connection.commit()
    two_years_ago = (utcnow() - timedelta(days=730)).replace(tzinfo=None)
    with db.engine.begin() as connection:
        connection.execute(text("INSERT INTO vendors (slug, name, created_at) "
                                "VALUES ('ancien', 'Ancien SAS', :at)"), {"at": two_years_ago})
        vendor_id = connection.execute(text("SELECT id FROM vendors")).scalar_one()
        connection.execute(text(
            "INSERT INTO technicians (ident, vendor_id, full_name, email, employer, active, created_at) "
            "VALUES ('tech', :v, 'Tech', 't@example.org', 'Ancien SAS', 1, :at)"),
            {"v": vendor_id, "at": two_years_ago})
    db.upgrade()
    settings = AccessReviewSettings()
    with db.session() as session:
        [vendor] = vendor_reviews(session, settings)
        people = staff_reviews(session, settings)
    upgraded = utcnow()
    # Due a year after the upgrade, not a year after the vendor came in (long past).
    assert abs((vendor.due_at - (upgraded + timedelta(days=settings.every_days))).total_seconds()) < 600
    assert people == []
    db.dispose()

"""The request and the grant record the target's data categories in force when they were
made: a later reclassification does not rewrite what an approver saw and approved."""

from __future__ import annotations

from bastion.audit import Actor
from bastion.inventory import reclassify_target

from .conftest import World, audit_events


def test_request_and_grant_events_carry_the_categories_of_their_time(world: World) -> None:
    request = world.file()
    world.approve(request.id, "alice")
    with world.core.db.session() as s:
        reclassify_target(s, world.core.audit, name="dpi-app-01", data_categories=["technical"],
                          reason="CHG-77: patient data moved off this server",
                          actor=Actor("cli:admin", "admin"))
    [filed] = audit_events(world.core, "request.filed")
    [created] = audit_events(world.core, "grant.created")
    assert filed.details["data_categories"] == ["administrative", "technical"]
    assert created.details["data_categories"] == ["administrative", "technical"]
    [changed] = audit_events(world.core, "target.reclassified")
    assert changed.details == {"before": ["administrative", "technical"],
                               "data_categories": ["technical"],
                               "reason": "CHG-77: patient data moved off this server"}

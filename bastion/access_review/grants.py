"""Ending live grants of accesses a review suspended or revoked. Through the approvals'
``revoke_grant``: the same effect and audit event as a revocation from the console (no new
connection; live sessions closed by their proxy node within 2 seconds)."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import select

from bastion.approvals import LIVE_STATES, ApprovalError, revoke_grant
from bastion.approvals.ungrantable import recheck_pending
from bastion.audit import Actor
from bastion.context import Bastion
from bastion.models import Grant

from .suspensions import blocking_decision


def revoke_blocked_grants(core: Bastion, *, actor: Actor, now: datetime) -> list[int]:
    """Revoke every live grant whose access a review now blocks; returns their ids.
    Idempotent: run after each suspension or revocation, and again by the periodic
    close-overdue, so a crash between the two transactions leaves nothing live."""
    with core.db.session() as session:
        # Every approved or active grant, even one past its end that housekeeping has not
        # marked ended yet: revoking it is harmless, missing one is not.
        live = session.scalars(select(Grant).where(Grant.status.in_(LIVE_STATES))
                               .order_by(Grant.id))
        doomed = []
        for grant in live:
            blocked = blocking_decision(session, technician_id=grant.technician_id,
                                        target_id=grant.target_id, account=grant.account_name)
            if blocked is not None:
                doomed.append((grant.id, blocked.reason))
    revoked = []
    for grant_id, reason in doomed:
        try:
            revoke_grant(core, grant_id, actor=actor, reason=reason, now=now)
        except ApprovalError as exc:
            if exc.code != "grant_not_revocable":  # ended or revoked meanwhile: nothing to do
                raise
        else:
            revoked.append(grant_id)
    return revoked


def refuse_blocked_requests(core: Bastion, *, actor: Actor, now: datetime) -> list[int]:
    """Pending requests for an access a review now blocks leave the approvers' queue."""
    with core.db.session() as session:
        return recheck_pending(session, core.audit, trigger="access review", actor=actor, now=now)

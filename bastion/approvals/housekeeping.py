"""The periodic chores of the approvals core, for the server's scheduler (any node, any
time: each step is idempotent and takes row locks)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import delete, or_

from bastion.context import Bastion
from bastion.models import WebAuthnChallenge, utcnow

from .grants import end_expired_grants
from .requests import expire_pending_requests

CHALLENGE_RETENTION = timedelta(days=1)


@dataclass(frozen=True)
class HousekeepingReport:
    expired_requests: list[int]
    ended_grants: list[int]
    purged_challenges: int


def purge_challenges(core: Bastion, now: datetime | None = None) -> int:
    """Forget spent or expired challenges, except those that carried an approval: these
    (nonce, content digest, assertion) are the approver's proof and are kept."""
    cutoff = (now or utcnow()) - CHALLENGE_RETENTION
    with core.db.session() as session:
        result = session.execute(
            delete(WebAuthnChallenge)
            .where(WebAuthnChallenge.expires_at < cutoff,
                   or_(WebAuthnChallenge.purpose != "approval",
                       WebAuthnChallenge.outcome.is_(None),
                       WebAuthnChallenge.outcome != "ok"))
            .execution_options(synchronize_session=False))
        return int(result.rowcount or 0)  # type: ignore[attr-defined]


def run_housekeeping(core: Bastion, now: datetime | None = None) -> HousekeepingReport:
    now = now or utcnow()
    return HousekeepingReport(expire_pending_requests(core, now), end_expired_grants(core, now),
                              purge_challenges(core, now))

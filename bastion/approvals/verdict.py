"""Asking the contracts engine about a request: the one policy decision point.

The engine answers for the window as a whole (channel ``request``); the channels a
request names are then held against the constraints the engine returned, so a request
can never be granted a channel its contract does not allow.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy.orm import Session

from bastion.contracts import REQUEST, Constraints, decide_access
from bastion.i18n.marker import N_, Phrase, phrase_from_dict, phrase_to_dict
from bastion.models import ContractVersion


def verdict_phrase(found: Assessment) -> Phrase | None:
    """The verdict's one line, as the engine phrased it (None for a verdict without)."""
    stored = found.verdict.get("phrase")
    try:
        return phrase_from_dict(stored) if isinstance(stored, dict) else None
    except (KeyError, TypeError, ValueError):
        return None


@dataclass(frozen=True)
class Assessment:
    allowed: bool
    verdict: dict[str, Any]  # stored as access_requests.verdict and shown to approvers
    reasons: tuple[str, ...]
    headline: str
    constraints: Constraints | None
    version: ContractVersion | None

    @property
    def account(self) -> str | None:
        return self.constraints.account if self.constraints is not None else None


def assess(session: Session, *, technician: str, target: str, account: str | None,
           start: datetime, end: datetime | None, channels: Sequence[str], now: datetime,
           break_glass: bool = False) -> Assessment:
    """``end`` None: the contract's ceiling for a window starting at ``start`` (its
    constraints' ``latest_end``). Otherwise the window is granted whole or refused."""
    decision, version = decide_access(
        session, technician=technician, target=target, account=account, channel=REQUEST,
        at=start, window_end=end, break_glass=break_glass, whole_window=not break_glass)
    verdict: dict[str, Any] = decision.to_dict()
    verdict["checked_at"] = now.isoformat()
    verdict["contract_version"] = version.version if version is not None else None
    verdict["channels_requested"] = sorted(set(channels))
    allowed, reasons, headline = decision.allowed, list(decision.reasons), decision.headline
    constraints = decision.constraints
    if allowed and constraints is not None:
        refused = sorted(set(channels) - constraints.channels)
        if refused:
            allowed = False
            details = [Phrase.of(N_("channel {channel} is not allowed by contract {contract}"),
                                 channel=name, contract=decision.contract_reference)
                       for name in refused]
            reasons = [detail.english() for detail in details]
            headline = reasons[0]
            verdict.update(allowed=False, reasons=reasons, summary=f"refused: {headline}",
                           phrase=phrase_to_dict(details[0]),
                           details=[phrase_to_dict(detail) for detail in details],
                           codes=["channel_not_allowed"] * len(refused), constraints=None)
            constraints = None
    return Assessment(allowed, verdict, tuple(reasons), headline, constraints, version)

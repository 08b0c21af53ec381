"""Which accesses does a vendor's contract allow today? One line per technician x target x
account, asked of the contracts engine (the one policy decision point), never worked out
here. Pure: the caller passes the contract, the inventory and the instant.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime

from bastion.contracts import REQUEST, AccessQuery, Contract, TargetFacts, decide

# A review asks whether an access is still needed, not whether it is open this minute: a
# refusal only because no maintenance window is open now still counts as allowed.
MOMENTARY_CODES = frozenset({"outside_window"})


@dataclass(frozen=True, order=True)
class AccessLine:
    technician: str
    target: str
    account: str


def is_allowed_in_principle(contract: Contract, query: AccessQuery) -> bool:
    decision = decide(contract, query)
    return decision.allowed or (bool(decision.codes) and set(decision.codes) <= MOMENTARY_CODES)


def allowed_lines(contract: Contract, technicians: Iterable[str], targets: Iterable[TargetFacts],
                  at: datetime) -> list[AccessLine]:
    """Every (technician, target, account) the contract allows at ``at``, sorted. Each
    account is asked about by name, so a target with two allowed accounts gives two lines
    (asking without one would be refused as ambiguous)."""
    targets = list(targets)
    lines = []
    for technician in technicians:
        for target in targets:
            for account in target.accounts:
                query = AccessQuery(technician=technician, target=target, account=account,
                                    channel=REQUEST, at=at)
                if is_allowed_in_principle(contract, query):
                    lines.append(AccessLine(technician, target.name, account))
    return sorted(lines)

"""Yearly access review: per vendor, the admin or the DPO confirms, technician by
technician and target by target, that each access the contract allows is still needed.
What is not confirmed by the deadline is suspended: the contracts engine refuses it
(``decide_access``) and live grants are revoked. Everything is audited.

The server's housekeeping calls :func:`close_overdue_campaigns` periodically.
"""

from .allowed import AccessLine, allowed_lines
from .campaigns import (
    CloseReport,
    close_overdue_campaigns,
    confirm_line,
    due_instant,
    open_campaign,
    revoke_line,
)
from .errors import ReviewError
from .grants import revoke_blocked_grants
from .suspensions import Suspension, blocking_decision
from .views import (
    Attention,
    CampaignDetail,
    CampaignInfo,
    LineInfo,
    get_campaign,
    list_campaigns,
    needing_attention,
)

__all__ = [
    "AccessLine",
    "Attention",
    "CampaignDetail",
    "CampaignInfo",
    "CloseReport",
    "LineInfo",
    "ReviewError",
    "Suspension",
    "allowed_lines",
    "blocking_decision",
    "close_overdue_campaigns",
    "confirm_line",
    "due_instant",
    "get_campaign",
    "list_campaigns",
    "needing_attention",
    "open_campaign",
    "revoke_blocked_grants",
    "revoke_line",
]

"""Break-glass (*bris de glace*): emergency access that opens at once, without approval,
for a short fixed time, recorded like any session, announced at once to approvers and the
DPO, and reviewed afterwards by the DPO.

The SSH front (a technician's prompt) and the console (staff declaring for a technician)
both call :func:`declare_break_glass`; the DPO's pages call the review functions. Every
function opens its own transaction(s), blocks (use ``asyncio.to_thread`` from an event
loop), returns frozen views and refuses with a :class:`BreakGlassError` subclass.
"""

from .acknowledge import (
    ASKED,
    AcknowledgementAsked,
    AcknowledgementInfo,
    acknowledge,
    acknowledgement_options,
    acknowledgement_page,
    acknowledgement_state,
    give_up,
)
from .declare import DECLARING_ROLES, SOURCES, declare_break_glass
from .errors import (
    AlreadyOpen,
    BreakGlassError,
    BreakGlassRefused,
    InvalidInput,
    JustificationTooShort,
    NotAllowedToDeclare,
    NotTheReviewer,
    ReviewAlreadyClosed,
    ReviewNotFound,
    UnknownTarget,
    UnknownTechnician,
)
from .notify import DECLARED
from .reviews import STATES, close_review, get_review, list_reviews, overdue_reviews, review_for_request
from .views import VERDICTS, BreakGlassAccess, ReviewInfo

__all__ = [
    "ASKED",
    "AcknowledgementAsked",
    "AcknowledgementInfo",
    "acknowledge",
    "acknowledgement_options",
    "acknowledgement_page",
    "acknowledgement_state",
    "give_up",
    "DECLARED",
    "DECLARING_ROLES",
    "SOURCES",
    "STATES",
    "VERDICTS",
    "AlreadyOpen",
    "BreakGlassAccess",
    "BreakGlassError",
    "BreakGlassRefused",
    "InvalidInput",
    "JustificationTooShort",
    "NotAllowedToDeclare",
    "NotTheReviewer",
    "ReviewAlreadyClosed",
    "ReviewInfo",
    "ReviewNotFound",
    "UnknownTarget",
    "UnknownTechnician",
    "close_review",
    "declare_break_glass",
    "get_review",
    "list_reviews",
    "overdue_reviews",
    "review_for_request",
]

"""The bastion's data model (SQLAlchemy 2.x typed mappings).

Every table is created and changed only by Alembic migrations (``bastion/migrations``).
"""

from .access import (
    GRANT_STATES,
    REQUEST_STATES,
    AccessRequest,
    BreakGlassAcknowledgement,
    BreakGlassReview,
    Grant,
    Review,
)
from .access_review import AccessReviewCampaign, AccessReviewLine  # bastion.access_review
from .api_tokens import ApiToken
from .approvals import (
    CHALLENGE_PURPOSES,
    NOTIFICATION_STATES,
    NotificationOutbox,
    WebAuthnChallenge,
)
from .audit import AuditEvent
from .base import Base, UTCDateTime, utcnow
from .console_sessions import ConsoleSession  # bastion.console_sessions
from .contracts import ContractVersion
from .inventory import ACCOUNT_AUTH_METHODS, DATA_CATEGORIES, Target, TargetAccount
from .people import (
    STAFF_ROLES,
    StaffRole,
    StaffUser,
    Technician,
    TechnicianKey,
    Vendor,
    WebAuthnCredential,
)
from .sessions import SESSION_STATES, RecordedCommand, Recording, SshSession, TraceKey
from .staff_changes import ROLE_CHANGE_STATES, EnrolmentLink, RoleChange

__all__ = [
    "ACCOUNT_AUTH_METHODS",
    "CHALLENGE_PURPOSES",
    "DATA_CATEGORIES",
    "GRANT_STATES",
    "NOTIFICATION_STATES",
    "REQUEST_STATES",
    "ROLE_CHANGE_STATES",
    "SESSION_STATES",
    "STAFF_ROLES",
    "AccessRequest",
    "AccessReviewCampaign",
    "AccessReviewLine",
    "ApiToken",
    "AuditEvent",
    "Base",
    "BreakGlassAcknowledgement",
    "BreakGlassReview",
    "ConsoleSession",
    "ContractVersion",
    "EnrolmentLink",
    "Grant",
    "NotificationOutbox",
    "RecordedCommand",
    "Recording",
    "Review",
    "RoleChange",
    "SshSession",
    "StaffRole",
    "StaffUser",
    "Target",
    "TargetAccount",
    "Technician",
    "TechnicianKey",
    "TraceKey",
    "UTCDateTime",
    "Vendor",
    "WebAuthnChallenge",
    "WebAuthnCredential",
    "utcnow",
]

"""Approvals: access requests, WebAuthn-signed reviews, time-boxed grants and their SSH
certificates, and the notifications that tell approvers.

The console, the JSON API and the proxy all call these functions; none of them holds
policy of its own. Every function opens its own transaction(s) on ``core.db``, blocks
(call it through ``asyncio.to_thread`` from an event loop), returns frozen views, and
refuses with :class:`ApprovalError` (stable ``code``, human ``message``, HTTP ``status``).
"""

from .certificates import build_certificate, certificate_of, check_certificate, issue_certificate
from .content import canonical_bytes, content_digest, request_content
from .delivery import DeliveryReport, NotificationWorker, deliver_pending
from .enrolment_links import issue_link, link_url
from .errors import CODES, ApprovalError, OutOfContract
from .grants import (
    LIVE_STATES,
    Revocation,
    create_grant,
    end_expired_grants,
    get_grant,
    grant_for_request,
    list_grants,
    revoke_grant,
    revoke_live_grants,
)
from .housekeeping import HousekeepingReport, purge_challenges, run_housekeeping
from .identity import is_requester
from .key_changes import (
    key_change_options,
    revoke_credential,
    revoke_own_credential,
    start_key_addition,
)
from .registration import (
    enrolment_options,
    list_credentials,
    register_credential,
    registration_options,
)
from .relying_party import RelyingParty, relying_party
from .requests import (
    amend_request,
    cancel_request,
    expire_pending_requests,
    file_request,
    get_request,
    list_requests,
    pending_requests,
)
from .review import ApprovalResult, approval_options, approve, deny
from .role_changes import (
    RoleChangeInfo,
    confirm_role_change,
    get_role_change,
    list_role_changes,
    needs_vouching,
    propose_role_change,
    refuse_role_change,
    role_change_options,
    vouch_for_approver,
    vouch_options,
)
from .sign_in import SignedIn, check_password, sign_in_options, verify_sign_in
from .views import CredentialInfo, GrantInfo, RequestInfo, ReviewInfo

__all__ = [
    "CODES",
    "LIVE_STATES",
    "ApprovalError",
    "ApprovalResult",
    "CredentialInfo",
    "DeliveryReport",
    "GrantInfo",
    "HousekeepingReport",
    "NotificationWorker",
    "OutOfContract",
    "RelyingParty",
    "RequestInfo",
    "ReviewInfo",
    "RoleChangeInfo",
    "Revocation",
    "SignedIn",
    "amend_request",
    "approval_options",
    "approve",
    "build_certificate",
    "cancel_request",
    "canonical_bytes",
    "certificate_of",
    "check_certificate",
    "check_password",
    "confirm_role_change",
    "content_digest",
    "create_grant",
    "deliver_pending",
    "deny",
    "end_expired_grants",
    "enrolment_options",
    "expire_pending_requests",
    "file_request",
    "get_grant",
    "get_request",
    "get_role_change",
    "grant_for_request",
    "is_requester",
    "issue_certificate",
    "issue_link",
    "key_change_options",
    "link_url",
    "list_credentials",
    "list_grants",
    "list_requests",
    "list_role_changes",
    "needs_vouching",
    "pending_requests",
    "propose_role_change",
    "purge_challenges",
    "refuse_role_change",
    "register_credential",
    "registration_options",
    "relying_party",
    "revoke_credential",
    "revoke_own_credential",
    "request_content",
    "revoke_grant",
    "revoke_live_grants",
    "role_change_options",
    "run_housekeeping",
    "sign_in_options",
    "start_key_addition",
    "verify_sign_in",
    "vouch_for_approver",
    "vouch_options",
]

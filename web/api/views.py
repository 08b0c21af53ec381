"""What the API answers about requests, grants and sessions: explicit field lists.

Written out rather than ``dataclasses.asdict`` of the core's views, so a field added to the
core does not appear in a versioned API (or in a technician's hands) without a decision
and a line in the OpenAPI file. A technician sees their own requests and grants, minus
the identities of the hospital staff who reviewed, declared or revoked them.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from bastion.approvals import GrantInfo, RequestInfo
from bastion.models import SshSession

from ..identity import Principal


def iso(value: datetime | None) -> str | None:
    return value.isoformat() if value is not None else None


def staff_sees_all(principal: Principal) -> bool:
    return principal.kind == "staff"


def request_view(info: RequestInfo, principal: Principal) -> dict[str, Any]:
    staff = staff_sees_all(principal)
    return {
        "id": info.id, "status": info.status, "technician": info.technician,
        "technician_name": info.technician_name, "vendor": info.vendor, "target": info.target,
        "data_categories": list(info.data_categories), "account": info.account,
        "window_start": iso(info.window_start), "window_end": iso(info.window_end),
        "channels": list(info.channels), "reason": info.reason, "ticket": info.ticket,
        "source": info.source, "break_glass": info.break_glass,
        "in_contract": info.in_contract, "verdict": info.verdict,
        "approvals_required": info.approvals_required, "approvals": info.approvals,
        "reviews": [{"decision": review.decision, "reason": review.reason, "at": iso(review.at),
                     "staff_username": review.staff_username if staff else None,
                     "staff_name": review.staff_name if staff else None}
                    for review in info.reviews],
        "declared_by": info.declared_by if staff else None,
        "contract_version_id": info.contract_version_id, "expires_at": iso(info.expires_at),
        "decided_at": iso(info.decided_at), "created_at": iso(info.created_at),
        "grant_id": info.grant_id,
    }


def grant_view(info: GrantInfo, principal: Principal) -> dict[str, Any]:
    return {
        "id": info.id, "request_id": info.request_id, "status": info.status,
        "technician": info.technician, "target": info.target, "account": info.account,
        "not_before": iso(info.not_before), "not_after": iso(info.not_after),
        "scope": info.scope, "contract_version_id": info.contract_version_id,
        "break_glass": info.break_glass, "has_certificate": info.has_certificate,
        "revoked_at": iso(info.revoked_at),
        "revoked_by": info.revoked_by if staff_sees_all(principal) else None,
        "revoke_reason": info.revoke_reason, "created_at": iso(info.created_at),
    }


def session_view(row: SshSession) -> dict[str, Any]:
    """Staff only. Metadata, never recorded content: reading a recording is audited and
    goes through the console's replay."""
    return {
        "id": row.id, "status": row.status, "technician": row.technician.ident,
        "vendor": row.technician.vendor.slug, "target": row.target.name,
        "account": row.account_name, "grant_id": row.grant_id,
        "client_address": row.client_address, "node": row.node,
        "started_at": iso(row.started_at), "ended_at": iso(row.ended_at),
        "end_reason": row.end_reason,
        "terminate_requested_at": iso(row.terminate_requested_at),
        "terminate_requested_by": row.terminate_requested_by,
        "terminate_reason": row.terminate_reason,
        "recordings": [{"id": rec.id, "channel": rec.channel, "status": rec.status,
                        "size_bytes": rec.size_bytes, "started_at": iso(rec.started_at),
                        "sealed_at": iso(rec.sealed_at), "purged_at": iso(rec.purged_at),
                        "legal_hold": rec.legal_hold}
                       for rec in sorted(row.recordings, key=lambda rec: rec.id)],
    }

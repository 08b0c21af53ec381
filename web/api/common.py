"""What the API's views share: the caller, what a technician may see, query parameters."""

from __future__ import annotations

from collections.abc import Collection

from flask import request

from bastion.approvals import ApprovalError, GrantInfo, RequestInfo, get_grant, get_request

from ..identity import Principal, core, signed_in_principal
from .errors import ApiError

DEFAULT_LIMIT = 100
MAX_LIMIT = 500


def caller() -> Principal:
    return signed_in_principal()


def is_technician(principal: Principal) -> bool:
    return principal.kind == "technician"


def technician_filter(principal: Principal) -> str | None:
    """The ``technician`` filter of a list: a technician always gets their own, whatever
    they asked for (so a list never reveals another vendor's activity)."""
    if is_technician(principal):
        return principal.username
    return request.args.get("technician") or None


def visible_request(principal: Principal, request_id: int) -> RequestInfo:
    """The request, or ``request_not_found`` exactly as for a request that does not exist
    when it is another technician's: a 403 would confirm it exists (enumeration)."""
    info = get_request(core(), request_id)
    if is_technician(principal) and info.technician != principal.username:
        raise ApprovalError("request_not_found", f"there is no request {request_id}",
                            request_id=request_id)
    return info


def visible_grant(principal: Principal, grant_id: int) -> GrantInfo:
    info = get_grant(core(), grant_id)
    if is_technician(principal) and info.technician != principal.username:
        raise ApprovalError("grant_not_found", f"there is no grant {grant_id}")
    return info


def query_limit() -> int:
    raw = request.args.get("limit")
    if raw is None:
        return DEFAULT_LIMIT
    if not raw.isdigit() or not 1 <= int(raw) <= MAX_LIMIT:
        raise ApiError("invalid_input", f"limit must be a whole number from 1 to {MAX_LIMIT}")
    return int(raw)


def query_choices(name: str, allowed: Collection[str]) -> list[str] | None:
    """A query parameter that may be repeated (``?status=a&status=b``), each value checked."""
    values = request.args.getlist(name)
    wrong = [value for value in values if value not in allowed]
    if wrong:
        raise ApiError("invalid_input", f"{name} must be among {', '.join(allowed)} "
                                        f"(got {', '.join(wrong)})")
    return values or None

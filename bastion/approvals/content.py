"""The canonical content of an access request: what an approver's signature covers.

Canonical JSON (sorted keys, no spaces, UTF-8), so the same request always gives the same
bytes and the same SHA-256, on any node and any database. Any change to what the request
asks for (who, where, which account, when, which channels, why, the ticket, the contract
version) changes the digest, and so invalidates every challenge issued before.
"""

from __future__ import annotations

import hashlib
import json
from datetime import UTC, datetime
from typing import Any

from sqlalchemy.orm import Session

from bastion.models import AccessRequest, ContractVersion

CONTENT_KIND = "dpi-bastion.access-request"
CONTENT_VERSION = 1


def _instant(value: datetime) -> str:
    # Full precision and always UTC "Z": two nodes must write the same string.
    return value.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def request_content(session: Session, request: AccessRequest) -> dict[str, Any]:
    contract = (session.get(ContractVersion, request.contract_version_id)
                if request.contract_version_id is not None else None)
    return {
        "kind": CONTENT_KIND,
        "v": CONTENT_VERSION,
        "request_id": request.id,
        "technician": request.technician.ident,
        "target": request.target.name,
        "account": request.account_name,
        "window": {"start": _instant(request.window_start), "end": _instant(request.window_end)},
        "channels": sorted(set(request.channels or [])),
        "reason": request.reason,
        "ticket": request.ticket,
        "break_glass": bool(request.break_glass),
        "contract": None if contract is None else {
            "version_id": contract.id,
            "reference": contract.reference,
            "version": contract.version,
            "content_hash": contract.content_hash,
        },
    }


def canonical_bytes(content: dict[str, Any]) -> bytes:
    return json.dumps(content, sort_keys=True, separators=(",", ":"),
                      ensure_ascii=False, allow_nan=False).encode("utf-8")


def content_digest(content: dict[str, Any]) -> str:
    """SHA-256 of the canonical bytes, hex."""
    return hashlib.sha256(canonical_bytes(content)).hexdigest()


def request_digest(session: Session, request: AccessRequest) -> str:
    return content_digest(request_content(session, request))

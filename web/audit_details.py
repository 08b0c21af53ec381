"""An audit event's details as labelled fields for people: a label in their language for
the keys the product writes most, times in their zone, yes/no for booleans, lists joined;
empty values (None, "", [], {}) are left out rather than shown as "None".

A key without a label here is shown as its code: it is an identifier, like the action
codes beside the sentences, and the exports carry the same key.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from flask_babel import LazyString, format_decimal, gettext
from flask_babel import lazy_gettext as _

from .i18n import when

LABELS: dict[str, LazyString] = {
    "aaguid": _("Authenticator model (AAGUID)"),
    "account": _("Account"),
    "accounts": _("Accounts"),
    "address": _("Address"),
    "after": _("After"),
    "approvals": _("Approvals"),
    "approvals_required": _("Approvals required"),
    "approvers": _("Approvers"),
    "authorised_by": _("Authorised by"),
    "before": _("Before"),
    "bytes": _("Bytes"),
    "bytes_from_target": _("Bytes from the target"),
    "bytes_to_target": _("Bytes to the target"),
    "campaign_id": _("Access review"),
    "categories": _("Data categories"),
    "channel": _("Channel"),
    "client_address": _("Client address"),
    "closed": _("Closed"),
    "code": _("Code"),
    "command": _("Command"),
    "comment": _("Comment"),
    "confirmed_with": _("Confirmed with"),
    "contract": _("Contract"),
    "contract_reference": _("Contract"),
    "contract_version": _("Contract version"),
    "count": _("Count"),
    "credential": _("Security key"),
    "data_categories": _("Data categories"),
    "deadline": _("Deadline"),
    "decision": _("Decision"),
    "destination": _("Destination"),
    "due_at": _("Due"),
    "end_reason": _("End reason"),
    "ended_at": _("Ended"),
    "error": _("Error"),
    "events": _("Events"),
    "exit_status": _("Exit status"),
    "expires_at": _("Expires"),
    "format": _("Format"),
    "hidden": _("Hidden"),
    "host": _("Host"),
    "idle_minutes": _("Idle minutes"),
    "in_force": _("In force"),
    "key_fingerprint": _("Key fingerprint"),
    "language": _("Language"),
    "line_id": _("Review line"),
    "method": _("Method"),
    "name": _("Name"),
    "node": _("Node"),
    "not_after": _("Valid until"),
    "not_before": _("Valid from"),
    "note": _("Note"),
    "opened_at": _("Opened"),
    "operation": _("Operation"),
    "outcome": _("Outcome"),
    "owner": _("Owner"),
    "path": _("Path"),
    "paths": _("Paths"),
    "port": _("Port"),
    "previous_address": _("Previous address"),
    "problem": _("Problem"),
    "proposed_by": _("Proposed by"),
    "purpose": _("Purpose"),
    "queued_for": _("Queued for"),
    "reason": _("Reason"),
    "recording_id": _("Recording"),
    "recordings": _("Recordings"),
    "report": _("Report"),
    "request_ids": _("Requests"),
    "retention_days": _("Retention (days)"),
    "review_id": _("Break-glass review"),
    "revoked_by": _("Revoked by"),
    "roles": _("Roles"),
    "roles_proposed": _("Roles proposed"),
    "rows": _("Rows"),
    "rule": _("Rule"),
    "scope": _("Scope"),
    "session_ids": _("Sessions"),
    "sessions_terminated": _("Sessions ended"),
    "sha256": _("SHA-256"),
    "signal": _("Signal"),
    "since": _("Since"),
    "size_bytes": _("Size (bytes)"),
    "source": _("Source"),
    "staff": _("Staff"),
    "stage": _("Stage"),
    "status": _("Status"),
    "text": _("Text"),
    "token_name": _("Token"),
    "tool": _("Tool"),
    "trigger": _("Trigger"),
    "until": _("Until"),
    "urgent": _("Urgent"),
    "user_name": _("SSH user name"),
    "username": _("Staff member"),
    "valid_from": _("Valid from"),
    "valid_until": _("Valid until"),
    "vendor": _("Vendor"),
    "verdict": _("Verdict"),
    "version": _("Version"),
    "via": _("Via"),
    "was": _("Was"),
    "where": _("Where"),
}

_TIMESTAMP = re.compile(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}")


@dataclass(frozen=True)
class Field:
    key: str
    label: str | None  # None: show the key itself, as code
    value: str


def _empty(value: Any) -> bool:
    return value is None or value == "" or (isinstance(value, list | tuple | dict) and not value)


def _text(value: Any) -> str:
    if isinstance(value, bool):
        return gettext("yes") if value else gettext("no")
    if isinstance(value, int | float):
        return format_decimal(value)
    if isinstance(value, str) and _TIMESTAMP.match(value):
        try:
            moment = datetime.fromisoformat(value)
        except ValueError:
            return value
        if moment.tzinfo is not None:  # a naive one could be in any zone: leave it as written
            return when(moment, "medium")
        return value
    if isinstance(value, list | tuple):
        return ", ".join(_text(v) for v in value if not _empty(v))
    if isinstance(value, dict):
        return "; ".join(f"{k}: {_text(v)}" for k, v in sorted(value.items()) if not _empty(v))
    return str(value)


def fields(details: Mapping[str, Any] | None) -> list[Field]:
    """The details worth showing, labelled ones first (in label order), then the others."""
    found = []
    for key, value in (details or {}).items():
        if _empty(value):
            continue
        label = LABELS.get(key)
        found.append(Field(key, str(label) if label is not None else None, _text(value)))
    return sorted(found, key=lambda f: (f.label is None, f.label or f.key))

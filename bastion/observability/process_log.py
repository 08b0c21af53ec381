"""Process logs for the hospital's log collector: one line per login, refusal, approval and
session opening or closing, as text (the default) or as JSON objects (``[logging] format =
"json"``) that journald, Filebeat or Fluent Bit ship without parsing rules.

These lines are a convenience for operations; the audit log stays the record of truth
(hash-chained, signed): a line here names the audit event id it comes from."""

from __future__ import annotations

import json
import logging
from datetime import UTC, datetime
from typing import Any

from bastion.models import AuditEvent

decisions = logging.getLogger("bastion.decisions")

LOGGED_ACTIONS = frozenset({
    "session.opened", "session.closed", "session.interrupted", "login.refused",
    "request.filed", "request.approved", "request.denied", "request.refused",
    "grant.revoked", "break_glass.declared", "command.refused", "command.flagged",
})
FIELDS = ("action", "outcome", "actor", "vendor", "technician", "target", "account",
          "session_id", "request_id", "grant_id", "node")


def log_decision(event: AuditEvent) -> None:
    if event.action not in LOGGED_ACTIONS and not event.action.endswith(".refused"):
        return
    fields: dict[str, Any] = {name: getattr(event, name) for name in FIELDS}
    fields = {k: v for k, v in fields.items() if v is not None}
    fields["audit_event"] = event.id
    reasons = list(event.reasons or [])
    if reasons:
        fields["reasons"] = reasons
    address = (event.details or {}).get("client_address")
    if address:
        fields["client_address"] = address
    text = " ".join(f"{k}={v}" for k, v in fields.items() if k not in ("action", "outcome",
                                                                       "reasons"))
    why = f" ({'; '.join(reasons)})" if reasons else ""
    decisions.info("%s %s %s%s", event.action, event.outcome, text, why,
                   extra={"decision": fields})


class JsonFormatter(logging.Formatter):
    """One JSON object per line: time (UTC, ISO 8601), level, logger, message, and for
    decisions their fields; exceptions as one escaped string, never several lines."""

    def format(self, record: logging.LogRecord) -> str:
        line: dict[str, Any] = {
            "time": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname.lower(),
            "logger": record.name,
            "message": record.getMessage(),
        }
        decision = getattr(record, "decision", None)
        if decision:
            line.update(decision)
        if record.exc_info:
            line["exception"] = self.formatException(record.exc_info)
        return json.dumps(line, ensure_ascii=False, default=str)

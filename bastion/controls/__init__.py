"""The DPO's controls: flags computed from the audit trail and the recordings (sessions on
health or INS data, command-rule hits, large SFTP downloads, night and public-holiday
sessions, refusals in bursts, break-glass), each linked to its moment in the recording;
reports per vendor and period; the daily summary.

``rules`` holds the pure functions (facts in, flags out); ``gather`` reads the facts;
``reports`` and ``summary`` build on both. Nothing here changes anything but the outbox
and the audit trail: the DPO's role is read-only.
"""

from .calendar import Calendar, OffHours, first_off_hours
from .describe import describe, kind_name
from .facts import (
    BREAK_GLASS,
    COMMAND_RULE,
    FLAG_KINDS,
    OFF_HOURS,
    REFUSAL_BURST,
    SENSITIVE_DATA,
    SFTP_VOLUME,
    BreakGlassFacts,
    EventFacts,
    Flag,
    Moment,
    RecordingSpan,
    SessionFacts,
)
from .gather import PeriodFacts, compute_flags, filter_flags, flags_of, load_period
from .moments import locate
from .reports import SessionLine, VendorReport, vendor_reports, write_flags_csv, write_sessions_csv
from .summary import (
    DailySummary,
    SummarySent,
    build_daily_summary,
    daily_summaries,
    send_daily_summary,
    summary_text,
)

__all__ = [
    "BREAK_GLASS",
    "COMMAND_RULE",
    "FLAG_KINDS",
    "OFF_HOURS",
    "REFUSAL_BURST",
    "SENSITIVE_DATA",
    "SFTP_VOLUME",
    "BreakGlassFacts",
    "Calendar",
    "DailySummary",
    "EventFacts",
    "Flag",
    "Moment",
    "OffHours",
    "PeriodFacts",
    "RecordingSpan",
    "SessionFacts",
    "SessionLine",
    "SummarySent",
    "VendorReport",
    "build_daily_summary",
    "compute_flags",
    "daily_summaries",
    "describe",
    "filter_flags",
    "first_off_hours",
    "flags_of",
    "kind_name",
    "load_period",
    "locate",
    "send_daily_summary",
    "summary_text",
    "vendor_reports",
    "write_flags_csv",
    "write_sessions_csv",
]

"""The intervention logbook (*main courante*): one entry per granted access request
(break-glass included) with its vendor, technicians, targets, times in the hospital's
zone, reason, ticket, approvers, what was done (commands, file transfers with their
SHA-256), flags and links to the recordings. Built on demand from the database (see
``entries`` for why), listed in the console, exported as CSV or as a printable page.
"""

from .csv_export import write_csv
from .entries import (
    CommandSummary,
    FlagLine,
    LogbookEntry,
    RecordingLink,
    TransferLine,
    assemble,
)
from .facts import (
    BreakGlassFacts,
    CommandFacts,
    EventFacts,
    GrantFacts,
    Intervention,
    RequestFacts,
    SessionFacts,
)
from .labels import describe_flag
from .links import session_url
from .loading import LogbookFilter, load_interventions
from .printable import Heading, render_printable, stylesheet_text
from .service import FORMATS, build_logbook, export_logbook, heading_for

__all__ = [
    "FORMATS",
    "BreakGlassFacts",
    "CommandFacts",
    "CommandSummary",
    "EventFacts",
    "FlagLine",
    "GrantFacts",
    "Heading",
    "Intervention",
    "LogbookEntry",
    "LogbookFilter",
    "RecordingLink",
    "RequestFacts",
    "SessionFacts",
    "TransferLine",
    "assemble",
    "build_logbook",
    "describe_flag",
    "export_logbook",
    "heading_for",
    "load_interventions",
    "render_printable",
    "session_url",
    "stylesheet_text",
    "write_csv",
]

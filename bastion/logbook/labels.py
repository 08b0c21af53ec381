"""The logbook's words, from the bastion catalogue: the printable page, the CSV's flag
column and the console say the same thing (the console passes its language)."""

from __future__ import annotations

from bastion.i18n import N_, NC_
from bastion.i18n.catalogue import translator

from .entries import FlagLine

LANGUAGES = ("fr", "en")

WORDS = {
    "title": N_("Intervention logbook"),
    "vendor": N_("Vendor"),
    "all_vendors": N_("all vendors"),
    "period": N_("Period"),
    "target": N_("Target"),
    "from": N_("from"),
    "to": N_("to"),
    "since": N_("since"),
    "until": N_("until"),
    "whole_history": N_("whole history"),
    "generated": N_("Generated on"),
    "times_in": N_("Times are in the {zone} time zone."),
    "count": N_("{n} intervention(s)"),
    "request": N_("Request {id}"),
    "grant": N_("grant {id}"),
    "technicians": N_("Technician(s)"),
    "targets": N_("Target(s)"),
    "when": N_("Date and time"),
    "window": N_("Authorised window"),
    "reason": N_("Reason"),
    "ticket": N_("Ticket"),
    "approvers": N_("Approved by"),
    "declared_by": N_("Declared by"),
    "done": N_("What was done"),
    "commands": N_("Commands"),
    "transfers": N_("File transfers"),
    "flags": N_("Flags"),
    "recordings": N_("Recordings"),
    "none": NC_('logbook', "none"),
    "times": N_("×{n}"),
    "session": N_("Session {id}"),
    "still_open": N_("in progress"),
    "bytes": N_("{n} bytes"),
    "incomplete": N_("incomplete"),
    "emergency": N_("Break-glass"),
    "state_unused": N_("granted, not used"),
    "state_in_progress": N_("in progress"),
    "state_done": N_("done"),
    "upload": N_("upload"),
    "download": N_("download"),
    "empty": N_("No intervention in this period."),
    "signature": N_("Vendor's signature"),
    "signature_hospital": N_("Hospital's signature"),
    "back": N_("Back to the logbook (use the browser's Print command)"),
}

FLAGS = {
    "break_glass": N_("Break-glass: {justification} (review: {review})"),
    "command_flagged": N_("Command flagged ({reason}): {command}"),
    "command_refused": N_("Command refused ({reason}): {command}"),
    "session_terminated": N_("Session {session} closed by staff or by a revocation: {reason}"),
    "session_interrupted": N_("Session {session} interrupted: {reason}"),
    "grant_revoked": N_("Grant revoked by {by}: {reason}"),
    "open": NC_('logbook', "open"),
    "justified": N_("justified"),
    "unjustified": N_("unjustified"),
}


def words(language: str) -> dict[str, str]:
    return translator(language).table(WORDS)


def describe_flag(flag: FlagLine, language: str = "fr") -> str:
    text = translator(language).table(FLAGS)
    detail = dict(flag.detail)
    if flag.code == "break_glass":
        detail["review"] = text.get(detail.get("review", "open"), detail.get("review", ""))
    template = text.get(flag.code)
    if template is None:
        return flag.code
    return template.format_map({"session": flag.session_id or "", "reason": "", "by": "",
                                "command": "", "justification": "", **detail})

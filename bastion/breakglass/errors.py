"""Every refusal of break-glass: a typed error with a stable ``code`` and one line to show.

The SSH front shows ``message`` to the technician, the console to staff; the JSON API may
answer ``status``. Messages say what happened and what to do, never more than the person
asking may know (a technician is already authenticated when they declare).
"""

from __future__ import annotations

from typing import Any

from bastion.i18n.marker import Phrase


class BreakGlassError(Exception):
    """Base of every break-glass refusal."""

    code = "break_glass_error"
    status = 400

    def __init__(self, message: str, *, reasons: tuple[str, ...] = (),
                 request_id: int | None = None, phrase: Phrase | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.phrase = phrase  # the message in catalogue form, for the technician's language
        self.reasons = reasons  # the full reasons, for the audit and the console
        self.request_id = request_id  # set when the refusal was stored as a denied request

    def __str__(self) -> str:
        return self.message

    @classmethod
    def phrased(cls, phrase: Phrase, **fields: Any) -> BreakGlassError:
        """A refusal its reader gets in their language; the English stays the message."""
        return cls(phrase.english(), phrase=phrase, **fields)


class BreakGlassRefused(BreakGlassError):
    """The contract does not allow this emergency access (or not now, or not there)."""

    code = "break_glass_refused"
    status = 409


class AlreadyOpen(BreakGlassError):
    """An emergency access for this technician and target is still running."""

    code = "break_glass_already_open"
    status = 409


class JustificationTooShort(BreakGlassError):
    code = "justification_too_short"


class InvalidInput(BreakGlassError):
    code = "invalid_input"


class UnknownTechnician(BreakGlassError):
    code = "unknown_technician"
    status = 404


class UnknownTarget(BreakGlassError):
    code = "unknown_target"
    status = 404


class NotAllowedToDeclare(BreakGlassError):
    """Only active approvers and admins may declare on a technician's behalf."""

    code = "not_allowed_to_declare"
    status = 403


class ReviewNotFound(BreakGlassError):
    code = "review_not_found"
    status = 404


class ReviewAlreadyClosed(BreakGlassError):
    code = "review_closed"
    status = 409


class NotTheReviewer(BreakGlassError):
    """Only an active DPO closes a review, and never one they declared themself."""

    code = "not_the_reviewer"
    status = 403

"""Refusals of the access review, with a stable code and a one-line message."""

from __future__ import annotations


class ReviewError(Exception):
    """``code`` is stable (the console maps it to a translated message); ``message`` is
    the English line for the CLI and the logs."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code
        self.message = message

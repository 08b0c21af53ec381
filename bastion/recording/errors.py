"""What can go wrong with a recording, as exceptions the proxy, the CLI and the console
can tell apart."""

from __future__ import annotations


class RecordingError(Exception):
    """Base class of every recording problem."""


class StorageError(RecordingError):
    """The storage backend could not do what was asked (disk full, I/O error, missing key)."""


class RecordingFailed(RecordingError):
    """The recording can no longer be written: the session must end now.

    Raised by the writer's ``output()`` (and every later call) after a storage error. The
    data passed to the failing call was not recorded, so it must not be forwarded.
    """


class BudgetExceeded(RecordingError):
    """The session's output budget is spent: the session must end. The refused data was
    neither recorded nor (so) forwarded; the reason is recorded in the recording.
    ``scope`` says what the budget counted (budget.py)."""

    def __init__(self, message: str, *, budget_bytes: int = 0, scope: str = "connection") -> None:
        super().__init__(message)
        self.budget_bytes = budget_bytes
        self.scope = scope


class RecordingClosed(RecordingError):
    """The recording was already sealed; nothing more can be written to it."""


class RecordingCorrupted(RecordingError):
    """A recording does not verify. ``chunk`` is the index of the first bad chunk, or None
    when the problem is not in one chunk (damaged file header, hash differing from the
    catalog...). Reading stops there: never is wrong data returned silently."""

    def __init__(self, problem: str, chunk: int | None = None) -> None:
        self.problem = problem
        self.chunk = chunk
        super().__init__(problem)


class RecordingTruncated(RecordingCorrupted):
    """The file ends inside a chunk (cut short, or a write interrupted by a crash)."""


class RecordingNotFound(RecordingError):
    """No such recording in the catalog, or it was purged."""

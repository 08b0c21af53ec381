"""Session recording: store, seal, read, verify, export, index commands, purge.

Knows nothing of SSH or the web: it takes timed events (terminal output and input,
resizes, markers for everything else) from the proxy. See ``catalog.RecordingService``
for the API the proxy calls, ``integrity``/``reader`` for verification and reading.
"""

from .budget import Limits, OutputBudget
from .catalog import InterruptedRecording, RecordingService, expected_for
from .commands import Command, CommandExtractor, extract_commands
from .errors import (
    BudgetExceeded,
    RecordingClosed,
    RecordingCorrupted,
    RecordingError,
    RecordingFailed,
    RecordingNotFound,
    RecordingTruncated,
    StorageError,
)
from .events import MARKER_TYPES, Event, TerminalInfo
from .export import write_asciicast
from .integrity import VerifyReport, verify_file
from .reader import Expected, RecordingReader
from .recorder import SessionRecorder
from .retention import PurgeItem, purge_daily, purge_expired, rewrap_data_keys, set_legal_hold
from .storage import LocalFolderStorage, Storage
from .writer import RecordingWriter, SealResult

__all__ = [
    "MARKER_TYPES",
    "BudgetExceeded",
    "Command",
    "CommandExtractor",
    "Event",
    "Expected",
    "InterruptedRecording",
    "Limits",
    "LocalFolderStorage",
    "OutputBudget",
    "PurgeItem",
    "RecordingClosed",
    "RecordingCorrupted",
    "RecordingError",
    "RecordingFailed",
    "RecordingNotFound",
    "RecordingReader",
    "RecordingService",
    "RecordingTruncated",
    "RecordingWriter",
    "SealResult",
    "SessionRecorder",
    "Storage",
    "StorageError",
    "TerminalInfo",
    "VerifyReport",
    "expected_for",
    "extract_commands",
    "purge_daily",
    "purge_expired",
    "rewrap_data_keys",
    "set_legal_hold",
    "verify_file",
    "write_asciicast",
]

"""Bytes a session moved, whichever way they went: SFTP files, exec channels (``scp -O``,
``rsync``, ``cat file``, ``cat > file``) and local port forwards.

Read from the audit events that record them (``sftp.transfer``; ``channel.closed`` of an
exec channel; ``forward.closed``), so the flags, the logbook and the vendor reports count
the same bytes. Pure: facts in, values out.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

SFTP_ACTION = "sftp.transfer"
EXEC_ACTION = "channel.closed"  # an exec channel's, with the bytes it moved each way
FORWARD_ACTION = "forward.closed"
TRANSFER_ACTIONS = (SFTP_ACTION, EXEC_ACTION, FORWARD_ACTION)


@dataclass(frozen=True)
class Transfer:
    via: str  # sftp | exec | forward
    what: str  # the file's path, the command, or the forward's destination
    downloaded: int  # bytes from the target to the technician
    uploaded: int  # bytes from the technician to the target
    sha256: str | None = None
    complete: bool = True  # an SFTP file closed normally
    operation: str | None = None  # an SFTP file's: download or upload (even of 0 bytes)

    def directions(self) -> list[tuple[str, int]]:
        """(download|upload, bytes) for each way this transfer went."""
        if self.operation is not None:
            return [(self.operation, self.downloaded + self.uploaded)]
        return [(way, size) for way, size in (("download", self.downloaded),
                                              ("upload", self.uploaded)) if size]


def _count(value: object) -> int:
    try:
        return max(0, int(value))  # type: ignore[call-overload]
    except (TypeError, ValueError):
        return 0


def transfer_in(action: str, details: Mapping[str, Any]) -> Transfer | None:
    """The bytes one audit event records as moved, or None (not a transfer, or nothing
    moved: a shell's screen is not a transfer, nor an exec that printed nothing)."""
    if action == SFTP_ACTION:
        size = _count(details.get("bytes"))
        operation = str(details.get("operation", "?"))
        download = operation == "download"
        return Transfer("sftp", str(details.get("path", "")), size if download else 0,
                        0 if download else size, details.get("sha256") or None,
                        bool(details.get("closed", True)), operation)
    if action == EXEC_ACTION and details.get("channel") == "exec":
        via, what = "exec", str(details.get("command") or "")
    elif action == FORWARD_ACTION:
        via, what = "forward", str(details.get("destination", ""))
    else:
        return None
    down, up = _count(details.get("bytes_from_target")), _count(details.get("bytes_to_target"))
    return Transfer(via, what, down, up) if down or up else None

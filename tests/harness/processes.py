"""What a process has open, read from /proc (Linux)."""

from __future__ import annotations

import os


def open_files(pid: int | str = "self") -> list[str]:
    """The paths of ``pid``'s open descriptors, one per descriptor (a path open twice is
    listed twice)."""
    found = []
    for fd in os.listdir(f"/proc/{pid}/fd"):
        try:
            found.append(os.readlink(f"/proc/{pid}/fd/{fd}"))
        except OSError:
            continue  # closed meanwhile (the listing's own descriptor, for one)
    return found

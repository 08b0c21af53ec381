"""The local folder backend's own rules, below the recording format."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from bastion.recording import LocalFolderStorage
from bastion.recording.storage import WRITE_PIECE


def test_a_large_append_reaches_the_file_whole_in_pieces_the_page_cache_takes_cheaply(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    # One write of 128 KiB or more makes the kernel allocate large page-cache folios,
    # which on a ballooned VM cost 20-30x the system time (docs/benchmarks.md).
    storage = LocalFolderStorage(tmp_path)
    storage.create("s/1.rec", b"header")
    data = os.urandom(5 * WRITE_PIECE + 1234)
    sizes: list[int] = []
    real_write = os.write

    def counting_write(fd: int, chunk: bytes) -> int:
        sizes.append(len(chunk))
        return real_write(fd, chunk)

    monkeypatch.setattr(os, "write", counting_write)
    storage.append("s/1.rec", data)
    monkeypatch.undo()

    assert WRITE_PIECE <= 64 * 1024 and max(sizes) == WRITE_PIECE and sum(sizes) == len(data)
    assert (tmp_path / "s" / "1.rec").read_bytes() == b"header" + data

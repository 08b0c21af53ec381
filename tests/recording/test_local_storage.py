"""The local folder backend's own rules, below the recording format."""

from __future__ import annotations

import ctypes
import ctypes.util
import mmap
import os
from pathlib import Path

import pytest

from bastion.recording import LocalFolderStorage
from bastion.recording.storage import WRITE_PIECE


def test_a_large_append_reaches_the_file_whole_in_pieces_of_at_most_64_kib(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    # Larger writes make the kernel allocate larger page-cache folios, whose cost varied
    # more from run to run (storage.WRITE_PIECE).
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


def _cached_pages(path: Path) -> tuple[int, int]:
    """(pages of ``path`` in the page cache, pages in all), asked of the kernel (mincore)."""
    libc = ctypes.CDLL(ctypes.util.find_library("c"), use_errno=True)
    libc.mmap.restype = ctypes.c_void_p
    libc.mmap.argtypes = [ctypes.c_void_p, ctypes.c_size_t, ctypes.c_int, ctypes.c_int, ctypes.c_int,
                          ctypes.c_long]
    libc.munmap.argtypes = [ctypes.c_void_p, ctypes.c_size_t]
    libc.mincore.argtypes = [ctypes.c_void_p, ctypes.c_size_t, ctypes.c_char_p]
    size = path.stat().st_size
    pages = -(-size // mmap.PAGESIZE)
    fd = os.open(path, os.O_RDONLY)
    try:
        address = libc.mmap(None, size, mmap.PROT_READ, mmap.MAP_SHARED, fd, 0)
        assert address not in (None, ctypes.c_void_p(-1).value), os.strerror(ctypes.get_errno())
        try:
            vector = ctypes.create_string_buffer(pages)
            assert libc.mincore(address, size, vector) == 0, os.strerror(ctypes.get_errno())
            return sum(byte & 1 for byte in vector.raw), pages
        finally:
            libc.munmap(address, size)
    finally:
        os.close(fd)


def test_a_long_recording_leaves_the_page_cache_as_it_grows_and_all_of_it_once_released(
        tmp_path: Path) -> None:
    # Recordings are written once and read rarely: cached, they would push out the
    # database's pages (and cost fresh host memory on a ballooned VM).
    every = 256 * 1024
    storage = LocalFolderStorage(tmp_path, evict_every=every)
    path = tmp_path / "s" / "1.rec"
    storage.create("s/1.rec", b"header")
    data = os.urandom(every // 4)
    for _ in range(4 * 6):
        storage.append("s/1.rec", data)
    storage._evictor.drain()

    cached, pages = _cached_pages(path)
    # Six stretches written: all but the last one or two left the cache.
    assert cached <= 2 * every // mmap.PAGESIZE + 1 < pages

    storage.sync("s/1.rec")
    storage.release("s/1.rec")  # sealed: what is left goes too
    assert _cached_pages(path)[0] == 0
    assert path.read_bytes() == b"header" + data * 24

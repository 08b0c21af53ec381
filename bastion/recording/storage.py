"""Where recording files live: a small append-only key/blob interface.

The writer only ever creates a key, appends to it and syncs it; readers open it for
sequential reading; retention deletes it. Anything that can do these (a local folder, a
mounted NAS, an object store with append support) can hold recordings.
"""

from __future__ import annotations

import errno
import os
import re
from collections.abc import Iterator
from pathlib import Path
from typing import BinaryIO, Protocol, runtime_checkable

from .errors import StorageError

# Keys are relative paths of plain names: no "..", no absolute paths, nothing a shell or
# another backend could misread.
_KEY = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]*(/[A-Za-z0-9][A-Za-z0-9._-]*)*$")


def check_key(key: str) -> str:
    if not _KEY.match(key) or ".." in key or len(key) > 255:
        raise StorageError(f"invalid storage key {key!r}")
    return key


@runtime_checkable
class Storage(Protocol):
    def create(self, key: str, data: bytes) -> None:
        """Create ``key`` holding ``data``; fail if it exists (never overwrite evidence)."""

    def append(self, key: str, data: bytes) -> None:
        """Append all of ``data`` or nothing: on error the key keeps its previous length."""

    def sync(self, key: str) -> None:
        """Make everything appended so far durable (survive a power loss)."""

    def release(self, key: str) -> None:
        """The writer of ``key`` is done (sealed or failed): drop what was kept for it."""

    def open(self, key: str) -> BinaryIO:
        """A file object reading ``key`` from its start."""

    def size(self, key: str) -> int: ...

    def exists(self, key: str) -> bool: ...

    def delete(self, key: str) -> bool:
        """Delete ``key``; False when it did not exist."""

    def keys(self, prefix: str = "") -> Iterator[str]: ...


class LocalFolderStorage:
    """Recordings as files under ``root`` (folder 0700, files 0600).

    ``fsync_appends``: fsync after every append. Off by default: an append is in the
    kernel's page cache when ``append`` returns, which survives the bastion process being
    killed (the threat the "write before forward" rule is about); ``sync`` at seal time
    makes the whole file durable against power loss. Turn it on to also survive a power
    cut mid-session, at the cost of one disk flush per chunk.
    """

    def __init__(self, root: Path | str, *, fsync_appends: bool = False) -> None:
        self.root = Path(root)
        self.fsync_appends = fsync_appends
        # A recording being written keeps its file open: opening, stat-ing and closing it
        # for every keystroke cost more than the write itself. Each key has one writer at
        # a time, so an entry is only ever touched by one thread at once.
        self._open_for_append: dict[str, int] = {}

    def path(self, key: str) -> Path:
        return self.root / check_key(key)

    def create(self, key: str, data: bytes) -> None:
        path = self.path(key)
        try:
            self._make_dirs(path.parent)
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        except FileExistsError:
            raise StorageError(f"recording {key} already exists") from None
        except OSError as exc:
            raise StorageError(f"cannot create recording {key}: {exc.strerror}") from exc
        try:
            _write_all(fd, data)
            os.fsync(fd)
        except OSError as exc:
            os.close(fd)
            path.unlink(missing_ok=True)
            raise StorageError(f"cannot write recording {key}: {exc.strerror}") from exc
        os.close(fd)
        # The new directory entry must be durable too, or a crash could lose the file.
        _fsync_dir(path.parent)

    def _make_dirs(self, folder: Path) -> None:
        missing = []
        while not folder.exists():
            missing.append(folder)
            folder = folder.parent
        for new in reversed(missing):
            try:
                new.mkdir(mode=0o700)
            except FileExistsError:
                pass

    def append(self, key: str, data: bytes) -> None:
        fd = self._open_for_append.get(key)
        if fd is None:
            try:
                fd = os.open(self.path(key), os.O_WRONLY | os.O_APPEND)
            except OSError as exc:
                raise StorageError(f"cannot open recording {key}: {exc.strerror}") from exc
            self._open_for_append[key] = fd
        try:
            before = os.fstat(fd).st_size
        except OSError as exc:
            raise StorageError(f"cannot append to recording {key}: {exc.strerror}") from exc
        try:
            _write_all(fd, data)
            if self.fsync_appends:
                os.fsync(fd)
        except OSError as exc:
            # All or nothing: cut a partial write (disk full mid-chunk) so the file
            # still ends on a chunk boundary and verifies up to its last whole chunk.
            try:
                os.ftruncate(fd, before)
            except OSError:
                pass
            reason = "storage is full" if exc.errno in (errno.ENOSPC, errno.EDQUOT) else exc.strerror
            raise StorageError(f"cannot append to recording {key}: {reason}") from exc

    def sync(self, key: str) -> None:
        try:
            fd = self._open_for_append.get(key)
            if fd is not None:
                os.fsync(fd)
                return
            fd = os.open(self.path(key), os.O_RDONLY)
            try:
                os.fsync(fd)
            finally:
                os.close(fd)
        except OSError as exc:
            raise StorageError(f"cannot sync recording {key}: {exc.strerror}") from exc

    def release(self, key: str) -> None:
        fd = self._open_for_append.pop(key, None)
        if fd is not None:
            os.close(fd)

    def open(self, key: str) -> BinaryIO:
        try:
            return self.path(key).open("rb")
        except FileNotFoundError:
            raise StorageError(f"recording file {key} is missing") from None
        except OSError as exc:
            raise StorageError(f"cannot read recording {key}: {exc.strerror}") from exc

    def size(self, key: str) -> int:
        try:
            return self.path(key).stat().st_size
        except OSError as exc:
            raise StorageError(f"cannot stat recording {key}: {exc.strerror}") from exc

    def exists(self, key: str) -> bool:
        return self.path(key).exists()

    def delete(self, key: str) -> bool:
        path = self.path(key)
        self.release(key)
        try:
            path.unlink()
        except FileNotFoundError:
            return False
        except OSError as exc:
            raise StorageError(f"cannot delete recording {key}: {exc.strerror}") from exc
        _fsync_dir(path.parent)
        return True

    def keys(self, prefix: str = "") -> Iterator[str]:
        if not self.root.exists():
            return
        for path in sorted(self.root.rglob("*")):
            if path.is_file():
                key = path.relative_to(self.root).as_posix()
                if key.startswith(prefix):
                    yield key


# Larger writes make the kernel fill the page cache with large folios; on a VM that hands
# free memory back to its host (virtio-balloon free page reporting), each one is fresh
# host memory to fault in: 300 MB written in 128 KiB pieces cost 2-2.7 s of system time
# here, in 64 KiB pieces 0.1 s (docs/benchmarks.md).
WRITE_PIECE = 64 * 1024


def _write_all(fd: int, data: bytes) -> None:
    view = memoryview(data)
    while view:
        written = os.write(fd, view[:WRITE_PIECE])
        view = view[written:]


def _fsync_dir(folder: Path) -> None:
    try:
        fd = os.open(folder, os.O_RDONLY | os.O_DIRECTORY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)

"""Where recording files live: a small append-only key/blob interface.

The writer only ever creates a key, appends to it and syncs it; readers open it for
sequential reading; retention deletes it. Anything that can do these (a local folder, a
mounted NAS, an object store with append support) can hold recordings.
"""

from __future__ import annotations

import errno
import mmap
import os
import queue
import re
import threading
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


# A recording is written once and read rarely (an audit, an export), so its pages are not
# worth the page cache: kept there they push out the database's, and on a VM that hands
# free memory back to its host (virtio-balloon free page reporting) every new page-cache
# page is fresh host memory to fault in. Written back and dropped as the recording grows,
# the same pages serve again. 300 MB appended in 64 KiB pieces here (docs/benchmarks.md):
# 1.0-3.0 s of system time when kept; 0.12-0.14 s when dropped every 4 MiB by a thread of
# their own, the writer waiting when it is more than a stretch ahead; 0.24-0.67 s when the
# writer flushes and drops every 8 MiB itself. Eviction also bounds what a power cut loses
# mid-session to a few stretches.
EVICT_EVERY = 4 * 1024 * 1024


class LocalFolderStorage:
    """Recordings as files under ``root`` (folder 0700, files 0600).

    ``fsync_appends``: fsync after every append. Off by default: an append is in the
    kernel's page cache when ``append`` returns, which survives the bastion process being
    killed (the threat the "write before forward" rule is about); ``sync`` at seal time
    makes the whole file durable against power loss. Turn it on to also survive a power
    cut mid-session, at the cost of one disk flush per chunk.
    """

    def __init__(self, root: Path | str, *, fsync_appends: bool = False,
                 evict_every: int = EVICT_EVERY) -> None:
        self.root = Path(root)
        self.fsync_appends = fsync_appends
        self.evict_every = evict_every
        # A recording being written keeps its file open, with its size: opening, stat-ing
        # and closing it for every keystroke cost more than the write itself. Each key has
        # one writer at a time, so an entry is only ever touched by one thread at once.
        self._open_for_append: dict[str, _OpenRecording] = {}
        self._evictor = _PageCacheEvictor()

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
        recording = self._open_for_append.get(key)
        if recording is None:
            recording = self._open_for_appending(key)
        fd = recording.fd
        try:
            _write_all(fd, data)
            if self.fsync_appends:
                os.fsync(fd)
        except OSError as exc:
            # All or nothing: cut a partial write (disk full mid-chunk) so the file
            # still ends on a chunk boundary and verifies up to its last whole chunk.
            try:
                os.ftruncate(fd, recording.size)
            except OSError:
                pass
            reason = "storage is full" if exc.errno in (errno.ENOSPC, errno.EDQUOT) else exc.strerror
            raise StorageError(f"cannot append to recording {key}: {reason}") from exc
        recording.size += len(data)
        if recording.size - recording.evicted >= 2 * self.evict_every:
            if recording.eviction is not None:
                # The disk is behind: wait for the last stretch rather than filling memory
                # with dirty pages (the kernel would throttle this writer all the same).
                recording.eviction.wait()
            # Everything but the last stretch, which the reader of a live session may want;
            # whole pages only (the kernel keeps a partly covered page).
            upto = (recording.size - self.evict_every) & ~(mmap.PAGESIZE - 1)
            recording.eviction = self._evictor.evict(fd, recording.evicted, upto)
            recording.evicted = upto

    def _open_for_appending(self, key: str) -> _OpenRecording:
        try:
            fd = os.open(self.path(key), os.O_WRONLY | os.O_APPEND)
        except OSError as exc:
            raise StorageError(f"cannot open recording {key}: {exc.strerror}") from exc
        try:
            size = os.fstat(fd).st_size
        except OSError as exc:
            os.close(fd)
            raise StorageError(f"cannot open recording {key}: {exc.strerror}") from exc
        recording = self._open_for_append[key] = _OpenRecording(fd, size)
        return recording

    def sync(self, key: str) -> None:
        try:
            recording = self._open_for_append.get(key)
            if recording is not None:
                os.fsync(recording.fd)
                return
            fd = os.open(self.path(key), os.O_RDONLY)
            try:
                os.fsync(fd)
            finally:
                os.close(fd)
        except OSError as exc:
            raise StorageError(f"cannot sync recording {key}: {exc.strerror}") from exc

    def release(self, key: str) -> None:
        recording = self._open_for_append.pop(key, None)
        if recording is None:
            return
        if recording.eviction is not None:
            recording.eviction.wait()  # its duplicate of the file is closed with it
        try:
            # A sealed recording was synced: its pages are clean and leave at once. (A
            # failed one keeps what is still dirty until the kernel writes it.)
            os.posix_fadvise(recording.fd, 0, 0, os.POSIX_FADV_DONTNEED)
        except OSError:
            pass
        os.close(recording.fd)

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


class _OpenRecording:
    __slots__ = ("fd", "size", "evicted", "eviction")

    def __init__(self, fd: int, size: int) -> None:
        self.fd = fd
        self.size = size
        self.evicted = 0  # bytes before this offset are written back and dropped...
        self.eviction: threading.Event | None = None  # ...once this is set


class _PageCacheEvictor:
    """Writes back and drops stretches of recordings from the page cache, in a thread of
    its own: the flush waits on the disk, and an append must not wait for it."""

    def __init__(self) -> None:
        self._jobs: queue.SimpleQueue[tuple[int, int, int, threading.Event]] = queue.SimpleQueue()
        self._thread: threading.Thread | None = None
        self._start_lock = threading.Lock()

    def evict(self, fd: int, start: int, end: int) -> threading.Event:
        """Queue ``[start, end)`` of ``fd``, on a duplicate of it (the writer may close its
        own meanwhile). The event is set once the stretch is done."""
        done = threading.Event()
        try:
            job_fd = os.dup(fd)
        except OSError:
            done.set()  # out of descriptors: the pages stay cached, nothing is lost
            return done
        self._start()
        self._jobs.put((job_fd, start, end, done))
        return done

    def drain(self) -> None:
        """Return once everything queued so far is done."""
        self._start()
        done = threading.Event()
        self._jobs.put((-1, 0, 0, done))
        done.wait()

    def _start(self) -> None:
        with self._start_lock:
            if self._thread is None:
                self._thread = threading.Thread(target=self._run, name="recording-evictor", daemon=True)
                self._thread.start()

    def _run(self) -> None:
        while True:
            fd, start, end, done = self._jobs.get()
            try:
                if fd >= 0 and end > start:
                    os.fdatasync(fd)
                    os.posix_fadvise(fd, start, end - start, os.POSIX_FADV_DONTNEED)
            except OSError:
                pass  # a flush failing here fails again, loudly, at the seal's fsync
            finally:
                if fd >= 0:
                    os.close(fd)
                done.set()


# Appends reach the file in writes of at most this size. Larger writes make the kernel
# allocate larger page-cache folios; with the eviction above, 300 MB in 64 KiB writes cost
# 0.16-0.18 s of system time in three runs here, in 1 MiB writes 0.13-0.56 s. (The first
# measurement blamed the write size for a 20-30x cost: fresh page-cache pages were the
# cause, as docs/benchmarks.md says.)
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

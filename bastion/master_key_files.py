"""The master key's files while it rotates, all in ``keys_dir`` beside ``master.key``:

- ``master.key.next``: the new key, written and fsynced *before* the database is touched,
  so that no crash can leave the database sealed with a key that is not on disk;
- ``master.key.retired-<id>``: an old key, kept (0600) because database backups taken
  before a rotation still hold values sealed with it: restoring such a backup needs it
  back as ``master.key``. Delete it only when no such backup is kept any longer;
- ``master.key.lock``: flock'ed while a rotation or a recovery runs on this node, so that
  a start-up never judges a ``master.key.next`` whose transaction is still running.

``master.key`` itself is never missing: the old key is copied to its retired name first,
then ``master.key.next`` replaces it in one ``os.replace``.
"""

from __future__ import annotations

import base64
import fcntl
import os
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from .keys import MASTER_KEY, KeyStore, KeyStoreError, key_id

NEXT = f"{MASTER_KEY}.next"
RETIRED_PREFIX = f"{MASTER_KEY}.retired-"
LOCK = f"{MASTER_KEY}.lock"


class RotationError(Exception):
    """A rotation or its recovery cannot go on safely; the message is one line."""


def _fsync_dir(directory: Path) -> None:
    # A rename or a new file is durable only once its directory entry is.
    fd = os.open(directory, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _write_durably(path: Path, key: bytes, *, exclusive: bool = True) -> None:
    flags = os.O_WRONLY | os.O_CREAT | (os.O_EXCL if exclusive else os.O_TRUNC)
    fd = os.open(path, flags, 0o600)
    with os.fdopen(fd, "wb") as handle:
        handle.write(base64.b64encode(key) + b"\n")  # the format KeyStore.ensure writes
        handle.flush()
        os.fsync(handle.fileno())
    _fsync_dir(path.parent)


@contextmanager
def locked(directory: Path) -> Iterator[None]:
    fd = os.open(directory / LOCK, os.O_RDWR | os.O_CREAT, 0o600)
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            raise RotationError(
                f"a master-key rotation is running on this node ({directory / LOCK} is held): "
                "try again when it has finished") from None
        yield
    finally:
        os.close(fd)  # releases the lock


def pending(directory: Path) -> bool:
    return (directory / NEXT).exists()


def write_next(directory: Path, key: bytes) -> None:
    """O_EXCL: a leftover ``.next`` is never overwritten, it must be recovered first."""
    try:
        _write_durably(directory / NEXT, key)
    except FileExistsError:
        raise RotationError(f"{directory / NEXT} already exists: an earlier rotation was "
                            "interrupted and must be finished or undone first") from None


def read_next(keys: KeyStore) -> bytes | None:
    """None for a ``.next`` cut short by a crash while it was written: the database is
    touched only after it is complete and fsynced, so such a file never sealed anything."""
    try:
        return keys.master_key_file(NEXT)
    except KeyStoreError:
        return None


def discard_next(directory: Path) -> None:
    (directory / NEXT).unlink(missing_ok=True)
    _fsync_dir(directory)


def retired_keys(keys: KeyStore) -> dict[str, bytes]:
    """Retired keys by id; a file whose content does not match its name is refused rather
    than guessed at."""
    found = {}
    for path in sorted(keys.directory.glob(f"{RETIRED_PREFIX}*")):
        if path.name.endswith(".tmp"):
            continue  # a promote cut short: the key is still master.key
        key = keys.master_key_file(path.name)
        if key_id(key) != path.name.removeprefix(RETIRED_PREFIX):
            raise RotationError(f"{path} does not hold the key its name says (id {key_id(key)})")
        found[key_id(key)] = key
    return found


def promote(directory: Path, current: bytes | None) -> Path | None:
    """Keep ``current`` as a retired key, then make ``master.key.next`` the master key.
    Safe to repeat after a crash at any point in it. Returns the retired file."""
    retired = None
    if current is not None:
        retired = directory / f"{RETIRED_PREFIX}{key_id(current)}"
        # Through a temporary file and a rename: a crash never leaves a half-written
        # retired key, and a repeat simply rewrites the same bytes.
        temporary = retired.with_name(retired.name + ".tmp")
        _write_durably(temporary, current, exclusive=False)
        os.replace(temporary, retired)
    os.replace(directory / NEXT, directory / MASTER_KEY)
    _fsync_dir(directory)
    return retired

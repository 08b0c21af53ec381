"""Recordings in an S3-compatible object store (AWS S3, MinIO, Ceph RGW, Scaleway, OVH...),
so that several bastion nodes share one store and any node can replay any recording.

S3 has no append. The writer only ever appends whole batches of chunks and needs each
append to be all-or-nothing and durable once it returns, so every append is one object:

    <prefix><key>~000000000000     the file header and chunk 0 (``create``)
    <prefix><key>~000000000001     the next append, and so on
    <prefix><key>                  after sealing: all of the above in one object

A PUT is atomic and durable when acknowledged, so a bastion killed mid-session leaves
exactly the appends that were acknowledged, every one of them whole: the recording reads
and verifies up to its last flushed chunk, as with the local folder. ``~`` cannot occur
in a storage key (see ``storage.check_key``), so a key's parts never mix with another key.

Sealing (``sync``, called once when the writer closes) compacts the parts into one object
(a multipart upload above 8 MiB), its ``parts`` metadata saying how many parts it covers,
then deletes the parts: replay then reads one object instead of thousands. The compacted
object is complete before any part is deleted, so a crash in between leaves both, and
readers take the object plus any part numbered after what it covers. A failed compaction
is only logged: the parts are already durable, and the recording stays readable.

Conditional writes (``If-None-Match: *``) make a part, once written, impossible to
overwrite through this class: evidence is never replaced. Credentials come from boto3's
usual chain (``AWS_ACCESS_KEY_ID``/``AWS_SECRET_ACCESS_KEY`` in the environment, a shared
credentials file, or an instance role), never from the bastion's TOML file.
"""

from __future__ import annotations

import contextlib
import io
import logging
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, BinaryIO

from .errors import StorageError
from .storage import LocalFolderStorage, Storage, check_key

if TYPE_CHECKING:
    from bastion.config import Settings

log = logging.getLogger("bastion.recording.s3")

PART_SEPARATOR = "~"
_PART_DIGITS = 12
_PARTS_METADATA = "parts"  # x-amz-meta-parts on the compacted object
# Multipart uploads need parts of at least 5 MiB (but the last); 8 MiB keeps memory small.
_COMPACT_PART_BYTES = 8 * 1024 * 1024
_READ_BUFFER = 1024 * 1024


@dataclass(frozen=True)
class _Segment:
    name: str
    size: int


@dataclass(frozen=True)
class _Layout:
    """What holds a key right now: the compacted object (if any), then the parts after it."""

    base: _Segment | None
    covered: int  # parts the base object holds
    parts: tuple[tuple[int, _Segment], ...]  # (sequence number, object), in order

    @property
    def segments(self) -> list[_Segment]:
        return ([self.base] if self.base else []) + [segment for _, segment in self.parts]

    @property
    def size(self) -> int:
        return sum(segment.size for segment in self.segments)

    @property
    def next_part(self) -> int:
        return max([self.covered - 1, *(seq for seq, _ in self.parts)]) + 1

    @property
    def exists(self) -> bool:
        return self.base is not None or bool(self.parts)


class S3Storage:
    """The :class:`~bastion.recording.storage.Storage` protocol over one bucket."""

    def __init__(self, client: Any, bucket: str, prefix: str = "", *,
                 compact_on_seal: bool = True) -> None:
        self.client = client
        self.bucket = bucket
        self.prefix = prefix
        self.compact_on_seal = compact_on_seal
        # Next part number of each key this process writes: one writer per key, so the
        # number is known without listing the bucket at every append.
        self._next: dict[str, int] = {}
        self._lock = threading.Lock()

    # --- names ------------------------------------------------------------------------

    def object_name(self, key: str) -> str:
        return self.prefix + check_key(key)

    def part_name(self, key: str, sequence: int) -> str:
        return f"{self.object_name(key)}{PART_SEPARATOR}{sequence:0{_PART_DIGITS}d}"

    # --- the protocol -----------------------------------------------------------------

    def create(self, key: str, data: bytes) -> None:
        if self._layout(key).exists:
            raise StorageError(f"recording {key} already exists")
        self._put_part(key, 0, data, action="create")
        with self._lock:
            self._next[key] = 1

    def append(self, key: str, data: bytes) -> None:
        if not data:
            return
        with self._lock:
            sequence = self._next.get(key)
        if sequence is None:
            layout = self._layout(key)
            if not layout.exists:
                raise StorageError(f"cannot open recording {key}: it does not exist")
            sequence = layout.next_part
        self._put_part(key, sequence, data, action="append to")
        with self._lock:
            self._next[key] = sequence + 1

    def release(self, key: str) -> None:
        with self._lock:
            self._next.pop(key, None)

    def sync(self, key: str) -> None:
        """Every acknowledged PUT is already durable; sealing compacts (see the module)."""
        if not self.compact_on_seal:
            return
        try:
            self.compact(key)
        except Exception as exc:  # noqa: BLE001 - the parts are durable and readable as is
            log.warning("recording %s: compaction after sealing failed, parts kept: %s", key, exc)

    def open(self, key: str) -> BinaryIO:
        layout = self._layout(key)
        if not layout.exists:
            raise StorageError(f"recording file {key} is missing")
        return io.BufferedReader(_ChainedObjects(self, key, layout), _READ_BUFFER)  # type: ignore[return-value]

    def size(self, key: str) -> int:
        layout = self._layout(key)
        if not layout.exists:
            raise StorageError(f"cannot stat recording {key}: it does not exist")
        return layout.size

    def exists(self, key: str) -> bool:
        return self._layout(key).exists

    def delete(self, key: str) -> bool:
        layout = self._layout(key)
        names = [segment.name for segment in layout.segments]
        self._delete_objects(names, key)
        with self._lock:
            self._next.pop(key, None)
        return bool(names)

    def keys(self, prefix: str = "") -> Iterator[str]:
        seen: set[str] = set()
        for name, _size in self._list(self.prefix + prefix):
            key = name[len(self.prefix):].split(PART_SEPARATOR, 1)[0]
            if key not in seen:
                seen.add(key)
        yield from sorted(seen)

    # --- compaction -------------------------------------------------------------------

    def compact(self, key: str) -> bool:
        """Gather the key's parts into its single object; False when there was nothing to
        gather. The object is complete before a part is deleted (see the module)."""
        layout = self._layout(key)
        if not layout.parts:
            return False
        covered = layout.next_part
        name = self.object_name(key)
        metadata = {_PARTS_METADATA: str(covered)}
        with _ChainedObjects(self, key, layout) as source:
            if layout.size <= _COMPACT_PART_BYTES:
                self._call("compact", key, self.client.put_object, Bucket=self.bucket, Key=name,
                           Body=source.read_all(), Metadata=metadata)
            else:
                self._multipart(key, name, source, metadata)
        self._delete_objects([segment.name for _, segment in layout.parts], key)
        return True

    def _multipart(self, key: str, name: str, source: _ChainedObjects, metadata: dict[str, str]) -> None:
        upload = self._call("compact", key, self.client.create_multipart_upload,
                            Bucket=self.bucket, Key=name, Metadata=metadata)
        upload_id = upload["UploadId"]
        try:
            done = []
            number = 1
            while block := source.read_exactly(_COMPACT_PART_BYTES):
                answer = self._call("compact", key, self.client.upload_part, Bucket=self.bucket,
                                    Key=name, UploadId=upload_id, PartNumber=number, Body=block)
                done.append({"PartNumber": number, "ETag": answer["ETag"]})
                number += 1
            self._call("compact", key, self.client.complete_multipart_upload, Bucket=self.bucket,
                       Key=name, UploadId=upload_id, MultipartUpload={"Parts": done})
        except BaseException:
            try:
                self.client.abort_multipart_upload(Bucket=self.bucket, Key=name, UploadId=upload_id)
            except Exception:  # noqa: BLE001 - the bucket's lifecycle rule cleans up leftovers
                log.warning("recording %s: could not abort the compaction upload", key)
            raise

    # --- S3 calls ---------------------------------------------------------------------

    def _put_part(self, key: str, sequence: int, data: bytes, *, action: str) -> None:
        name = self.part_name(key, sequence)
        try:
            # If-None-Match: a part is written once, never replaced (evidence).
            self.client.put_object(Bucket=self.bucket, Key=name, Body=data, IfNoneMatch="*")
        except Exception as exc:  # noqa: BLE001 - every failure becomes a StorageError
            if _error_code(exc) in ("PreconditionFailed", "412"):
                raise StorageError(
                    f"cannot {action} recording {key}: part {sequence} already exists "
                    "(another writer, or a replayed request)") from exc
            # All or nothing: a PUT whose answer was lost may still have been stored;
            # remove it so the key keeps exactly what was acknowledged.
            try:
                self.client.delete_object(Bucket=self.bucket, Key=name)
            except Exception:  # noqa: BLE001 - reported through the error below
                log.warning("recording %s: could not remove the failed part %d", key, sequence)
            raise StorageError(f"cannot {action} recording {key}: {_describe(exc)}") from exc

    def _layout(self, key: str) -> _Layout:
        name = self.object_name(key)
        base: _Segment | None = None
        covered = 0
        try:
            head = self.client.head_object(Bucket=self.bucket, Key=name)
        except Exception as exc:  # noqa: BLE001 - "not found" is an answer, the rest fails
            if _error_code(exc) not in ("404", "NoSuchKey", "NotFound"):
                raise StorageError(f"cannot read recording {key}: {_describe(exc)}") from exc
        else:
            base = _Segment(name, int(head["ContentLength"]))
            covered = int(head.get("Metadata", {}).get(_PARTS_METADATA, "0"))
        parts = []
        part_prefix = name + PART_SEPARATOR
        for part_name, size in self._list(part_prefix):
            suffix = part_name[len(part_prefix):]
            if not suffix.isdigit():
                continue
            sequence = int(suffix)
            # Parts the compacted object already holds (left by a crash during compaction).
            if base is not None and sequence < covered:
                continue
            parts.append((sequence, _Segment(part_name, size)))
        parts.sort()
        return _Layout(base, covered, tuple(parts))

    def _list(self, prefix: str) -> Iterator[tuple[str, int]]:
        token: str | None = None
        while True:
            options: dict[str, Any] = {"Bucket": self.bucket, "Prefix": prefix}
            if token:
                options["ContinuationToken"] = token
            try:
                page = self.client.list_objects_v2(**options)
            except Exception as exc:  # noqa: BLE001
                raise StorageError(f"cannot list recordings under {prefix!r}: {_describe(exc)}") from exc
            for item in page.get("Contents", []):
                yield item["Key"], int(item["Size"])
            if not page.get("IsTruncated"):
                return
            token = page["NextContinuationToken"]

    def _delete_objects(self, names: list[str], key: str) -> None:
        for start in range(0, len(names), 1000):  # DeleteObjects takes 1,000 names at most
            batch = [{"Key": name} for name in names[start:start + 1000]]
            answer = self._call("delete", key, self.client.delete_objects, Bucket=self.bucket,
                                Delete={"Objects": batch, "Quiet": True})
            if answer.get("Errors"):
                first = answer["Errors"][0]
                raise StorageError(f"cannot delete recording {key}: {first.get('Key')}: "
                                   f"{first.get('Message') or first.get('Code')}")

    def _call(self, action: str, key: str, function: Any, **options: Any) -> Any:
        try:
            return function(**options)
        except Exception as exc:  # noqa: BLE001
            raise StorageError(f"cannot {action} recording {key}: {_describe(exc)}") from exc

    def _get(self, key: str, segment: _Segment, start: int) -> Any:
        options: dict[str, Any] = {"Bucket": self.bucket, "Key": segment.name}
        if start:
            options["Range"] = f"bytes={start}-"
        return self._call("read", key, self.client.get_object, **options)["Body"]


class _ChainedObjects(io.RawIOBase):
    """The key's objects read one after the other as a single file.

    If a part disappears while being read (the recording was just compacted), the layout
    is read again and reading goes on from the same offset in the compacted object."""

    def __init__(self, storage: S3Storage, key: str, layout: _Layout) -> None:
        super().__init__()
        self._storage = storage
        self._key = key
        self._segments = layout.segments
        self._index = 0  # segment being read
        self._within = 0  # offset in it
        self._offset = 0  # offset in the whole
        self._body: Any = None

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: Any) -> int:
        view = memoryview(buffer).cast("B")
        while self._index < len(self._segments):
            segment = self._segments[self._index]
            if self._within >= segment.size:
                self._next_segment()
                continue
            try:
                if self._body is None:
                    self._body = self._storage._get(self._key, segment, self._within)
                data = self._body.read(min(len(view), segment.size - self._within))
            except StorageError:
                if not self._relocate():
                    raise
                continue
            if not data:
                raise StorageError(f"recording {self._key}: {segment.name} ended early")
            view[:len(data)] = data
            self._within += len(data)
            self._offset += len(data)
            return len(data)
        return 0

    def _next_segment(self) -> None:
        self._close_body()
        self._index += 1
        self._within = 0

    def _relocate(self) -> bool:
        """Find the current offset again in a fresh layout; False if it is not there."""
        self._close_body()
        segments = self._storage._layout(self._key).segments
        start = 0
        for index, segment in enumerate(segments):
            if start <= self._offset < start + segment.size:
                if segments[:index + 1] == self._segments[:index + 1]:
                    return False  # same objects: the failure was not a compaction
                self._segments, self._index, self._within = segments, index, self._offset - start
                return True
            start += segment.size
        return False

    def read_all(self) -> bytes:
        chunks = []
        while block := self.read(_READ_BUFFER):
            chunks.append(block)
        return b"".join(chunks)

    def read_exactly(self, size: int) -> bytes:
        chunks, wanted = [], size
        while wanted and (block := self.read(wanted)):
            chunks.append(block)
            wanted -= len(block)
        return b"".join(chunks)

    def _close_body(self) -> None:
        if self._body is not None:
            with contextlib.suppress(Exception):  # closing a spent HTTP body cannot matter
                self._body.close()
            self._body = None

    def close(self) -> None:
        self._close_body()
        super().close()


def _error_code(exc: BaseException) -> str:
    response = getattr(exc, "response", None)
    if isinstance(response, dict):
        error = response.get("Error", {})
        code = str(error.get("Code", ""))
        status = str(response.get("ResponseMetadata", {}).get("HTTPStatusCode", ""))
        return code if code and code != status else status or code
    return ""


def _describe(exc: BaseException) -> str:
    response = getattr(exc, "response", None)
    if isinstance(response, dict) and response.get("Error"):
        error = response["Error"]
        return f"{error.get('Code')}: {error.get('Message') or 'no message'}"
    return f"{type(exc).__name__}: {exc}"


# --- choosing the storage from the settings --------------------------------------------

_storages: dict[tuple[Any, ...], Storage] = {}
_storages_lock = threading.Lock()


def storage_from_settings(settings: Settings) -> Storage:
    """The storage ``[recording] storage`` names. One instance per configuration and
    process: the console builds a RecordingService per request, and a boto3 client costs
    tens of milliseconds to build (it is thread-safe, so sharing it is fine)."""
    recording = settings.recording
    if recording.storage == "local":
        return LocalFolderStorage(settings.recordings_dir)
    identity = (recording.s3_bucket, recording.s3_prefix, recording.s3_endpoint_url,
                recording.s3_region, recording.s3_compact_on_seal)
    with _storages_lock:
        storage = _storages.get(identity)
        if storage is None:
            storage = _storages[identity] = S3Storage(
                s3_client(recording.s3_endpoint_url, recording.s3_region),
                recording.s3_bucket or "", recording.s3_prefix,
                compact_on_seal=recording.s3_compact_on_seal)
        return storage


def s3_client(endpoint_url: str | None, region: str | None) -> Any:
    try:
        import boto3
        from botocore.config import Config
    except ImportError as exc:
        raise StorageError(
            "[recording] storage = \"s3\" needs boto3: pip install 'dpi-bastion[s3]'") from exc
    config = Config(
        # A stalled store stalls the session's output (nothing unrecorded is ever shown):
        # bounded waits and few retries turn it into a clear failure instead.
        connect_timeout=5, read_timeout=30, retries={"max_attempts": 3, "mode": "standard"},
        # MinIO, Ceph and most on-premises stores answer on one host name: path style.
        s3={"addressing_style": "path" if endpoint_url else "auto"},
    )
    return boto3.session.Session().client("s3", endpoint_url=endpoint_url, region_name=region,
                                          config=config)

"""Recordings in an S3-compatible bucket (a real S3 server on loopback): written, sealed,
verified and read back exactly; tampering named at its chunk; a recording cut by a crash
reads and verifies up to its last flushed chunk; a proxied session lands in the bucket."""

from __future__ import annotations

import io
import json
import os
import time

import pytest

from bastion.audit import Actor
from bastion.config import load_settings
from bastion.models import Recording
from bastion.recording import (
    Expected,
    RecordingReader,
    RecordingService,
    RecordingWriter,
    StorageError,
    TerminalInfo,
    verify_file,
)
from bastion.recording.encryption import new_data_key
from bastion.recording.s3_storage import S3Storage, storage_from_settings
from tests.proxy.conftest import RunningProxy, Scenario

from .s3server import REGION, S3Server

KEY = "2025/03/14/session-1-shell-test.rec"
DPO = Actor("staff:dpo", "dpo")


def objects(storage: S3Storage) -> list[str]:
    listed = storage.client.list_objects_v2(Bucket=storage.bucket)
    return [item["Key"] for item in listed.get("Contents", [])]


def write(storage: S3Storage, data_key: bytes, pieces: int = 6, *, close: bool = True):
    writer = RecordingWriter.create(storage, KEY, data_key, TerminalInfo(80, 24, "xterm"))
    outputs = []
    for n in range(pieces):
        data = f"line {n}: ".encode() + os.urandom(40).hex().encode() + b"\r\n"
        writer.output(data)
        outputs.append(data)
    result = writer.close("client closed") if close else writer.result()
    return result, b"".join(outputs)


def sealed(result) -> Expected:
    return Expected(result.chunk_count, result.final_hash, sealed=True)


def test_written_sealed_compacted_and_read_back_exactly(s3_storage: S3Storage) -> None:
    data_key = new_data_key()
    result, output = write(s3_storage, data_key)
    assert result.sealed
    # Sealing gathered the parts into one object: replay reads one object.
    assert objects(s3_storage) == ["recordings/" + KEY]
    assert s3_storage.size(KEY) == result.size_bytes
    report = verify_file(s3_storage, KEY, data_key, sealed(result))
    assert report.ok and report.sealed, report.describe()
    assert RecordingReader(s3_storage, KEY, data_key, sealed(result)).output_bytes() == output
    assert list(s3_storage.keys()) == [KEY]


def test_a_key_is_never_created_twice_nor_a_part_replaced(s3_storage: S3Storage) -> None:
    s3_storage.create(KEY, b"first")
    with pytest.raises(StorageError, match="already exists"):
        s3_storage.create(KEY, b"second")
    # Another writer (or a replayed request) cannot replace a part already written.
    other = S3Storage(s3_storage.client, s3_storage.bucket, s3_storage.prefix)
    s3_storage.append(KEY, b"-one")
    with pytest.raises(StorageError, match="already exists"):
        other._put_part(KEY, 1, b"-forged", action="append to")
    with s3_storage.open(KEY) as stream:
        assert stream.read() == b"first-one"


def test_a_tampered_object_is_named_at_its_chunk(s3_storage: S3Storage) -> None:
    data_key = new_data_key()
    result, _ = write(s3_storage, data_key)
    name = "recordings/" + KEY
    body = bytearray(s3_storage.client.get_object(Bucket=s3_storage.bucket, Key=name)["Body"].read())
    body[-40] ^= 0x01  # inside the last data chunk's ciphertext
    s3_storage.client.put_object(Bucket=s3_storage.bucket, Key=name, Body=bytes(body))
    report = verify_file(s3_storage, KEY, data_key, sealed(result))
    assert not report.ok
    assert report.bad_chunk is not None and report.bad_chunk >= 1
    assert f"chunk {report.bad_chunk}" in report.problem


def test_a_crash_leaves_what_was_flushed_readable_and_verifiable(s3_storage: S3Storage,
                                                                 s3_server: S3Server) -> None:
    data_key = new_data_key()
    # The writer is never closed: the process died. Each append is a whole object.
    result, output = write(s3_storage, data_key, pieces=5, close=False)
    assert len(objects(s3_storage)) == 1 + 5
    # Another node, with its own client, reads it.
    elsewhere = S3Storage(s3_server.client(), s3_storage.bucket, s3_storage.prefix)
    report = verify_file(elsewhere, KEY, data_key, Expected())
    assert report.ok and not report.sealed, report.describe()
    assert report.chunks == result.chunk_count and report.final_hash == result.final_hash
    assert RecordingReader(elsewhere, KEY, data_key).output_bytes() == output
    # Against what the catalog recorded at the crash (interrupted: not sealed).
    interrupted = Expected(result.chunk_count, result.final_hash, sealed=False)
    assert verify_file(elsewhere, KEY, data_key, interrupted).ok


def test_a_removed_part_is_named(s3_storage: S3Storage) -> None:
    data_key = new_data_key()
    result, _ = write(s3_storage, data_key, pieces=5, close=False)
    s3_storage.client.delete_object(Bucket=s3_storage.bucket, Key=s3_storage.part_name(KEY, 3))
    report = verify_file(s3_storage, KEY, data_key,
                         Expected(result.chunk_count, result.final_hash, sealed=False))
    assert not report.ok and report.bad_chunk == 3, report.describe()


def test_compaction_interrupted_before_the_parts_went_still_reads_exactly(
        s3_storage: S3Storage, monkeypatch: pytest.MonkeyPatch) -> None:
    data_key = new_data_key()

    def fail(*args, **kwargs):
        raise StorageError("the store went away")

    monkeypatch.setattr(s3_storage, "_delete_objects", fail)
    result, output = write(s3_storage, data_key)
    assert result.sealed  # a failed compaction does not fail the seal: parts are durable
    assert len(objects(s3_storage)) > 1
    monkeypatch.undo()
    assert RecordingReader(s3_storage, KEY, data_key, sealed(result)).output_bytes() == output
    assert verify_file(s3_storage, KEY, data_key, sealed(result)).ok
    assert s3_storage.compact(KEY) is False or objects(s3_storage) == ["recordings/" + KEY]


def test_a_large_recording_is_compacted_by_multipart_upload(s3_storage: S3Storage) -> None:
    data_key = new_data_key()
    writer = RecordingWriter.create(s3_storage, KEY, data_key)
    output = b""
    for _ in range(12):
        piece = os.urandom(1024 * 1024)  # incompressible: stored as is, 12 MiB in all
        writer.output(piece)
        output += piece
    result = writer.close("done")
    assert objects(s3_storage) == ["recordings/" + KEY]
    assert s3_storage.size(KEY) == result.size_bytes > 12 * 1024 * 1024
    assert RecordingReader(s3_storage, KEY, data_key, sealed(result)).output_bytes() == output
    assert s3_storage.delete(KEY) is True
    assert not s3_storage.exists(KEY) and objects(s3_storage) == []


def test_settings_choose_the_backend(tmp_path, s3_server: S3Server, bucket: str) -> None:
    local = load_settings(None, env={"BASTION_PATHS__VAR_DIR": str(tmp_path)})
    assert type(storage_from_settings(local)).__name__ == "LocalFolderStorage"
    with pytest.raises(Exception, match="s3_bucket"):
        load_settings(None, env={"BASTION_RECORDING__STORAGE": "s3"})
    chosen = load_settings(None, env={
        "BASTION_RECORDING__STORAGE": "s3", "BASTION_RECORDING__S3_BUCKET": bucket,
        "BASTION_RECORDING__S3_ENDPOINT_URL": s3_server.endpoint_url,
        "BASTION_RECORDING__S3_REGION": REGION})
    storage = storage_from_settings(chosen)
    assert isinstance(storage, S3Storage) and storage.bucket == bucket
    assert storage_from_settings(chosen) is storage  # one client per process


def test_a_proxied_session_is_recorded_in_the_bucket(
        scenario: Scenario, s3_server: S3Server, bucket: str,
        monkeypatch: pytest.MonkeyPatch) -> None:
    for name, value in s3_server.environment.items():
        monkeypatch.setenv(name, value)
    scenario.proxy.stop()
    scenario.core.settings = scenario.core.settings.with_changes(
        "recording", storage="s3", s3_bucket=bucket, s3_endpoint_url=s3_server.endpoint_url,
        s3_region=REGION)
    proxy = RunningProxy(scenario.core)
    scenario.client.trust("127.0.0.1", proxy.port, proxy.host_key_line)
    try:
        scenario.grant()
        result = scenario.client.ssh(scenario.user, "127.0.0.1", proxy.port,
                                     "seq 1 2000; echo fin")
    finally:
        proxy.stop()
    assert result.returncode == 0, result.stderr
    # The session's end seals its recording on a worker thread, which on a loaded machine
    # may finish after the proxy has stopped waiting for its connections.
    deadline = time.monotonic() + 60
    while True:
        with scenario.core.db.session() as s:
            recording = s.query(Recording).one()
            recording_id, storage_key, status = recording.id, recording.storage_key, recording.status
        if status != "open" or time.monotonic() > deadline:
            break
        time.sleep(0.1)
    assert status == "sealed"
    assert not any(scenario.core.settings.recordings_dir.rglob("*.rec"))
    service = RecordingService(scenario.core)
    assert isinstance(service.storage, S3Storage) and service.storage.exists(storage_key)
    assert service.verify(recording_id, DPO).ok
    out = io.StringIO()
    service.export(recording_id, out, DPO)
    lines = out.getvalue().splitlines()[1:]
    shown = "".join(json.loads(line)[2] for line in lines if json.loads(line)[1] == "o")
    assert shown.encode() == result.stdout

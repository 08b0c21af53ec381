"""Sealed recordings: exact round trip, and every kind of tampering named at its chunk."""

from __future__ import annotations

import io
import os
import tempfile
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from bastion.recording import (
    Expected,
    LocalFolderStorage,
    RecordingCorrupted,
    RecordingReader,
    RecordingWriter,
    TerminalInfo,
    verify_file,
)
from bastion.recording.container import CHUNK_HEAD, read_chunk, read_file_header
from bastion.recording.encryption import new_data_key
from bastion.recording.export import export_recording

KEY = "2025/03/14/session-1-shell-test.rec"


def write_sample(storage: LocalFolderStorage, data_key: bytes, pieces: int = 6):
    writer = RecordingWriter.create(storage, KEY, data_key, TerminalInfo(80, 24, "xterm"))
    outputs = []
    for n in range(pieces):
        data = f"line {n}: ".encode() + os.urandom(40).hex().encode() + b"\r\n"
        writer.output(data)
        outputs.append(data)
    result = writer.close("client closed")
    return result, b"".join(outputs)


def chunk_spans(path: Path) -> list[tuple[int, int]]:
    """(start, end) file offsets of every chunk."""
    spans = []
    with path.open("rb") as stream:
        offset = len(read_file_header(stream).raw)
        position = 0
        while (raw := read_chunk(stream, position, offset)) is not None:
            spans.append((offset, raw.end_offset))
            offset, position = raw.end_offset, position + 1
    return spans


def expected(result) -> Expected:
    return Expected(result.chunk_count, result.final_hash, sealed=True)


@pytest.fixture
def sample(storage, data_key):
    result, output = write_sample(storage, data_key)
    path = storage.path(KEY)
    return result, output, path, chunk_spans(path)


def flip(path: Path, offset: int) -> None:
    data = bytearray(path.read_bytes())
    data[offset] ^= 0x01
    path.write_bytes(bytes(data))


def test_untouched_recording_verifies_and_reads_back_exactly(storage, data_key, sample):
    result, output, path, spans = sample
    # header chunk, 6 outputs, the end marker, the final chunk
    assert result.chunk_count == len(spans) == 9
    assert result.size_bytes == path.stat().st_size
    report = verify_file(storage, KEY, data_key, expected(result))
    assert report.ok and report.sealed, report.describe()
    assert (report.chunks, report.final_hash) == (result.chunk_count, result.final_hash)
    reader = RecordingReader(storage, KEY, data_key, expected(result))
    assert reader.output_bytes() == output
    assert reader.header["width"] == 80 and reader.header["env"]["TERM"] == "xterm"
    assert os.stat(path).st_mode & 0o777 == 0o600


def test_recording_file_reveals_nothing_in_clear(sample):
    _, output, path, _ = sample
    stored = path.read_bytes()
    assert b"line 3" not in stored and output[:20] not in stored


@pytest.mark.parametrize("chunk", [0, 3, 8])
def test_flipped_ciphertext_byte_names_its_chunk(storage, data_key, sample, chunk):
    result, _, path, spans = sample
    start, end = spans[chunk]
    flip(path, start + CHUNK_HEAD.size + (end - start - CHUNK_HEAD.size) // 2)
    report = verify_file(storage, KEY, data_key, expected(result))
    assert not report.ok
    assert report.bad_chunk == chunk
    assert f"chunk {chunk} fails authentication" in report.problem
    assert report.chunks == chunk  # everything before it still verifies


@pytest.mark.parametrize(
    ("field_offset", "message"),
    [(0, "no chunk marker"), (7, "out of place"), (8, "fails authentication")],
    ids=["marker", "index", "flags"],
)
def test_flipped_chunk_framing_names_its_chunk(storage, data_key, sample, field_offset, message):
    result, _, path, spans = sample
    flip(path, spans[4][0] + field_offset)
    report = verify_file(storage, KEY, data_key, expected(result))
    assert report.bad_chunk == 4 and message in report.problem


def test_altered_file_header_is_caught_at_chunk_zero(storage, data_key, sample):
    result, _, path, _ = sample
    data = path.read_bytes().replace(b'"created":"', b'"created":"1', 1)
    data = data[:8] + (int.from_bytes(data[8:10], "big") + 1).to_bytes(2, "big") + data[10:]
    path.write_bytes(data)
    report = verify_file(storage, KEY, data_key, expected(result))
    assert report.bad_chunk == 0 and "file header" in report.problem


def test_cut_tail_at_a_chunk_boundary_is_named_against_the_catalog(storage, data_key, sample):
    result, _, path, spans = sample
    os.truncate(path, spans[6][0])  # chunks 6, 7, 8 gone
    report = verify_file(storage, KEY, data_key, expected(result))
    assert not report.ok and report.bad_chunk == 6
    assert "truncated" in report.problem and "chunk 6 is missing" in report.problem
    assert report.chunks == 6
    # Without the catalog, the missing final chunk still shows it was not sealed.
    alone = verify_file(storage, KEY, data_key)
    assert alone.ok and not alone.sealed


def test_cut_inside_a_chunk_is_named(storage, data_key, sample):
    result, _, path, spans = sample
    start, end = spans[5]
    os.truncate(path, start + 20)
    report = verify_file(storage, KEY, data_key, expected(result))
    assert report.bad_chunk == 5 and report.truncated and "incomplete" in report.problem


def test_swapped_chunks_are_named(storage, data_key, sample):
    result, _, path, spans = sample
    data = path.read_bytes()
    (a0, a1), (b0, b1) = spans[2], spans[3]
    path.write_bytes(data[:a0] + data[b0:b1] + data[a0:a1] + data[b1:])
    report = verify_file(storage, KEY, data_key, expected(result))
    assert report.bad_chunk == 2
    assert "chunk 2 is out of place: chunk 3 was found there" in report.problem


def test_swapped_and_renumbered_chunks_fail_authentication(storage, data_key, sample):
    result, _, path, spans = sample
    data = bytearray(path.read_bytes())
    (a0, a1), (b0, b1) = spans[2], spans[3]
    first, second = bytearray(data[b0:b1]), bytearray(data[a0:a1])
    first[4:8], second[4:8] = (2).to_bytes(4, "big"), (3).to_bytes(4, "big")
    path.write_bytes(bytes(data[:a0] + first + second + data[b1:]))
    report = verify_file(storage, KEY, data_key, expected(result))
    assert report.bad_chunk == 2 and "fails authentication" in report.problem


def test_data_after_the_final_chunk_is_named(storage, data_key, sample):
    result, _, path, spans = sample
    start, end = spans[3]
    with path.open("ab") as handle:
        handle.write(path.read_bytes()[start:end])
    report = verify_file(storage, KEY, data_key, expected(result))
    assert report.bad_chunk == 9 and "final chunk" in report.problem
    alone = verify_file(storage, KEY, data_key)
    assert alone.bad_chunk == 9


def test_wrong_key_or_wrong_catalog_hash_fails(storage, data_key, sample):
    result, _, _, _ = sample
    assert verify_file(storage, KEY, new_data_key(), expected(result)).bad_chunk == 0
    wrong = Expected(result.chunk_count, "0" * 64, sealed=True)
    report = verify_file(storage, KEY, data_key, wrong)
    assert not report.ok and report.bad_chunk is None and "catalog" in report.problem


def test_missing_file_is_reported(storage, data_key):
    report = verify_file(storage, "2025/01/01/nothing.rec", data_key)
    assert not report.ok and "missing" in report.problem


def test_reading_a_tampered_recording_stops_at_the_bad_chunk(storage, data_key, sample):
    result, output, path, spans = sample
    flip(path, spans[4][1] - 3)
    reader = RecordingReader(storage, KEY, data_key, expected(result))
    seen = []
    with pytest.raises(RecordingCorrupted) as caught:
        for event in reader.events():
            seen.append(event.data)
    assert caught.value.chunk == 4
    # Only the outputs of chunks 1..3 came out, all of them genuine.
    assert b"".join(seen) == output[: sum(len(piece) for piece in seen)]
    assert len(seen) == 3
    with pytest.raises(RecordingCorrupted, match="chunk 4"):
        export_recording(RecordingReader(storage, KEY, data_key, expected(result)), io.StringIO())


@settings(max_examples=40, deadline=None)
@given(st.lists(st.binary(min_size=0, max_size=300), min_size=1, max_size=12))
def test_any_bytes_round_trip_exactly(pieces):
    with tempfile.TemporaryDirectory() as folder:
        storage = LocalFolderStorage(folder)
        data_key = new_data_key()
        writer = RecordingWriter.create(storage, "k/a.rec", data_key, chunk_bytes=256)
        for piece in pieces:
            writer.output(piece)
            writer.input(piece[:5])
        result = writer.close("done")
        reader = RecordingReader(storage, "k/a.rec", data_key, expected(result))
        assert reader.output_bytes() == b"".join(pieces)
        assert result.output_bytes == sum(map(len, pieces))

"""``bastion recordings export --raw`` (issue 15): the exact bytes, stdout and stderr
apart, where the asciicast export has to turn invalid UTF-8 into U+FFFD."""

from __future__ import annotations

import asyncio
import io
import json
import random

from click.testing import CliRunner

from bastion.audit import Actor
from bastion.cli import main_group
from bastion.recording import RecordingService, TerminalInfo

from .conftest import add_session, build_core

ALL_BYTES = bytes(range(256))
# Every byte value in both streams, cut at random places (multi-byte characters and
# invalid sequences split between reads), interleaved as an exec channel sends them.
STDOUT = ALL_BYTES * 3 + "é€😀".encode() + bytes([0xE2, 0x82]) + ALL_BYTES
STDERR = bytes(reversed(ALL_BYTES)) * 2 + b"\xff\xfe error\n"


def pieces(data: bytes, seed: int) -> list[bytes]:
    rng, out, position = random.Random(seed), [], 0
    while position < len(data):
        size = rng.randint(1, 40)
        out.append(data[position:position + size])
        position += size
    return out


async def record_exec(service: RecordingService, session_id: int) -> int:
    recorder = await service.start(session_id, "exec", TerminalInfo())
    out, err = pieces(STDOUT, 1), pieces(STDERR, 2)
    while out or err:
        if out:
            await recorder.output(out.pop(0))
        if err:
            await recorder.output(err.pop(0), stderr=True)
    await recorder.close("exit 0")
    return recorder.recording_id


def test_raw_export_gives_back_every_byte_of_each_stream(tmp_path, monkeypatch) -> None:
    monkeypatch.chdir(tmp_path)
    core = build_core(tmp_path / "var")
    try:
        recording_id = asyncio.run(record_exec(RecordingService(core), add_session(core)))
        run = CliRunner().invoke
        env = {"BASTION_PATHS__VAR_DIR": str(tmp_path / "var")}
        result = run(main_group, ["recordings", "export", "--raw", "--purpose", "byte-exact check of the raw export", str(recording_id),
                                  "-o", "raw/session"], env=env)
        assert result.exit_code == 1 and "nothing written" in result.output  # no folder raw/
        (tmp_path / "raw").mkdir()
        result = run(main_group, ["recordings", "export", "--raw", "--purpose", "byte-exact check of the raw export", str(recording_id),
                                  "-o", "raw/session"], env=env)
        assert result.exit_code == 0, result.output
        assert (tmp_path / "raw/session.stdout").read_bytes() == STDOUT
        assert (tmp_path / "raw/session.stderr").read_bytes() == STDERR
        assert (tmp_path / "raw/session.stdout").stat().st_mode & 0o777 == 0o600
        assert f"({len(STDOUT)} bytes)" in result.output
        # The asciicast export of the same recording: text, so invalid bytes are U+FFFD.
        cast = io.StringIO()
        RecordingService(core).export(recording_id, cast, Actor("staff:dpo", "dpo"))
        text = "".join(json.loads(line)[2] for line in cast.getvalue().splitlines()[1:]
                       if json.loads(line)[1] == "o")
        assert "\ufffd" in text and "é€😀" in text
        refused = run(main_group, ["recordings", "export", "--raw", "--purpose", "byte-exact check of the raw export",
                                   str(recording_id), "-o", "-"],
                      env=env)
        assert refused.exit_code == 1 and "give -o OUTPUT" in refused.output
    finally:
        core.close()

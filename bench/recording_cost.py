"""Benchmark 5: what recording costs.

- Bytes stored per byte of terminal output, from the catalog (``size_bytes`` over
  ``output_bytes``) of real sessions through the bastion: log-like text (``cat`` of a
  system log), random binary, and an interactive session (one key at a time: each echo
  is its own chunk, with its framing, nonce and tag, plus the keystrokes themselves).
- CPU share of recording: the recording writer's CPU time for the same bytes, in the same
  64 KiB pieces the relay hands it (no group commit: an upper bound), over the bastion
  process's whole CPU time for the text transfer.
"""

from __future__ import annotations

import asyncio
import os
import random
import subprocess
import tempfile
import time
from pathlib import Path
from typing import Any

import asyncssh
from sqlalchemy import func, select

from bastion.models import Recording
from bastion.recording import LocalFolderStorage, RecordingWriter
from bastion.recording.encryption import new_data_key

from .keystrokes import type_and_time
from .measure import cpu_window, wait_quiet
from .world import World

MIB = 1024 * 1024
PIECE = 65536
_SERVICES = ["dpi-app", "dpi-gateway", "postgresql", "nginx", "cron", "sshd", "kernel"]
_MESSAGES = [
    "GET /api/patients/{n}/documents HTTP/1.1 200 {m}ms",
    "connection pool: {n} active, {m} idle",
    "job purge-temp finished in {m} ms, {n} files removed",
    "WARN slow query ({m} ms): SELECT * FROM visit WHERE patient_id = {n}",
    "session {n} opened for user app{m}",
    "checkpoint complete: wrote {n} buffers ({m}.2%)",
]


def log_text(size: int, seed: int = 5) -> bytes:
    """Syslog-like lines: what technicians most often page through."""
    rng = random.Random(seed)  # noqa: S311 - reproducible sample text
    lines, total = [], 0
    while total < size:
        line = (f"Nov 24 {rng.randrange(24):02d}:{rng.randrange(60):02d}:{rng.randrange(60):02d} "
                f"dpi-app-01 {rng.choice(_SERVICES)}[{rng.randrange(1000, 30000)}]: "
                + rng.choice(_MESSAGES).format(n=rng.randrange(10**6), m=rng.randrange(1000))
                + "\n").encode()
        lines.append(line)
        total += len(line)
    return b"".join(lines)[:size]


def _newest_recording(world: World, after: int) -> Recording:
    with world.core.db.session() as s:
        row = s.scalars(select(Recording).where(Recording.id > after).order_by(Recording.id.desc())).first()
        assert row is not None, "no recording was made"
        s.expunge(row)
        return row


def _max_recording(world: World) -> int:
    with world.core.db.session() as s:
        return s.scalar(select(func.max(Recording.id))) or 0


def _wait_sealed(world: World, recording_id: int, timeout: float = 30) -> Recording:
    deadline = time.monotonic() + timeout
    while True:
        with world.core.db.session() as s:
            row = s.get(Recording, recording_id)
            if row is not None and row.status != "open":
                s.expunge(row)
                return row
        if time.monotonic() > deadline:
            raise RuntimeError(f"recording {recording_id} was not sealed")
        time.sleep(0.2)


def _cat_through_bastion(world: World, name: str) -> float:
    argv = world.client.ssh_argv(world.user, "127.0.0.1", world.bastion.ssh_port, f"cat {name}")
    wait_quiet(world.bastion.pid)
    with cpu_window(world.bastion.pid) as window, open(os.devnull, "wb") as sink:
        result = subprocess.run(argv, stdout=sink, stderr=subprocess.PIPE, timeout=600)
    if result.returncode != 0:
        raise RuntimeError(f"cat {name} failed: {result.stderr.decode()[-300:]}")
    return window.cpu


def _ratio(row: Recording) -> dict[str, Any]:
    return {"output_bytes": row.output_bytes, "stored_bytes": row.size_bytes,
            "stored_per_output_byte": round(row.size_bytes / max(1, row.output_bytes), 3)}


def _writer_cpu(data: bytes) -> float:
    """CPU seconds the writer spends recording ``data`` in relay-sized pieces."""
    with tempfile.TemporaryDirectory() as folder:
        writer = RecordingWriter.create(LocalFolderStorage(folder), "cost.rec", new_data_key())
        started = time.thread_time()
        for offset in range(0, len(data), PIECE):
            writer.output(data[offset:offset + PIECE])
        writer.close("done")
        return time.thread_time() - started


async def _interactive(world: World, keys: int) -> None:
    async with asyncssh.connect("127.0.0.1", world.bastion.ssh_port, username=world.user,
                                client_keys=[str(world.client.key_path)], known_hosts=None,
                                agent_path=None, config=None) as connection:
        process = await connection.create_process(term_type="xterm", term_size=(120, 40),
                                                  encoding=None)
        await type_and_time(process, keys)
        process.stdin.write(b"\x15exit\n")
        await process.wait_closed()


def run(world: World, size_mb: int, keys: int) -> dict[str, Any]:
    size = size_mb * MIB
    text = log_text(size)
    samples = {"log text": text, "random binary": os.urandom(size)}
    results: dict[str, Any] = {"size_mb": size_mb, "samples": {}}
    for label, data in samples.items():
        name = f"cost-{label.replace(' ', '-')}.txt"
        path: Path = world.target.home / name
        path.write_bytes(data)
        os.chmod(path, 0o644)
        before = _max_recording(world)
        bastion_cpu = _cat_through_bastion(world, name)
        row = _wait_sealed(world, _newest_recording(world, before).id)
        writer_cpu = _writer_cpu(data)
        results["samples"][label] = {
            **_ratio(row), "bastion_cpu_s": round(bastion_cpu, 3),
            "writer_cpu_s": round(writer_cpu, 3),
            "recording_cpu_share": round(writer_cpu / bastion_cpu, 3) if bastion_cpu else None,
        }
        path.unlink()
    before = _max_recording(world)
    asyncio.run(_interactive(world, keys))
    row = _wait_sealed(world, _newest_recording(world, before).id)
    results["samples"]["interactive typing"] = {**_ratio(row), "keys": keys}
    return results

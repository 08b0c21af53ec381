"""Two OS processes appending at once keep one unbroken chain, with exactly one periodic
checkpoint per interval: on a real PostgreSQL (advisory lock) and on SQLite (write lock)."""

from __future__ import annotations

import multiprocessing
import multiprocessing.synchronize
from pathlib import Path

from bastion.audit import Actor, AuditLog
from bastion.audit.service import verify
from bastion.audit.signing import keystore_signer
from bastion.db import Database
from bastion.keys import KeyStore

from .conftest import checkpoints, events

PER_WRITER = 200
INTERVAL = 25


def _writer(url: str, keys_dir: str, name: str, start: multiprocessing.synchronize.Barrier) -> None:
    """One bastion node: its own engine, its own process, one transaction per event."""
    db = Database(url)
    log = AuditLog(name, signer=keystore_signer(KeyStore(Path(keys_dir))), checkpoint_every=INTERVAL)
    start.wait(60)  # both writers ready (imports done, engine built): go together
    for i in range(PER_WRITER):
        with db.session() as session:
            log.append(session, action="test.concurrent", outcome="ok",
                       actor=Actor(f"technician:{name}", "technician"), details={"i": i})
    db.dispose()


def test_two_processes_keep_one_chain(any_core) -> None:
    context = multiprocessing.get_context("spawn")  # fresh interpreters: no shared engine
    start = context.Barrier(3)
    writers = [context.Process(target=_writer, args=(any_core.db.url, str(any_core.keys.directory),
                                                     f"node-{n}", start)) for n in (1, 2)]
    for process in writers:
        process.start()
    start.wait(60)
    for process in writers:
        process.join(120)
        assert process.exitcode == 0

    rows = events(any_core.db)
    assert len(rows) == 2 * PER_WRITER
    assert {r["node"] for r in rows} == {"node-1", "node-2"}
    if any_core.db.is_postgresql:
        # Interleaved, not one writer after the other: the advisory lock was really
        # contended (PostgreSQL queues its waiters; SQLite's busy handler polls, so there
        # one writer may well take every turn).
        switches = sum(a["node"] != b["node"] for a, b in zip(rows, rows[1:], strict=False))
        assert switches > 1
    counts = [c["event_count"] for c in checkpoints(any_core.db)]
    assert counts == list(range(INTERVAL, 2 * PER_WRITER + 1, INTERVAL))
    any_core.audit = AuditLog(any_core.node, signer=keystore_signer(any_core.keys),
                              checkpoint_every=INTERVAL)
    report = verify(any_core, record=False)
    assert report.ok, report.summary()
    assert report.events == 2 * PER_WRITER

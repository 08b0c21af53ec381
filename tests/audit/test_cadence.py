"""When checkpoints are signed (issue 15): every N events, once the oldest unsigned event
is M minutes old (on the next append, or on a timer when the log is idle), and at each
``bastion serve`` start and stop; ``audit verify`` tells how old the unsigned tail is,
which ids were skipped, and (SQLite) when the tail was cut."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from datetime import timedelta

import pytest
from sqlalchemy import text

import bastion.audit.checkpoints
import bastion.audit.log
from bastion.audit.service import checkpoint_if_stale, verify
from bastion.models import utcnow
from tests.conftest import SECOND_FACTOR_OFF
from tests.harness.ports import free_port, wait_for_port

from .conftest import append, checkpoints, tamper, with_interval

T0 = utcnow()


def kinds(core):
    return [(c["kind"], c["event_id"]) for c in checkpoints(core.db)]


def at(monkeypatch, module, when):
    monkeypatch.setattr(module, "utcnow", lambda: when)


def test_a_checkpoint_by_count_and_one_by_age(acore, monkeypatch) -> None:
    core = with_interval(acore, 100, seconds=300)
    at(monkeypatch, bastion.audit.log, T0)
    append(core, 3)
    assert kinds(core) == []  # fresh install, three events, three seconds: nothing due yet
    at(monkeypatch, bastion.audit.log, T0 + timedelta(minutes=6))
    append(core, 1, start=3)
    assert kinds(core) == [("timed", 4)]
    append(core, 100, start=4)
    assert kinds(core) == [("timed", 4), ("periodic", 104)]
    assert verify(core, record=False).ok


def test_an_idle_tail_is_signed_by_the_timer_and_verify_says_how_old_it_is(acore, monkeypatch) -> None:
    core = with_interval(acore, 100, seconds=300)
    at(monkeypatch, bastion.audit.log, T0)
    append(core, 5)
    at(monkeypatch, bastion.audit.verify, T0 + timedelta(minutes=3))
    report = verify(core, record=False)
    assert report.ok and report.unsigned_tail == 5
    assert "5 newer events chained only (unsigned tail 3 min old)" in report.summary()
    at(monkeypatch, bastion.audit.checkpoints, T0 + timedelta(minutes=4))
    assert checkpoint_if_stale(core) is None  # not 5 minutes yet
    at(monkeypatch, bastion.audit.checkpoints, T0 + timedelta(minutes=5, seconds=1))
    made = checkpoint_if_stale(core)
    assert (made.kind, made.event_id, made.event_count) == ("timed", 5, 5)
    assert checkpoint_if_stale(core) is None  # nothing unsigned left
    report = verify(core, record=False)
    assert report.ok and report.unsigned_tail == 0 and "chained only" not in report.summary()


def test_skipped_ids_are_reported_and_a_cut_tail_is_found_on_sqlite(acore) -> None:
    core = with_interval(acore, 10)
    append(core, 4)
    if core.db.is_postgresql:
        # A rolled-back transaction spends a sequence number: an id gap, nothing removed.
        with pytest.raises(RuntimeError), core.db.session() as session:
            core.audit.append(session, action="test.event", outcome="ok")
            raise RuntimeError("rolled back")
        append(core, 2, start=4)
        report = verify(core, record=False)
        assert report.ok and report.gaps == ((5, 5),)
        assert "1 event ids never used (5)" in report.summary()
        return
    append(core, 2, start=4)
    assert verify(core, record=False).ok
    # The unsigned tail cut (triggers out of the way, as a superuser could): the chain
    # alone cannot tell, SQLite's own id counter does.
    tamper(core.db, lambda c: c.execute(text("DELETE FROM audit_events WHERE id >= 5")))
    problem = verify(core, record=False).problem
    assert problem is not None and problem.event_id == 5
    assert "events 5 to 6 were deleted from the end of the log" in problem.message


def test_serve_signs_a_checkpoint_at_start_on_its_timer_and_at_stop(core, tmp_path) -> None:
    ssh_port, web_port = free_port(), free_port()
    env = {**os.environ, "BASTION_PATHS__VAR_DIR": str(core.settings.var_dir),
           "BASTION_SSH__LISTEN_PORT": str(ssh_port), "BASTION_WEB__LISTEN_PORT": str(web_port),
           **SECOND_FACTOR_OFF, "BASTION_AUDIT__CHECKPOINT_MINUTES": "0.05"}
    serve = subprocess.Popen([sys.executable, "-m", "bastion", "serve"], env=env,
                             stderr=subprocess.PIPE, cwd=tmp_path)
    try:
        wait_for_port(web_port)
        assert [k for k, _ in kinds(core)] == ["start"]
        append(core, 2)  # written by another process; the node's timer signs them
        deadline = time.monotonic() + 20
        while "timed" not in [k for k, _ in kinds(core)] and time.monotonic() < deadline:
            time.sleep(0.2)
        assert [k for k, _ in kinds(core)] == ["start", "timed"]
        append(core, 1, start=2)
        serve.send_signal(signal.SIGTERM)
        assert serve.wait(30) == 0, serve.stderr.read().decode()
    finally:
        if serve.poll() is None:
            serve.kill()
    last_event = max(e for _, e in kinds(core))
    assert kinds(core)[-1] == ("stop", last_event)
    report = verify(core, record=False)
    assert report.ok and report.unsigned_tail == 0

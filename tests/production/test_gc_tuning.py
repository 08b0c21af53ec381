"""A node tunes Python's collector for many sessions (see bastion.gc_tuning for the
measurement) and says when a collection still holds it up."""

from __future__ import annotations

import logging
import subprocess
import sys

import pytest

from bastion import gc_tuning


def test_tuning_freezes_start_up_objects_and_spaces_out_full_collections() -> None:
    # In a child interpreter: the test process's own collector stays as it is.
    script = ("import gc; from bastion.gc_tuning import THRESHOLDS, tune_for_many_sessions; "
              "tune_for_many_sessions(); tune_for_many_sessions(); "
              "print(gc.get_threshold() == THRESHOLDS, gc.get_freeze_count() > 1000, "
              "sum(1 for c in gc.callbacks if type(c).__name__ == '_PauseWatch'))")
    result = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True,
                            check=True, timeout=60)
    assert result.stdout.split() == ["True", "True", "1"]


def test_a_slow_collection_is_logged(monkeypatch: pytest.MonkeyPatch,
                                     caplog: pytest.LogCaptureFixture) -> None:
    watch = gc_tuning._PauseWatch()
    clock = iter([10.0, 10.25, 20.0, 20.01])
    monkeypatch.setattr(gc_tuning.time, "perf_counter", lambda: next(clock))
    with caplog.at_level(logging.WARNING, logger="bastion.gc"):
        watch("start", {"generation": 2})
        watch("stop", {"generation": 2, "collected": 7})
        watch("start", {"generation": 0})
        watch("stop", {"generation": 0, "collected": 0})
    assert [record.getMessage() for record in caplog.records] == [
        "garbage collection (generation 2) held the node for 250 ms, freeing 7 objects"]

"""ssh-audit, an independent auditor, run against the listener.

ssh-audit 3.3+ warns about every key exchange without post-quantum protection, including
curve25519. The default ("compatible") therefore keeps exactly those warnings, on the
curve25519 entries offered after ML-KEM so that stock OpenSSH clients older than 9.9 can
still connect; "post-quantum-only" gets no failure and no warning at all.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from tests.proxy.conftest import RunningProxy, Scenario

PQ_NOTE = "does not provide protection against post-quantum attacks"


def _audit(port: int) -> list[tuple[str, str, str, str]]:
    binary = shutil.which("ssh-audit") or str(Path(sys.executable).parent / "ssh-audit")
    result = subprocess.run([binary, "-j", "--skip-rate-test", "-p", str(port), "127.0.0.1"],
                            capture_output=True, text=True, timeout=120)
    report = json.loads(result.stdout)
    problems = []
    for section in ("kex", "key", "enc", "mac"):
        for algorithm in report.get(section, []):
            for level in ("fail", "warn"):
                for note in algorithm.get("notes", {}).get(level, []):
                    problems.append((section, algorithm["algorithm"], level, note))
    return problems


def test_compatible_mode_has_no_failure_and_only_post_quantum_notes(scenario: Scenario) -> None:
    problems = _audit(scenario.proxy.port)
    assert not [p for p in problems if p[2] == "fail"], problems
    assert {(p[1], p[3]) for p in problems} <= {("curve25519-sha256", PQ_NOTE),
                                                 ("curve25519-sha256@libssh.org", PQ_NOTE)}


def test_post_quantum_only_mode_has_no_failure_and_no_warning(
        scenario: Scenario, monkeypatch: pytest.MonkeyPatch) -> None:
    scenario.core.settings = scenario.core.settings.with_changes("ssh", key_exchange="post-quantum-only")
    strict = RunningProxy(scenario.core)
    try:
        assert _audit(strict.port) == []
    finally:
        strict.stop()

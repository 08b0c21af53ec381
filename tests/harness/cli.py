"""The ``bastion`` command line, run the two ways the tests need.

``run_in_process`` calls the very click group ``bastion`` runs (``bastion.cli.main_group``)
in this process, in a given folder, with the environment's ``BASTION_*`` settings cleared
and replaced by the test's: what a command prints, writes and exits with, without starting
a Python interpreter and importing the whole bastion again (two seconds a command, the most
expensive part of these tests). ``run_process`` starts the real executable, for the tests
that are about the process itself (``serve``, signals) and for one smoke test per module
of how an operator runs it. Both answer a ``subprocess.CompletedProcess``.
"""

from __future__ import annotations

import contextlib
import os
import subprocess
import sys
from pathlib import Path

from click.testing import CliRunner

BASTION = [sys.executable, "-m", "bastion"]


def _environment(env: dict[str, str] | None) -> dict[str, str | None]:
    """Changes to os.environ: every inherited BASTION_ setting removed, the test's set."""
    changes: dict[str, str | None] = {k: None for k in os.environ if k.startswith("BASTION_")}
    changes.update(env or {})
    return changes


def run_in_process(cwd: Path, *args: str, input: str | None = None,
                   env: dict[str, str] | None = None,
                   check: bool = False) -> subprocess.CompletedProcess[str]:
    from bastion.cli import main_group

    with contextlib.chdir(cwd):
        result = CliRunner().invoke(main_group, list(args), input=input, env=_environment(env),
                                    prog_name="bastion")
    if result.exception is not None and not isinstance(result.exception, SystemExit):
        # What the real process would print as a traceback: the test should see it.
        raise result.exception
    completed = subprocess.CompletedProcess(["bastion", *args], result.exit_code,
                                            result.stdout, result.stderr)
    if check and completed.returncode != 0:
        raise AssertionError(f"bastion {' '.join(args)} failed: {completed.stderr}")
    return completed


def run_process(cwd: Path, *args: str, input: str | None = None,
                env: dict[str, str] | None = None, check: bool = False,
                timeout: float = 120) -> subprocess.CompletedProcess[str]:
    environment = {k: v for k, v in os.environ.items() if not k.startswith("BASTION_")}
    environment.update(env or {})
    result = subprocess.run([*BASTION, *args], cwd=cwd, input=input, capture_output=True,
                            text=True, env=environment, timeout=timeout)
    if check and result.returncode != 0:
        raise AssertionError(f"bastion {' '.join(args)} failed: {result.stderr}")
    return result

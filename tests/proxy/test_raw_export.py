"""Through a real ssh session (issue 15): every byte value the target writes, on stdout
and on stderr, comes back exactly from ``bastion recordings export --raw``."""

from __future__ import annotations

from pathlib import Path

from click.testing import CliRunner
from sqlalchemy import select

from bastion.cli import main_group
from bastion.models import Recording
from tests.proxy.conftest import Scenario

STDOUT = bytes(range(256)) * 4
STDERR = bytes(reversed(range(256))) * 3
SCRIPT = ("python3 -c 'import sys; o, e = sys.stdout.buffer, sys.stderr.buffer\n"
          "for i in range(4): o.write(bytes(range(256))); o.flush(); "
          "e.write(bytes(reversed(range(256)))) if i < 3 else None; e.flush()'")


def test_raw_export_of_an_exec_session_is_byte_exact(scenario: Scenario, tmp_path: Path) -> None:
    scenario.grant()
    result = scenario.ssh(SCRIPT)
    assert result.returncode == 0, result.stderr
    assert result.stdout == STDOUT and result.stderr.endswith(STDERR)
    with scenario.core.db.session() as s:
        recording_id = s.scalars(select(Recording.id).where(Recording.channel == "exec")).one()
    out = CliRunner().invoke(main_group, ["recordings", "export", "--raw", "--purpose", "byte-exact check of the raw export", str(recording_id),
                                          "-o", str(tmp_path / "exec")],
                             env={"BASTION_PATHS__VAR_DIR": str(scenario.core.settings.var_dir)})
    assert out.exit_code == 0, out.output
    assert (tmp_path / "exec.stdout").read_bytes() == STDOUT
    assert (tmp_path / "exec.stderr").read_bytes() == STDERR

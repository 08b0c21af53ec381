"""The logbook of real work: the real ``ssh`` and ``sftp`` clients through the running
proxy to a real sshd; the entry lists the exec command and the upload with its SHA-256,
links to both sessions, and exports as CSV and as a printable page with the CLI."""

from __future__ import annotations

import csv
import hashlib
import io
import time
from pathlib import Path

from click.testing import CliRunner
from sqlalchemy import select

from bastion.cli import main_group
from bastion.logbook import LogbookFilter, build_logbook
from bastion.models import AuditEvent, RecordedCommand, SshSession
from tests.proxy.conftest import Scenario, scenario  # noqa: F401 - the fixture, used below


def wait_for_commands(scenario: Scenario, count: int, timeout: float = 20) -> None:  # noqa: F811
    """Commands are indexed when a recording is sealed, just after the session ends."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        with scenario.core.db.session() as s:
            ended = s.scalars(select(SshSession).where(SshSession.status == "live")).first() is None
            indexed = len(s.scalars(select(RecordedCommand)).all())
        if ended and indexed >= count:
            return
        time.sleep(0.1)
    raise AssertionError("the sessions' commands were not indexed in time")


def test_logbook_of_an_exec_command_and_an_sftp_upload(scenario: Scenario, tmp_path: Path) -> None:  # noqa: F811
    grant_id = scenario.grant(sftp={"access": "read-write", "allow": ["/**"]})
    result = scenario.ssh("echo logbook-check && uname -s")
    assert result.returncode == 0, result.stderr
    payload = tmp_path / "correctif-admission.tgz"
    payload.write_bytes(b"patch for the admission module\n" * 1000)
    digest = hashlib.sha256(payload.read_bytes()).hexdigest()
    remote = f"{scenario.target.home}/correctif-admission.tgz"
    upload = scenario.client.sftp(scenario.user, "127.0.0.1", scenario.proxy.port,
                                  f"put {payload} {remote}\n")
    assert upload.returncode == 0, upload.stderr
    wait_for_commands(scenario, 1)

    [entry] = build_logbook(scenario.core, LogbookFilter())
    assert (entry.grant_id, entry.vendor, entry.targets) == (
        grant_id, "editeur", (f"{scenario.target.account}@dpi-app-01",))
    assert entry.technicians == ("Jean Dupont (jdupont)",)
    assert [(c.kind, c.text) for c in entry.commands] == [("exec", "echo logbook-check && uname -s")]
    # The exec's output is a transfer too (it could as well have been a `cat` of a file).
    [printed, transfer] = entry.transfers
    assert (printed.via, printed.direction, printed.path, printed.bytes) == (
        "exec", "download", "echo logbook-check && uname -s", len(result.stdout))
    assert (transfer.direction, transfer.path, transfer.bytes, transfer.sha256, transfer.complete) == (
        "upload", remote, payload.stat().st_size, digest, True)
    assert entry.state == "done" and len(entry.recordings) == 2
    public = scenario.core.settings.web.public_url
    assert [r.url for r in entry.recordings] == [f"{public}/sessions/{r.session_id}"
                                                 for r in entry.recordings]

    # The CLI's exports, as an operator runs them.
    runner = CliRunner()
    env = {"BASTION_PATHS__VAR_DIR": str(tmp_path / "var")}
    today = entry.start.date().isoformat()
    out = runner.invoke(main_group, ["logbook", "export", "--vendor", "editeur", "--since", today,
                                     "--until", today, "--format", "csv"], env=env)
    assert out.exit_code == 0, out.output
    [row] = list(csv.DictReader(io.StringIO(out.output)))
    assert row["request"] == str(entry.request_id) and row["vendor"] == "editeur"
    assert row["commands"] == "echo logbook-check && uname -s"
    assert row["transfers"] == (f"download [exec] echo logbook-check && uname -s "
                                f"({printed.bytes} bytes) | "
                                f"upload {remote} ({transfer.bytes} bytes, sha256 {digest})")
    assert row["recordings"].split() == [r.url for r in entry.recordings]
    assert row["start"].startswith(today) and row["start"].endswith(("+01:00", "+02:00"))

    page = tmp_path / "logbook.html"
    out = runner.invoke(main_group, ["logbook", "export", "--format", "html", "--language", "en",
                                     "-o", str(page)], env=env)
    assert out.exit_code == 0 and "1 intervention(s) written" in out.output, out.output
    html = page.read_text(encoding="utf-8")
    assert "<h1>Intervention logbook</h1>" in html and "<style>" in html  # self-contained
    assert digest in html and "echo logbook-check &amp;&amp; uname -s" in html
    assert oct(page.stat().st_mode & 0o777) == "0o600"

    # Nobody is empty-handed in another vendor's logbook; every export is audited.
    out = runner.invoke(main_group, ["logbook", "export", "--vendor", "someone-else"], env=env)
    assert out.exit_code == 0 and out.output.splitlines()[1:] == []
    with scenario.core.db.session() as s:
        exports = s.scalars(select(AuditEvent).where(AuditEvent.action == "logbook.exported")
                            .order_by(AuditEvent.id)).all()
        assert [(e.details["format"], e.details["entries"], e.vendor) for e in exports] == [
            ("csv", 1, "editeur"), ("html", 1, None), ("csv", 0, "someone-else")]

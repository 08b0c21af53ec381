"""The real parts the other tests stand on: if these fail, the rest means nothing."""

from __future__ import annotations

import subprocess
import time
from pathlib import Path

import asyncssh

from bastion.context import Bastion
from tests.harness.clients import OpenSshClient
from tests.harness.sshd import SshdTarget
from tests.harness.tmux import TmuxSession


def _sign_for_target(core: Bastion, client: OpenSshClient, account: str) -> Path:
    certificate = core.keys.target_ca.generate_user_certificate(
        asyncssh.import_public_key(client.public_key), "harness-check", principals=[account],
        valid_after=int(time.time()) - 60, valid_before=int(time.time()) + 300)
    path = Path(f"{client.key_path}-cert.pub")
    certificate.write_certificate(str(path))
    return path


def test_sshd_target_trusts_the_bastion_target_ca(core: Bastion, sshd_target: SshdTarget,
                                                   openssh_client: OpenSshClient) -> None:
    certificate = _sign_for_target(core, openssh_client, sshd_target.account)
    openssh_client.trust(sshd_target.host, sshd_target.port, sshd_target.host_key_line)
    result = openssh_client.ssh(sshd_target.account, sshd_target.host, sshd_target.port,
                                "echo $USER; exit 3",
                                extra=["-o", f"CertificateFile={certificate}"])
    assert result.returncode == 3, result.stderr
    assert result.stdout.decode().strip() == sshd_target.account
    # Without the certificate the same key is refused: only the CA opens the door.
    certificate.unlink()
    refused = openssh_client.ssh(sshd_target.account, sshd_target.host, sshd_target.port, "true")
    assert refused.returncode == 255


def test_tmux_drives_an_interactive_session(core: Bastion, sshd_target: SshdTarget,
                                            openssh_client: OpenSshClient,
                                            tmux: TmuxSession) -> None:
    certificate = _sign_for_target(core, openssh_client, sshd_target.account)
    openssh_client.trust(sshd_target.host, sshd_target.port, sshd_target.host_key_line)
    tmux.start(openssh_client.ssh_argv(sshd_target.account, sshd_target.host, sshd_target.port,
                                       extra=["-t", "-o", f"CertificateFile={certificate}"]),
               width=100, height=30)
    tmux.type("PS1='ready> '\n")
    tmux.wait_for(r"^ready> $")
    tmux.type("stty size\n")
    tmux.wait_for(r"^30 100$")
    tmux.resize(90, 25)
    tmux.type("stty size\n")
    tmux.wait_for(r"^25 90$")
    tmux.type("exit\n")


def test_postgres_server_answers(postgres_server) -> None:  # type: ignore[no-untyped-def]
    import psycopg

    url = postgres_server.create_database("harness_check")
    with psycopg.connect(url.replace("postgresql+psycopg", "postgresql")) as connection:
        assert connection.execute("select version()").fetchone()[0].startswith("PostgreSQL")


def test_rsync_and_scp_binaries_exist() -> None:
    for binary in ("ssh", "scp", "sftp", "rsync", "tmux"):
        assert subprocess.run(["which", binary], capture_output=True).returncode == 0, binary

"""The bastion's own leg to the target: it is the SSH client there, so its cipher order
decides, and it puts AES-GCM first (one AES-NI call per packet in asyncssh)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from bastion.context import Bastion
from tests.harness.sshd import SshdTarget

from .conftest import Scenario


def _target(core: Bastion, tmp_path: Path, extra_config: str) -> Iterator[SshdTarget]:
    target = SshdTarget(tmp_path / "sshd", trusted_ca_pub=core.keys.directory / "target_ca.pub",
                        extra_config=extra_config)
    target.start()
    yield target
    target.stop()


@pytest.fixture(params=["any", "chacha20-only"])
def sshd_target(request: pytest.FixtureRequest, core: Bastion, tmp_path: Path) -> Iterator[SshdTarget]:
    # DEBUG1 makes sshd log the negotiated cipher; the second target accepts only chacha20
    # (an older or hardened server): the bastion falls back to it.
    extra = "LogLevel DEBUG1\n"
    if request.param == "chacha20-only":
        extra += "Ciphers chacha20-poly1305@openssh.com\n"
    yield from _target(core, tmp_path, extra)


def test_the_target_leg_prefers_aes_gcm_and_falls_back(scenario: Scenario,
                                                      sshd_target: SshdTarget) -> None:
    scenario.grant()
    result = scenario.ssh("echo through")
    assert result.returncode == 0 and result.stdout == b"through\n", result.stderr
    chosen = [line.split("cipher: ")[1].split()[0] for line in sshd_target.log().splitlines()
              if "kex: client->server cipher:" in line]
    only_chacha = "Ciphers chacha20" in sshd_target.extra_config
    assert chosen == ["chacha20-poly1305@openssh.com" if only_chacha else "aes256-gcm@openssh.com"]

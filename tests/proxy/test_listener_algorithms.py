"""The technician's leg: the listener offers AES-GCM only (algorithms.py says why), so the
stock OpenSSH client, which would take chacha20-poly1305 first, settles on AES-GCM; a
client that insists on chacha20 is refused by its own ssh in one line."""

from __future__ import annotations

from .conftest import Scenario


def test_the_stock_client_speaks_aes_gcm_to_the_bastion(scenario: Scenario) -> None:
    scenario.grant()
    result = scenario.ssh("echo through", extra=["-v"])
    assert result.returncode == 0 and result.stdout == b"through\n", result.stderr
    chosen = {line.split("cipher: ")[1].split()[0]
              for line in result.stderr.decode().splitlines() if "kex: server->client cipher:" in line
              or "kex: client->server cipher:" in line}
    assert chosen == {"aes128-gcm@openssh.com"}


def test_a_client_asking_only_for_chacha20_is_told_there_is_no_common_cipher(
        scenario: Scenario) -> None:
    scenario.grant()
    # LogLevel INFO, the client's default (the harness quiets it): the line a vendor sees.
    result = scenario.ssh("true", extra=["-c", "chacha20-poly1305@openssh.com",
                                         "-o", "LogLevel=INFO"])
    assert result.returncode == 255
    assert "no matching cipher found" in result.stderr.decode(), result.stderr

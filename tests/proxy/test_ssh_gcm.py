"""AES-GCM on the proxy's SSH legs with one AEAD object per direction (ssh_gcm): the same
packets, byte for byte, as asyncssh's own GCM shim seals, opened the same way, a tampered
packet refused; and a connection that rekeys many times over moves its bytes intact
against OpenSSH's nonce sequence (asyncssh's other end)."""

from __future__ import annotations

import asyncio
import hashlib
import os

import asyncssh
import pytest
from asyncssh.crypto import GCMCipher
from asyncssh.encryption import GCMEncryption

from bastion.proxy import ssh_gcm
from bastion.proxy.ssh_gcm import reuse_gcm_contexts
from tests.proxy.legs import ProxyClient, ProxyListener

# (the SSH algorithm name, asyncssh's name for its cipher)
CIPHERS = [("aes128-gcm@openssh.com", "aes128-gcm"), ("aes256-gcm@openssh.com", "aes256-gcm")]


def _packets() -> list[tuple[bytes, bytes]]:
    """(header, packet) pairs as asyncssh hands them to the cipher: sizes a keystroke, a
    window adjust and a bulk packet make, and a nonce counter that will carry."""
    sizes = [16, 32, 48, 32768 + 16, 1024, 16]
    return [(len(body).to_bytes(4, "big"), body) for body in (os.urandom(n) for n in sizes)]


@pytest.fixture
def aead_objects(monkeypatch: pytest.MonkeyPatch) -> list[object]:
    """Every AES-GCM object the proxy's shim creates."""
    created: list[object] = []

    def counted(key: bytes) -> object:
        created.append(aead := ssh_gcm_aesgcm(key))
        return aead

    ssh_gcm_aesgcm = ssh_gcm.AESGCM
    monkeypatch.setattr(ssh_gcm, "AESGCM", counted)
    return created


@pytest.mark.parametrize("name", [cipher for _, cipher in CIPHERS])
def test_sealed_like_asyncssh_and_opened_alike(name: str, aead_objects: list[object]) -> None:
    reuse_gcm_contexts()
    key = os.urandom(16 if name.startswith("aes128") else 32)
    iv = os.urandom(4) + (2**64 - 3).to_bytes(8, "big")  # the counter wraps in this run
    ours, theirs = GCMEncryption.new(name, key, iv), GCMCipher(name, key, iv)
    opener, reference_opener = GCMEncryption.new(name, key, iv), GCMCipher(name, key, iv)
    for header, packet in _packets():
        sealed, mac = ours.encrypt_packet(0, header, packet)
        expected, tag = theirs.encrypt_and_sign(header, packet)
        assert sealed + mac == expected + tag
        wire = expected + tag
        first, rest, tag = wire[:16], wire[16:-16], wire[-16:]
        assert opener.decrypt_packet(0, first, rest, 4, tag) == packet
        assert reference_opener.verify_and_decrypt(header, wire[4:-16], tag) == packet
    assert len(aead_objects) == 2  # one per direction, not one per packet


def test_a_tampered_packet_is_refused() -> None:
    reuse_gcm_contexts()
    key, iv = os.urandom(32), os.urandom(12)
    sealer, opener = GCMEncryption.new("aes256-gcm", key, iv), GCMEncryption.new("aes256-gcm", key, iv)
    header, packet = _packets()[3]
    sealed, mac = sealer.encrypt_packet(0, header, packet)
    wire = bytearray(sealed + mac)
    wire[100] ^= 1
    assert opener.decrypt_packet(0, bytes(wire[:16]), bytes(wire[16:-16]), 4, bytes(wire[-16:])) is None


async def _digest_of_stdin(process: asyncssh.SSHServerProcess[bytes]) -> None:
    digest = hashlib.sha256()
    while data := await process.stdin.read(65536):
        digest.update(data)
        process.stdout.write(data[:64])  # some traffic back, every piece
    process.stdout.write(digest.hexdigest().encode())
    process.exit(0)


@pytest.mark.parametrize("name", [algorithm for algorithm, _ in CIPHERS])
def test_bytes_survive_many_rekeys(name: str, aead_objects: list[object]) -> None:
    """4 MiB with a rekey every 256 KiB: each new key is a new AEAD object on both ends."""
    payload = os.urandom(4 * 1024 * 1024)

    async def run() -> bytes:
        server = await asyncssh.create_server(
            ProxyListener, "127.0.0.1", 0, server_host_keys=[asyncssh.generate_private_key("ssh-ed25519")],
            process_factory=_digest_of_stdin, encryption_algs=[name], encoding=None,
            rekey_bytes=256 * 1024)
        port = server.sockets[0].getsockname()[1]
        try:
            async with asyncssh.connect("127.0.0.1", port, known_hosts=None, username="t",
                                        encryption_algs=[name], agent_path=None, config=None,
                                        client_keys=None, client_factory=ProxyClient,
                                        rekey_bytes=256 * 1024) as conn:
                result = await conn.run(input=payload, encoding=None)
        finally:
            server.close()
            await server.wait_closed()
        return result.stdout

    output = asyncio.run(run())
    assert output.endswith(hashlib.sha256(payload).hexdigest().encode())
    # Both ends, both directions, a new key at least every 256 KiB sent.
    assert len(aead_objects) >= 4 * 16

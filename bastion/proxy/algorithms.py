"""The only algorithms the listener offers: modern AEAD ciphers, curve25519 key exchange,
Ed25519 host key. No SHA-1, no CBC, no DSA, no NIST curves for key exchange."""

# ML-KEM hybrid first (post-quantum; OpenSSH 9.9+ and asyncssh with cryptography 44+), then
# curve25519 for stock clients that predate it.
POST_QUANTUM_KEX = ("mlkem768x25519-sha256",)
KEX = POST_QUANTUM_KEX + (
    "curve25519-sha256",
    "curve25519-sha256@libssh.org",
)
# AES-GCM only. The client's order decides, and stock OpenSSH puts chacha20-poly1305 first:
# offering it made every technician's leg take asyncssh's slow path for it (several Python
# calls per packet against one AES-NI call, see UPSTREAM_CIPHERS), on every byte of every
# session. AES-GCM is what FIPS 140-3 and the ANSSI guide approve, it was never exposed to
# Terrapin (CVE-2023-48795), and every client a vendor uses speaks it: OpenSSH since 6.2,
# PuTTY since 0.76, paramiko, WinSCP.
CIPHERS = (
    "aes256-gcm@openssh.com",
    "aes128-gcm@openssh.com",
)
# Only used by non-AEAD ciphers, which are not offered; encrypt-then-MAC SHA-2 if ever.
MACS = (
    "hmac-sha2-512-etm@openssh.com",
    "hmac-sha2-256-etm@openssh.com",
)
# Towards targets the bastion is the client, so its order decides: AES-GCM first. In
# asyncssh it is one AES-NI call per packet, while chacha20-poly1305 takes several Python
# calls (measured: 3 against 17 microseconds for a keystroke's packet, 8 against 29 for
# 32 KiB), and every keystroke crosses this leg twice.
UPSTREAM_CIPHERS = (
    "aes256-gcm@openssh.com",
    "aes128-gcm@openssh.com",
    "chacha20-poly1305@openssh.com",
    "aes256-ctr",
    "aes128-ctr",
)
COMPRESSION = ("none",)
# Signature algorithms accepted from technicians' keys and certificates.
CLIENT_SIGNATURES = (
    "ssh-ed25519",
    "sk-ssh-ed25519@openssh.com",
    "ecdsa-sha2-nistp256",
    "ecdsa-sha2-nistp384",
    "ecdsa-sha2-nistp521",
    "sk-ecdsa-sha2-nistp256@openssh.com",
    "rsa-sha2-512",
    "rsa-sha2-256",
)


def server_options(key_exchange: str = "compatible") -> dict[str, object]:
    return {
        "kex_algs": list(POST_QUANTUM_KEX if key_exchange == "post-quantum-only" else KEX),
        "encryption_algs": list(CIPHERS),
        "mac_algs": list(MACS),
        "compression_algs": list(COMPRESSION),
        "signature_algs": list(CLIENT_SIGNATURES),
    }

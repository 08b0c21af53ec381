"""The PROXY protocol version 2 header (HAProxy's ``send-proxy-v2``): pure parsing, no I/O.

Behind a TCP load balancer every SSH connection comes from the balancer's address; the
header it sends first carries the technician's real address, which the audit must record
(CNIL, traceability: *who* connected *from where*). Reference: HAProxy's
doc/proxy-protocol.txt, section 2.2.

Layout: 12-byte signature, 1 byte version (high nibble, 2) and command (low nibble:
0 LOCAL, 1 PROXY), 1 byte address family (high nibble) and transport (low nibble),
2 bytes big-endian length of what follows, then the addresses and optional TLVs.
"""

from __future__ import annotations

import ipaddress
import struct
from dataclasses import dataclass

SIGNATURE = b"\r\n\r\n\x00\r\nQUIT\n"
FIXED_LENGTH = 16  # signature, version/command, family/transport, length
# HAProxy's own TLVs (unique id, TLS details) fit easily; anything bigger is not a balancer.
MAX_BODY_LENGTH = 4096

LOCAL, PROXY = 0x0, 0x1
_UNSPEC, _INET, _INET6, _UNIX = 0x0, 0x1, 0x2, 0x3
_STREAM = 0x1
_ADDRESS_LENGTHS = {_INET: 12, _INET6: 36, _UNIX: 216}


class ProxyHeaderError(ValueError):
    """The bytes are not a PROXY v2 header the bastion accepts; the message says why."""


@dataclass(frozen=True)
class ProxyHeader:
    command: int  # LOCAL (the balancer's own health check) or PROXY
    source: tuple[str, int] | None = None  # None for LOCAL and for non-TCP families
    destination: tuple[str, int] | None = None

    @property
    def is_local(self) -> bool:
        return self.command == LOCAL


def body_length(fixed: bytes) -> int:
    """Check the first 16 bytes and return how many bytes of header follow them."""
    if len(fixed) != FIXED_LENGTH:
        raise ProxyHeaderError(f"the PROXY v2 header is cut short ({len(fixed)} of 16 bytes)")
    if fixed[:12] != SIGNATURE:
        raise ProxyHeaderError("no PROXY v2 signature: the connection did not come through "
                               "the load balancer, or it does not send send-proxy-v2")
    version, command = fixed[12] >> 4, fixed[12] & 0x0F
    if version != 2:
        raise ProxyHeaderError(f"PROXY protocol version {version} is not supported (only v2)")
    if command not in (LOCAL, PROXY):
        raise ProxyHeaderError(f"unknown PROXY v2 command {command:#x}")
    (length,) = struct.unpack("!H", fixed[14:16])
    if length > MAX_BODY_LENGTH:
        raise ProxyHeaderError(f"PROXY v2 header announces {length} bytes; at most "
                               f"{MAX_BODY_LENGTH} are accepted")
    return length


def parse_header(fixed: bytes, body: bytes) -> ProxyHeader:
    """Decode a complete header: ``fixed`` (16 bytes) then ``body`` (its announced length)."""
    length = body_length(fixed)
    if len(body) != length:
        raise ProxyHeaderError(f"the PROXY v2 header is cut short ({len(body)} of {length} "
                               "address bytes)")
    command = fixed[12] & 0x0F
    family, transport = fixed[13] >> 4, fixed[13] & 0x0F
    if command == LOCAL:
        # The balancer talking for itself (health checks): the real endpoints stand.
        return ProxyHeader(LOCAL)
    if family == _UNSPEC:
        raise ProxyHeaderError("PROXY v2 header without an address family: the technician's "
                               "address is unknown")
    if family not in _ADDRESS_LENGTHS:
        raise ProxyHeaderError(f"unknown PROXY v2 address family {family:#x}")
    if transport != _STREAM or family == _UNIX:
        raise ProxyHeaderError("the PROXY v2 header does not describe a TCP connection")
    needed = _ADDRESS_LENGTHS[family]
    if length < needed:
        raise ProxyHeaderError(f"the PROXY v2 addresses need {needed} bytes, the header has "
                               f"{length}")
    size = 4 if family == _INET else 16
    source = ipaddress.ip_address(body[:size])
    destination = ipaddress.ip_address(body[size:2 * size])
    source_port, destination_port = struct.unpack("!HH", body[2 * size:2 * size + 4])
    return ProxyHeader(PROXY, (str(source), source_port), (str(destination), destination_port))


def build_header(source: tuple[str, int] | None, destination: tuple[str, int] | None = None) -> bytes:
    """The header a balancer would send (``None`` source: LOCAL). For tests and the bench."""
    if source is None:
        return SIGNATURE + bytes([0x20, 0x00]) + struct.pack("!H", 0)
    src = ipaddress.ip_address(source[0])
    # No destination given: the unspecified address of the source's family.
    dst = ipaddress.ip_address(destination[0] if destination else bytes(len(src.packed)))
    family = _INET if src.version == 4 else _INET6
    body = src.packed + dst.packed + struct.pack("!HH", source[1], destination[1] if destination else 0)
    return SIGNATURE + bytes([0x21, (family << 4) | _STREAM]) + struct.pack("!H", len(body)) + body

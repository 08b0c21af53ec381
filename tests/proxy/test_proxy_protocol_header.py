"""The PROXY v2 header parser: a table of real and broken headers, and properties."""

from __future__ import annotations

import ipaddress
import struct

import pytest
from hypothesis import given
from hypothesis import strategies as st

from bastion.proxy.proxy_protocol import (
    FIXED_LENGTH,
    LOCAL,
    PROXY,
    SIGNATURE,
    ProxyHeaderError,
    body_length,
    build_header,
    parse_header,
)


def _parse(raw: bytes):  # type: ignore[no-untyped-def]
    return parse_header(raw[:FIXED_LENGTH], raw[FIXED_LENGTH:])


# What HAProxy 2.x sends for a TCP4 client 203.0.113.7:51234 -> 10.0.0.5:2222 (from its
# doc/proxy-protocol.txt layout), written out byte by byte.
HAPROXY_TCP4 = (SIGNATURE + b"\x21\x11\x00\x0c" + bytes([203, 0, 113, 7]) + bytes([10, 0, 0, 5])
                + struct.pack("!HH", 51234, 2222))


def test_a_tcp4_header_as_haproxy_sends_it() -> None:
    header = _parse(HAPROXY_TCP4)
    assert header.command == PROXY
    assert header.source == ("203.0.113.7", 51234)
    assert header.destination == ("10.0.0.5", 2222)


def test_a_tcp6_header_and_trailing_tlvs() -> None:
    tlv = b"\x05\x00\x04abcd"  # PP2_TYPE_UNIQUE_ID: read past, not needed
    body = (ipaddress.ip_address("2001:db8::7").packed + ipaddress.ip_address("2001:db8::1").packed
            + struct.pack("!HH", 40000, 22) + tlv)
    raw = SIGNATURE + b"\x21\x21" + struct.pack("!H", len(body)) + body
    header = _parse(raw)
    assert header.source == ("2001:db8::7", 40000)
    assert header.destination == ("2001:db8::1", 22)


def test_local_is_the_balancer_speaking_for_itself() -> None:
    header = _parse(SIGNATURE + b"\x20\x00\x00\x00")
    assert header.command == LOCAL and header.is_local and header.source is None


@pytest.mark.parametrize(("raw", "problem"), [
    (b"SSH-2.0", "cut short"),
    (b"SSH-2.0-OpenSSH_9.2p1 Debian\r\n"[:16], "no PROXY v2 signature"),
    (b"PROXY TCP4 203.0.113.7 10.0.0.5 51234 2222\r\n"[:16], "no PROXY v2 signature"),
    (SIGNATURE + b"\x11\x11\x00\x0c" + bytes(12), "version 1 is not supported"),
    (SIGNATURE + b"\x22\x11\x00\x0c" + bytes(12), "unknown PROXY v2 command"),
    (SIGNATURE + b"\x21\x11\xff\xff", "at most 4096"),
    (SIGNATURE + b"\x21\x01\x00\x00", "without an address family"),
    (SIGNATURE + b"\x21\x41\x00\x00", "unknown PROXY v2 address family"),
    (SIGNATURE + b"\x21\x12\x00\x0c" + bytes(12), "not describe a TCP connection"),
    (SIGNATURE + b"\x21\x31\x00\xd8" + bytes(216), "not describe a TCP connection"),
    (SIGNATURE + b"\x21\x11\x00\x08" + bytes(8), "need 12 bytes"),
    (SIGNATURE + b"\x21\x21\x00\x0c" + bytes(12), "need 36 bytes"),
    (SIGNATURE + b"\x21\x11\x00\x0c" + bytes(5), "cut short"),
])
def test_broken_headers_are_refused_with_a_reason(raw: bytes, problem: str) -> None:
    with pytest.raises(ProxyHeaderError, match=problem):
        _parse(raw)


addresses_v4 = st.builds(lambda n: str(ipaddress.IPv4Address(n)), st.integers(0, 2**32 - 1))
addresses_v6 = st.builds(lambda n: str(ipaddress.IPv6Address(n)), st.integers(0, 2**128 - 1))
ports = st.integers(0, 65535)


@given(st.one_of(st.tuples(addresses_v4, addresses_v4), st.tuples(addresses_v6, addresses_v6)),
       ports, ports)
def test_any_address_survives_the_round_trip(pair: tuple[str, str], sport: int, dport: int) -> None:
    header = _parse(build_header((pair[0], sport), (pair[1], dport)))
    assert header.source == (pair[0], sport)
    assert header.destination == (pair[1], dport)


@given(st.binary(max_size=200))
def test_arbitrary_bytes_never_escape_as_another_error(raw: bytes) -> None:
    try:
        length = body_length(raw[:FIXED_LENGTH])
        parse_header(raw[:FIXED_LENGTH], raw[FIXED_LENGTH:FIXED_LENGTH + length])
    except ProxyHeaderError:
        pass


@given(st.binary(min_size=16, max_size=16))
def test_without_the_signature_nothing_is_believed(raw: bytes) -> None:
    if raw[:12] == SIGNATURE:
        return
    with pytest.raises(ProxyHeaderError, match="no PROXY v2 signature"):
        body_length(raw)

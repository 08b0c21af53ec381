"""Audit events as RFC 5424 syslog messages, sent over UDP (RFC 5426), TCP with
octet-counting framing (RFC 6587 section 3.4.1), or TLS (RFC 5425: the same framing inside
TLS, the SIEM's certificate checked against one pinned CA).

One message per event::

    <PRI>1 TIMESTAMP HOSTNAME APP-NAME - MSGID [audit@32473 id="42" actor="..." ...] BOM MSG

HOSTNAME is the bastion node that wrote the event, MSGID its action, the structured data
its main fields (ids, who, what, outcome, its chain hash: a SIEM holding the hashes can
later show that the bastion's copy was altered), MSG a readable line.
"""

from __future__ import annotations

import socket
import ssl
from collections.abc import Mapping
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Protocol

# SD-IDs need an IANA Private Enterprise Number: 32473 is the one reserved for examples
# and documentation (RFC 5612). A hospital with its own PEN may want its own here.
SD_ID = "audit@32473"
# (structured-data name, event field)
SD_PARAMS = (
    ("id", "id"), ("actor", "actor"), ("role", "actor_role"), ("outcome", "outcome"),
    ("vendor", "vendor"), ("technician", "technician"), ("target", "target"),
    ("account", "account"), ("session", "session_id"), ("request", "request_id"),
    ("grant", "grant_id"), ("hash", "hash"),
)
SEVERITY = {"allowed": 6, "ok": 6, "denied": 4, "failed": 3, "error": 3}  # info, warning, error
UTF8_BOM = b"\xef\xbb\xbf"
MAX_UDP_BYTES = 8192  # larger datagrams are often dropped (RFC 5426 section 3.2)


def _ascii_field(value: Any, limit: int) -> str:
    """HOSTNAME, APP-NAME, MSGID: printable US-ASCII without spaces, else NILVALUE."""
    text = "".join(ch for ch in str(value or "") if "!" <= ch <= "~")[:limit]
    return text or "-"


def _sd_value(value: Any) -> str:
    # RFC 5424 section 6.3.3: '"', '\' and ']' must be escaped inside PARAM-VALUE.
    return str(value).replace("\\", "\\\\").replace('"', '\\"').replace("]", "\\]")


def _timestamp(value: datetime | str) -> str:
    moment = datetime.fromisoformat(value) if isinstance(value, str) else value
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def _text(event: Mapping[str, Any]) -> str:
    line = f"{event['action']} {event['outcome']}"
    if event.get("reasons"):
        line += ": " + "; ".join(str(reason) for reason in event["reasons"])
    if event.get("message"):
        line += f" - {event['message']}"
    return line


def format_event(
    event: Mapping[str, Any], *, app_name: str, facility: int, max_bytes: int | None = None
) -> bytes:
    """One RFC 5424 message (bytes, UTF-8). ``max_bytes`` truncates the free text (never
    the header or the structured data) at a character boundary."""
    pri = facility * 8 + SEVERITY.get(event["outcome"], 5)
    params = " ".join(f'{name}="{_sd_value(event[field])}"' for name, field in SD_PARAMS
                      if event.get(field) is not None)
    header = (f"<{pri}>1 {_timestamp(event['at'])} {_ascii_field(event.get('node'), 255)} "
              f"{_ascii_field(app_name, 48)} - {_ascii_field(event['action'], 32)} "
              f"[{SD_ID} {params}] ").encode()
    body = _text(event).encode("utf-8")
    if max_bytes is not None:
        room = max(0, max_bytes - len(header) - len(UTF8_BOM))
        body = body[:room].decode("utf-8", errors="ignore").encode("utf-8")
    return header + UTF8_BOM + body


class Sender(Protocol):
    max_bytes: int | None

    def send(self, message: bytes) -> None: ...

    def close(self) -> None: ...


class UdpSender:
    """One datagram per message. Delivery is not confirmed: UDP is for SIEMs that only
    speak it; prefer TCP."""

    max_bytes: int | None = MAX_UDP_BYTES

    def __init__(self, host: str, port: int) -> None:
        family, kind, proto, _, address = socket.getaddrinfo(host, port, type=socket.SOCK_DGRAM)[0]
        self._socket = socket.socket(family, kind, proto)
        self._address = address

    def send(self, message: bytes) -> None:
        self._socket.sendto(message, self._address)

    def close(self) -> None:
        self._socket.close()


class TcpSender:
    """Octet-counting framing (``LEN SP MSG``), so messages may hold any byte, newlines
    included. Connects on first use and again after any error."""

    max_bytes: int | None = None

    def __init__(self, host: str, port: int, *, timeout: float = 5.0) -> None:
        self._address = (host, port)
        self._timeout = timeout
        self._socket: socket.socket | None = None

    def _connect(self) -> socket.socket:
        return socket.create_connection(self._address, timeout=self._timeout)

    def send(self, message: bytes) -> None:
        if self._socket is None:
            self._socket = self._connect()
        try:
            self._socket.sendall(str(len(message)).encode("ascii") + b" " + message)
        except OSError:
            self.close()
            raise

    def close(self) -> None:
        if self._socket is not None:
            self._socket.close()
            self._socket = None


class TlsSender(TcpSender):
    """RFC 5425: octet counting inside TLS 1.2 or later. Only ``ca_file`` is trusted (the
    system's CAs are not loaded), and the SIEM's certificate must name ``server_name``
    (default: the host): audit traces hold personal data and must not reach an impostor."""

    def __init__(self, host: str, port: int, *, ca_file: Path, server_name: str | None = None,
                 timeout: float = 5.0) -> None:
        super().__init__(host, port, timeout=timeout)
        self._context = ssl.create_default_context(ssl.Purpose.SERVER_AUTH, cafile=str(ca_file))
        self._context.minimum_version = ssl.TLSVersion.TLSv1_2
        self._server_name = server_name or host

    def _connect(self) -> socket.socket:
        raw = super()._connect()
        try:
            return self._context.wrap_socket(raw, server_hostname=self._server_name)
        except (OSError, ssl.SSLError):
            raw.close()
            raise


def make_sender(protocol: str, host: str, port: int, *, ca_file: Path | None = None,
                server_name: str | None = None) -> Sender:
    if protocol == "udp":
        return UdpSender(host, port)
    if protocol == "tcp":
        return TcpSender(host, port)
    if protocol == "tls":
        if ca_file is None:
            raise ValueError("syslog over TLS needs [syslog] ca_file (the SIEM's CA)")
        return TlsSender(host, port, ca_file=ca_file, server_name=server_name)
    raise ValueError(f"unknown syslog protocol {protocol!r}")

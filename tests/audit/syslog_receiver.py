"""A local syslog receiver (UDP, TCP with RFC 6587 octet counting, or the same inside TLS
as RFC 5425 asks) and an RFC 5424 parser written from the RFC, independently of the code
under test."""

from __future__ import annotations

import re
import socket
import ssl
import threading
from dataclasses import dataclass, field

HEADER = re.compile(rb"^<(\d{1,3})>(\d{1,2}) (\S+) (\S+) (\S+) (\S+) (\S+) ")


@dataclass
class Syslog:
    pri: int
    version: int
    timestamp: str
    hostname: str
    app_name: str
    procid: str
    msgid: str
    sd: dict[str, dict[str, str]]
    msg: bytes

    @property
    def facility(self) -> int:
        return self.pri // 8

    @property
    def severity(self) -> int:
        return self.pri % 8


def _parse_sd(data: bytes) -> tuple[dict[str, dict[str, str]], bytes]:
    if data.startswith(b"-"):
        return {}, data[2:]
    elements: dict[str, dict[str, str]] = {}
    text = data.decode("utf-8")
    i = 0
    while i < len(text) and text[i] == "[":
        end_id = min(j for j in (text.find(" ", i), text.find("]", i)) if j != -1)
        sd_id = text[i + 1:end_id]
        params: dict[str, str] = {}
        i = end_id
        while text[i] == " ":
            eq = text.index("=", i)
            name = text[i + 1:eq]
            assert text[eq + 1] == '"', "PARAM-VALUE must be quoted"
            j, value = eq + 2, []
            while text[j] != '"':
                if text[j] == "\\" and text[j + 1] in '"\\]':
                    value.append(text[j + 1])
                    j += 2
                else:
                    assert text[j] not in '"]', "unescaped character in PARAM-VALUE"
                    value.append(text[j])
                    j += 1
            params[name] = "".join(value)
            i = j + 1
        assert text[i] == "]"
        elements[sd_id] = params
        i += 1
    rest = text[i:].encode("utf-8")
    return elements, rest[1:] if rest.startswith(b" ") else rest


def parse(message: bytes) -> Syslog:
    match = HEADER.match(message)
    assert match, f"not an RFC 5424 header: {message[:80]!r}"
    sd, msg = _parse_sd(message[match.end():])
    fields = [part.decode("ascii") for part in match.groups()]
    return Syslog(int(fields[0]), int(fields[1]), *fields[2:], sd=sd, msg=msg)


@dataclass
class Receiver:
    protocol: str
    port: int = 0
    messages: list[bytes] = field(default_factory=list)
    connections: int = 0
    tls: ssl.SSLContext | None = None  # protocol "tls": the server side's context
    handshake_errors: list[str] = field(default_factory=list)

    def __post_init__(self) -> None:
        kind = socket.SOCK_DGRAM if self.protocol == "udp" else socket.SOCK_STREAM
        self._socket = socket.socket(socket.AF_INET, kind)
        self._socket.bind(("127.0.0.1", self.port))
        self.port = self._socket.getsockname()[1]
        self._arrived = threading.Condition()
        if self.protocol in ("tcp", "tls"):
            self._socket.listen()
        self._thread = threading.Thread(target=self._serve, daemon=True)
        self._thread.start()

    def _add(self, message: bytes) -> None:
        with self._arrived:
            self.messages.append(message)
            self._arrived.notify_all()

    def _serve(self) -> None:
        try:
            if self.protocol == "udp":
                while True:
                    self._add(self._socket.recv(65535))
            while True:
                connection, _ = self._socket.accept()
                self.connections += 1
                threading.Thread(target=self._read_frames, args=(connection,), daemon=True).start()
        except OSError:
            return  # closed

    def _read_frames(self, connection: socket.socket) -> None:
        """RFC 6587 octet counting: MSG-LEN SP SYSLOG-MSG, repeated."""
        buffer = b""
        if self.tls is not None:
            try:
                connection = self.tls.wrap_socket(connection, server_side=True)
            except (OSError, ssl.SSLError) as exc:
                self.handshake_errors.append(str(exc))
                connection.close()
                return
        with connection:
            while chunk := connection.recv(65536):
                buffer += chunk
                while b" " in buffer:
                    length, rest = buffer.split(b" ", 1)
                    assert length.isdigit() and not length.startswith(b"0"), buffer[:20]
                    if len(rest) < int(length):
                        break
                    self._add(rest[:int(length)])
                    buffer = rest[int(length):]

    def wait_for(self, count: int, timeout: float = 10) -> list[Syslog]:
        with self._arrived:
            assert self._arrived.wait_for(lambda: len(self.messages) >= count, timeout), \
                f"{len(self.messages)} of {count} messages arrived"
            return [parse(m) for m in self.messages]

    def close(self) -> None:
        try:
            self._socket.shutdown(socket.SHUT_RDWR)  # wakes the blocked accept()/recv()
        except OSError:
            pass
        self._socket.close()

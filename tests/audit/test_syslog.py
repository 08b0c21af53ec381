"""SIEM forwarding: RFC 5424 over UDP and over TCP (RFC 6587 octet counting) to a local
receiver started by the test, parsed field by field; progress kept across restarts; a
SIEM outage loses nothing; the asyncio loop is never blocked."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Iterator
from datetime import datetime

import pytest

from bastion.audit import Actor
from bastion.audit.forwarder import SyslogForwarder
from bastion.audit.syslog import SD_ID, TcpSender, UdpSender, format_event
from bastion.config import SyslogSettings

from .conftest import append, events
from .syslog_receiver import Receiver, parse


@pytest.fixture(params=["udp", "tcp"])
def receiver(request) -> Iterator[Receiver]:
    server = Receiver(request.param)
    yield server
    server.close()


def settings_for(receiver: Receiver) -> SyslogSettings:
    return SyslogSettings(host="127.0.0.1", port=receiver.port, protocol=receiver.protocol,
                          app_name="dpi-bastion-test", facility=10)


def test_events_arrive_as_rfc5424(acore, receiver) -> None:
    with acore.db.session() as session:
        acore.audit.append(session, action="access.refused", outcome="denied",
                           actor=Actor('technician:o"brien]\\x', "technician"), vendor="medisoft",
                           technician="jdupont", target="dpi-app-01", account="maint",
                           request_id=7, reasons=["hors fenêtre de maintenance"],
                           message="accès refusé")
    append(acore, 2)
    forwarder = SyslogForwarder(acore.db, settings_for(receiver))
    assert forwarder.forward_once() == 3
    stored = events(acore.db)
    received = receiver.wait_for(3)

    first = received[0]
    assert (first.facility, first.severity, first.version) == (10, 4, 1)  # authpriv, warning
    assert datetime.fromisoformat(first.timestamp.replace("Z", "+00:00")) == stored[0]["at"]
    assert first.timestamp.endswith("Z") and len(first.timestamp) == len("2026-01-01T00:00:00.000000Z")
    assert (first.hostname, first.app_name, first.procid, first.msgid) == (
        "test-node", "dpi-bastion-test", "-", "access.refused")
    assert first.sd[SD_ID] == {
        "id": str(stored[0]["id"]), "actor": 'technician:o"brien]\\x', "role": "technician",
        "outcome": "denied", "vendor": "medisoft", "technician": "jdupont",
        "target": "dpi-app-01", "account": "maint", "request": "7", "hash": stored[0]["hash"],
    }
    assert first.msg.startswith(b"\xef\xbb\xbf")  # UTF-8 with its BOM, as RFC 5424 asks
    assert first.msg[3:].decode() == "access.refused denied: hors fenêtre de maintenance - accès refusé"
    assert [m.severity for m in received[1:]] == [6, 6]  # informational
    assert [m.sd[SD_ID]["id"] for m in received] == [str(e["id"]) for e in stored]


def test_only_new_events_are_sent_and_progress_survives_a_restart(acore, receiver) -> None:
    append(acore, 4)
    assert SyslogForwarder(acore.db, settings_for(receiver)).forward_once() == 4
    # The receiver reads each TCP connection on a thread of its own: the first four must be
    # in before the restarted forwarder's connection, or a loaded machine reorders them.
    receiver.wait_for(4)
    append(acore, 2, start=4)
    restarted = SyslogForwarder(acore.db, settings_for(receiver), batch=1)
    assert restarted.forward_once() == 2
    assert restarted.forward_once() == 0
    ids = [m.sd[SD_ID]["id"] for m in receiver.wait_for(6)]
    assert ids == [str(e["id"]) for e in events(acore.db)]


def test_tcp_outage_loses_nothing(acore) -> None:
    down = Receiver("tcp")
    port = down.port
    down.close()  # nobody listens on the port any more
    append(acore, 3)
    settings = SyslogSettings(host="127.0.0.1", port=port, protocol="tcp")
    forwarder = SyslogForwarder(acore.db, settings)
    with pytest.raises(OSError):
        forwarder.forward_once()
    back = Receiver("tcp", port=port)
    try:
        assert forwarder.forward_once() == 3
        assert [m.msgid for m in back.wait_for(3)] == ["test.event"] * 3
    finally:
        back.close()


def test_forwarder_thread_sends_as_events_are_written(acore, receiver) -> None:
    forwarder = SyslogForwarder(acore.db, settings_for(receiver))
    forwarder.start(poll_seconds=0.05)
    try:
        append(acore, 2)
        receiver.wait_for(2)
        append(acore, 1, start=2)
        assert [m.sd[SD_ID]["id"] for m in receiver.wait_for(3)] == ["1", "2", "3"]
    finally:
        forwarder.stop()


class GatedSender:
    """The real TCP sender behind a gate that only a coroutine on the event loop opens:
    if forwarding ran on the loop's thread, the loop could never open it (deadlock)."""

    def __init__(self, inner: TcpSender) -> None:
        self.inner, self.gate, self.max_bytes = inner, threading.Event(), None

    def send(self, message: bytes) -> None:
        assert self.gate.wait(10), "the event loop was blocked while forwarding"
        self.inner.send(message)

    def close(self) -> None:
        self.inner.close()


def test_async_forwarding_never_blocks_the_event_loop(acore) -> None:
    server = Receiver("tcp")
    append(acore, 2)
    sender = GatedSender(TcpSender("127.0.0.1", server.port))
    forwarder = SyslogForwarder(acore.db, SyslogSettings(host="127.0.0.1", port=server.port,
                                                         protocol="tcp"), sender=sender)

    async def scenario() -> None:
        stop = asyncio.Event()
        task = asyncio.create_task(forwarder.run_async(stop, poll_seconds=0.05))
        await asyncio.sleep(0.1)  # the forwarder is now waiting at the gate, in its thread
        sender.gate.set()
        await asyncio.to_thread(server.wait_for, 2)
        stop.set()
        await asyncio.wait_for(task, 10)

    try:
        asyncio.run(scenario())
    finally:
        server.close()


def test_udp_messages_are_cut_to_a_safe_datagram_size() -> None:
    event = {"id": 1, "at": "2026-03-01T12:00:00.000000+00:00", "actor": "system",
             "actor_role": "system", "action": "test.big", "outcome": "ok", "node": "n1",
             "hash": "a" * 64, "reasons": ["é" * 10_000], "message": None}
    message = format_event(event, app_name="x", facility=13, max_bytes=UdpSender.max_bytes)
    assert len(message) <= UdpSender.max_bytes
    parsed = parse(message)
    parsed.msg.decode("utf-8")  # cut on a character boundary
    assert parsed.msgid == "test.big" and parsed.sd[SD_ID]["hash"] == "a" * 64


def test_forwarder_needs_a_host() -> None:
    with pytest.raises(ValueError, match="host"):
        SyslogForwarder(None, SyslogSettings())  # type: ignore[arg-type]

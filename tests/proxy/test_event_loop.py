"""The SSH event loop never waits on the database: with the database locked, a live
session keeps echoing keystrokes, and a new login simply waits for the lock."""

from __future__ import annotations

import sqlite3
import threading
import time

from tests.proxy.conftest import Scenario
from tests.proxy.test_paramiko_client import connect  # noqa: F401 - fixture


def test_locked_database_does_not_freeze_live_sessions(scenario: Scenario, connect) -> None:  # type: ignore[no-untyped-def]  # noqa: F811
    scenario.grant()
    client = connect()
    channel = client.invoke_shell(term="xterm")
    channel.send(b"PS1='> '; stty -echo\n")
    time.sleep(0.5)
    while channel.recv_ready():
        channel.recv(65536)

    database = scenario.core.settings.database_url.split("///", 1)[1]
    locker = sqlite3.connect(database, isolation_level=None, timeout=1)
    locker.execute("BEGIN EXCLUSIVE")
    released = threading.Event()
    login_result: list[int] = []

    def new_login() -> None:
        # A new technician arriving meanwhile needs the database: it must wait, not fail.
        login_result.append(scenario.ssh("true", timeout=60).returncode)

    arrival = threading.Thread(target=new_login)
    arrival.start()
    try:
        channel.send(b"echo marker-$((20+22))\n")
        seen = b""
        deadline = time.monotonic() + 10
        while b"marker-42" not in seen and time.monotonic() < deadline:
            if channel.recv_ready():
                seen += channel.recv(65536)
            time.sleep(0.01)
        # The echo came back while the database was still locked.
        assert b"marker-42" in seen
        assert not released.is_set()
        assert login_result == []  # the new login is still waiting for the database
    finally:
        locker.execute("ROLLBACK")
        locker.close()
        released.set()
    arrival.join(60)
    assert login_result == [0]

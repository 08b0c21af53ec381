"""SSH channel flow control that holds while a relay waits on its recording.

asyncssh (2.24) grants the peer a new window as soon as it *delivers* one buffered packet
after a pause, computed as if nothing were still buffered: every pause and resume of a
channel whose reader lags (a relay waiting for its recording to be stored) lets the
target send one more window ahead. Measured with ten concurrent ``head -c 40M
/dev/urandom``: 172 MB of packets in channel buffers (tracemalloc), the node at 500 MB.

:func:`install` corrects the grant: the window offered back never counts bytes still
held in the channel's buffer, so what a channel holds stays within its window (plus the
stream's own limit, one window too). The patch replaces one private method: if asyncssh
changes it, :func:`install` logs that it cannot apply and the proxy keeps asyncssh's
behaviour (memory, not security, is at stake).
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any

import asyncssh.channel as _channel

log = logging.getLogger("bastion.proxy")

_installed: list[Callable[..., Any]] = []


def _deliver_data(original: Callable[..., Any]) -> Callable[..., Any]:
    def deliver(self: Any, data: bytes, datatype: Any) -> None:
        try:
            initial = self._init_recv_window
            held = sum(len(piece) for piece, _ in self._recv_buf)
        except AttributeError:  # not the asyncssh this was written for
            original(self, data, datatype)
            return
        if self._recv_window + held < initial / 2:
            adjust = initial - self._recv_window - held
            self.send_packet(_channel.MSG_CHANNEL_WINDOW_ADJUST, _channel.UInt32(adjust))
            self._recv_window += adjust
        granted = self._recv_window
        # asyncssh's own grant sees a full window and so adds nothing.
        self._recv_window = initial
        try:
            original(self, data, datatype)
        finally:
            self._recv_window = granted

    return deliver


def install() -> bool:
    """Patch asyncssh's channels once per process; False when it cannot apply."""
    if _installed:
        return True
    cls = _channel.SSHChannel
    original = getattr(cls, "_deliver_data", None)
    needed = ("MSG_CHANNEL_WINDOW_ADJUST", "UInt32")
    if original is None or not all(hasattr(_channel, name) for name in needed):
        log.warning("asyncssh changed: channel flow control not corrected; a lagging "
                    "recording may let a flooding target fill the node's memory")
        return False
    cls._deliver_data = _deliver_data(original)  # type: ignore[method-assign]
    _installed.append(original)
    return True

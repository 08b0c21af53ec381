"""The recorder process: writes the recordings of one parent process (an SSH proxy worker).

``python -m bastion.recording.recorder_process --fd N [--ring-fd M --ring-bytes S]``: N is
this end of a socket pair whose other end the parent holds (recorder_link.py); M, the
shared memory the parent puts the bodies of large events in (recorder_ring.py).
Everything a recording costs per byte (event encoding, the deflate trial and deflate,
AES-GCM sealing, the SHA-256 chain, the file append) runs here, on this process's own GIL
and core, never on the parent's, which keeps its CPU for SSH. The file format is the one
:class:`RecordingWriter` writes: this process only runs the writers.

Requests are read on the main thread and run on a pool of threads (a write blocked on
slow storage holds one thread, the others go on), except small appends to a local folder:
the reading thread writes those itself (a keystroke's hop to a pool thread and back cost
more than its append). A recording never has two requests in
flight (the parent's recorder waits for each write before sending the next), so its
chunks are written in order. Each request is answered once done: an ``append`` is
answered only once storage holds its bytes, which is what lets the parent forward them.

When the parent's end closes (it stopped, or died), writes already received are let
finish, files are released unsealed, and this process exits: the parent's node marks
those recordings interrupted at what verifies, as after any crash.
"""

from __future__ import annotations

import argparse
import logging
import os
import signal
import socket
import sys
import threading
from functools import partial
from typing import Any

from bastion.free_memory import keep_freed_memory_for_reuse

from .errors import RecordingError
from .events import Event
from .recorder_ring import RingReader, RingSlice
from .recorder_wire import LENGTH, MAX_FRAME_BYTES, CreateRequest, decode, encode
from .storage import LocalFolderStorage, Storage
from .write_threads import WriteThreads
from .writer import RecordingWriter, SealResult

log = logging.getLogger("bastion.recording.recorder_process")

THREADS = 8
# Appends up to this size are written by the thread that reads the requests (see serve).
INLINE_APPEND_BYTES = 16 * 1024


class RecorderServer:
    def __init__(self, sock: socket.socket, storage: Storage, ring: RingReader | None = None) -> None:
        self._sock = sock
        self._storage = storage
        self._ring = ring  # where the parent put the bodies of large events (recorder_ring.py)
        self._send_lock = threading.Lock()
        self._writers: dict[int, RecordingWriter] = {}
        self._threads = WriteThreads(THREADS, "recorder")
        # A small append to a local file returns in microseconds; one to object storage is
        # a network round trip, which must not hold the requests of other recordings.
        self._quick_appends = isinstance(storage, LocalFolderStorage) and not storage.fsync_appends

    def serve(self, stream: Any) -> None:
        while (frame := _read_frame(stream)) is not None:
            request_id, op, handle, payload = frame
            if self._quick_appends and op == "append" and _size(payload) <= INLINE_APPEND_BYTES:
                # A keystroke or an echo: a hop to a pool thread and back for its reply
                # cost more than the append itself, and every echo waits for two of them.
                self._run(request_id, op, handle, payload)
            else:
                self._threads.submit(partial(self._run, request_id, op, handle, payload))
        self._threads.stop(timeout=None)
        for writer in self._writers.values():
            self._storage.release(writer.storage_key)

    def _run(self, request_id: int, op: str, handle: int, payload: Any) -> None:
        error: str | None = None
        result: SealResult | None = None
        writer = self._writers.get(handle)  # a close forgets it: its state is still wanted
        try:
            result = self._do(op, handle, payload)
        except RecordingError as exc:
            error = str(exc)
        except Exception as exc:  # noqa: BLE001 - answered: the parent's session ends
            log.exception("recorder request %s failed", op)
            error = f"{type(exc).__name__}: {exc}"
        if result is None and writer is not None:
            result = writer.result()
        self._reply(request_id, error, result)

    def _do(self, op: str, handle: int, payload: Any) -> SealResult:
        if op == "create":
            request: CreateRequest = payload
            writer = RecordingWriter.create(
                self._storage, request.storage_key, request.data_key, request.terminal,
                chunk_bytes=request.chunk_bytes, metadata=request.metadata,
                started=request.started)
            self._writers[handle] = writer
            return writer.result()
        writer = self._writers[handle]
        if op == "append":
            writer.append([Event(time, code, self._body(data)) for time, code, data in payload])
            return writer.result()
        if op == "close":
            try:
                return writer.close(payload)
            finally:
                del self._writers[handle]
        raise ValueError(f"unknown recorder request {op!r}")

    def _body(self, data: Any) -> Any:
        if not isinstance(data, RingSlice):
            return data
        if self._ring is None:
            raise ValueError("an event in shared memory, but the parent passed no ring")
        # Copied out now: the parent reuses the space once this request is answered.
        return self._ring.body(data)

    def _reply(self, request_id: int, error: str | None, result: SealResult | None) -> None:
        frame = encode((request_id, error, result))
        with self._send_lock:
            try:
                self._sock.sendall(frame)
            except OSError:
                pass  # the parent is gone: nobody waits for this answer


def _size(payload: list[tuple[float, str, Any]]) -> int:
    return sum(data.length if isinstance(data, RingSlice) else len(data) for _, _, data in payload
               if isinstance(data, bytes | RingSlice))


def _read_frame(stream: Any) -> tuple[Any, ...] | None:
    head = stream.read(LENGTH.size)
    if len(head) < LENGTH.size:
        return None
    (length,) = LENGTH.unpack(head)
    if length > MAX_FRAME_BYTES:
        raise SystemExit(f"recorder: a frame of {length} bytes: the parent's stream is broken")
    body = stream.read(length)
    if len(body) < length:
        return None
    return decode(body)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bastion.recording.recorder_process")
    parser.add_argument("--fd", type=int, required=True, help="this end of the socket pair")
    parser.add_argument("--ring-fd", type=int, help="the shared memory of large event bodies")
    parser.add_argument("--ring-bytes", type=int, help="its size")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, stream=sys.stderr,
                        format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    # Ctrl-C in a terminal reaches the whole process group, and systemd's stop signals
    # every process of the unit: the parent decides when this process ends (by closing
    # its end, after sealing its recordings), so that no session loses its recording
    # while the node stops cleanly. A parent that dies closes its end all the same.
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    signal.signal(signal.SIGTERM, signal.SIG_IGN)
    keep_freed_memory_for_reuse()
    sock = socket.socket(fileno=args.fd)
    stream = sock.makefile("rb", buffering=1024 * 1024)
    hello = _read_frame(stream)
    if hello is None or hello[0] != "hello":
        return 2
    from .s3_storage import storage_from_settings

    storage = storage_from_settings(hello[1])
    sock.sendall(encode(("ready", os.getpid())))
    ring = RingReader(args.ring_fd, args.ring_bytes) if args.ring_fd is not None else None
    RecorderServer(sock, storage, ring).serve(stream)
    return 0


if __name__ == "__main__":
    sys.exit(main())

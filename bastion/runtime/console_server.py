"""The console under waitress, a production WSGI server, in a thread of its process.

Why waitress: pure Python with no C extension to build or audit, it reads whole requests
and buffers responses in its own I/O loop before a worker thread sees them (a slow or
hostile client holds no worker), it is embeddable with an application object we built
around this process's core (no import-string factory, no global app), and it runs the same
in the demo and in production. Werkzeug's server is for development only."""

from __future__ import annotations

import socket
import threading
from collections.abc import Callable

from waitress import wasyncore
from waitress.server import create_server

from bastion.context import Bastion

from .listening import bind


class ConsoleServer(threading.Thread):
    def __init__(self, core: Bastion, app_factory: Callable[[Bastion], object],
                 listener: socket.socket | None = None) -> None:
        super().__init__(name="bastion-console", daemon=True)
        web = core.settings.web
        # A supervisor binds the port itself and hands the socket down (bastion.runtime).
        listener = listener or bind("web", web.listen_host, web.listen_port)
        self.port: int = listener.getsockname()[1]
        self.server = create_server(
            app_factory(core), sockets=[listener], threads=web.threads,
            ident="bastion",  # the Server header: no version for scanners
            # Each request's client address comes from the socket; [web] trusted_proxies
            # (ProxyFix, in the app) decides whether X-Forwarded-* are believed.
            channel_timeout=120, connection_limit=1000, max_request_body_size=4 * 1024 * 1024)

    def run(self) -> None:
        self.server.run()

    def stop(self) -> None:
        self.server.task_dispatcher.shutdown()
        wasyncore.close_all(self.server._map)  # noqa: SLF001 - waitress's own stop sequence

"""``bastion serve``: run the SSH proxy and the web console."""

from __future__ import annotations

import asyncio
import logging
import socket
import sys

import click

from bastion.observability import JsonFormatter

from .common import CliState, fail, pass_state
from .keys import finish_interrupted_rotation


def configure_logging(verbose: bool, log_format: str = "text") -> None:
    handler = logging.StreamHandler()
    handler.setFormatter(JsonFormatter() if log_format == "json" else logging.Formatter(
        "%(asctime)s %(levelname)s %(name)s: %(message)s"))
    logging.basicConfig(level=logging.DEBUG if verbose else logging.INFO, handlers=[handler])
    # asyncssh logs every packet-level event at INFO; keep the operator's log readable.
    logging.getLogger("asyncssh").setLevel(logging.DEBUG if verbose else logging.WARNING)
    logging.getLogger("werkzeug").setLevel(logging.WARNING)
    logging.getLogger("alembic").setLevel(logging.WARNING)


def _announce(port: int) -> None:
    # The supervisor reads this line on the child's standard output.
    sys.stdout.write(f"ready {port}\n")
    sys.stdout.flush()


@click.command()
@click.option("-v", "--verbose", is_flag=True, help="Debug logging.")
@click.option("--role", type=click.Choice(["node", "proxy", "console"]), default="node",
              hidden=True, help="Set by the supervisor for its children.")
@click.option("--listen-fd", type=int, hidden=True)
@click.option("--node-name", hidden=True)
@click.option("--slot", type=int, default=0, hidden=True)
@pass_state
def serve(state: CliState, verbose: bool, role: str, listen_fd: int | None,
          node_name: str | None, slot: int) -> None:
    """Run the SSH proxy and the web console until SIGTERM or SIGINT (SIGHUP: replace the
    worker processes one at a time, live sessions kept)."""
    from bastion.runtime.listening import ListenError
    from bastion.server import serve as run
    from web import create_app

    configure_logging(verbose, state.settings.logging.format)
    if role != "node":
        _serve_child(state, role, listen_fd, node_name, slot)
        return
    with state.bastion() as core:
        # Before anything seals or opens a value: a crash mid-rotation may have left the
        # database sealed with master.key.next.
        finish_interrupted_rotation(core)
        workers = state.settings.proxy_workers
        try:
            if workers == 1:
                asyncio.run(run(core, create_app))
            else:
                from bastion.runtime.supervisor import Supervisor
                from bastion.server import check_start, record_retention

                record_retention(core)
                check_start(core)
                Supervisor(core, workers, state.config_path).run()
        except (ListenError, RuntimeError) as exc:
            fail(str(exc))


def _serve_child(state: CliState, role: str, listen_fd: int | None, node_name: str | None,
                 slot: int) -> None:
    from bastion.context import Bastion
    from bastion.runtime.console_process import run_console_process
    from bastion.runtime.cpu_affinity import keep_to_one_core
    from bastion.runtime.proxy_worker import run_proxy_worker
    from web import create_app

    if listen_fd is None or node_name is None:
        fail("--role is for the supervisor's children: run 'bastion serve'")
    # First, before any thread starts: threads and the recorder process inherit it.
    cores = (keep_to_one_core(slot) if role == "proxy" and state.settings.node.pin_workers
             else None)
    listener = socket.socket(fileno=listen_fd)
    core = Bastion.from_settings(state.settings, node=node_name)
    try:
        if role == "proxy":
            asyncio.run(run_proxy_worker(core, listener, _announce, recorder_cores=cores))
        else:
            asyncio.run(run_console_process(core, create_app, listener, _announce))
    finally:
        core.close()

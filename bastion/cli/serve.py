"""``bastion serve``: run the SSH proxy and the web console."""

from __future__ import annotations

import asyncio
import logging

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


@click.command()
@click.option("-v", "--verbose", is_flag=True, help="Debug logging.")
@pass_state
def serve(state: CliState, verbose: bool) -> None:
    """Run the SSH proxy and the web console until SIGTERM or SIGINT."""
    from bastion.server import ListenError
    from bastion.server import serve as run
    from web import create_app

    configure_logging(verbose, state.settings.logging.format)
    with state.bastion() as core:
        # Before anything seals or opens a value: a crash mid-rotation may have left the
        # database sealed with master.key.next.
        finish_interrupted_rotation(core)
        try:
            asyncio.run(run(core, create_app))
        except ListenError as exc:
            fail(str(exc))

"""``bastion demo``: what ``make demo`` runs."""

from __future__ import annotations

import asyncio

import click

from .common import CliState, pass_state
from .serve import configure_logging


@click.command()
@pass_state
def demo(state: CliState) -> None:
    """Initialise ./var with demo data, start a demo DPI target and run the bastion."""
    from bastion.demo.run import run_demo
    from web import create_app

    configure_logging(False)
    with state.bastion(require_schema=False) as core:
        asyncio.run(run_demo(core, create_app))

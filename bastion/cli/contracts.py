"""``bastion contracts``: check and load vendor contract files."""

from __future__ import annotations

import click


@click.group()
def contracts() -> None:
    """Vendor contracts: check files, load them as new versions."""

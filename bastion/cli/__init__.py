"""The ``bastion`` command line. One module per command group, registered below."""

from __future__ import annotations

import sys

import click

from .access_review import access_review
from .audit import audit
from .common import fail, main_group
from .config import config
from .contracts import contracts
from .demo import demo
from .init import init
from .keys import keys
from .logbook import logbook
from .recordings import recordings
from .reports import reports
from .serve import serve
from .staff import staff
from .targets import targets
from .technicians import technicians
from .tokens import tokens

main_group.add_command(init)
main_group.add_command(serve)
main_group.add_command(targets)
main_group.add_command(technicians)
main_group.add_command(staff)
main_group.add_command(contracts)
main_group.add_command(audit)
main_group.add_command(recordings)
main_group.add_command(reports)
main_group.add_command(demo)
main_group.add_command(logbook)
main_group.add_command(access_review)
main_group.add_command(tokens)
main_group.add_command(keys)
main_group.add_command(config)


def main() -> None:
    try:
        main_group(prog_name="bastion")
    except KeyboardInterrupt:
        sys.exit(130)


__all__ = ["fail", "main", "main_group", "click"]

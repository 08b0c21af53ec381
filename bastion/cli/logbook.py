"""``bastion logbook``: the intervention logbook (*main courante*) by period, as CSV or as
a printable HTML page, for the maintenance contract's follow-up meetings."""

from __future__ import annotations

from datetime import datetime
from pathlib import Path

import click

from bastion.logbook import FORMATS, LogbookFilter, export_logbook

from .common import CliState, cli_actor, fail, pass_state, private_output

DAY = click.DateTime(formats=["%Y-%m-%d"])


@click.group()
def logbook() -> None:
    """Intervention logbook: one entry per granted access, with what was done."""




@logbook.command("export")
@click.option("--vendor", help="Only this vendor (its id, e.g. medilogic).")
@click.option("--target", help="Only this target.")
@click.option("--since", type=DAY, help="First day (hospital time), e.g. 2026-01-01.")
@click.option("--until", type=DAY, help="Last day, included.")
@click.option("--format", "format_", type=click.Choice(FORMATS), default="csv", show_default=True)
@click.option("--language", type=click.Choice(["fr", "en"]),
              help="Language of the printable page and of the flags (default: web.default_language).")
@click.option("-o", "--output", type=click.Path(path_type=Path, dir_okay=False),
              help="File to write (default: standard output).")
@pass_state
def export(state: CliState, vendor: str | None, target: str | None, since: datetime | None,
           until: datetime | None, format_: str, language: str | None, output: Path | None) -> None:
    """Export the logbook of a period. Links point at the console (web.public_url); the
    export is audited."""
    query = LogbookFilter(since.date() if since else None, until.date() if until else None,
                          vendor, target)
    if query.since and query.until and query.until < query.since:
        fail("--until is before --since")
    with state.bastion() as core, private_output(output) as out:
        count = export_logbook(core, query, format=format_, out=out, actor=cli_actor(),
                               language=language or core.settings.web.default_language)
    if output is not None:
        click.echo(f"{count} intervention(s) written to {output}")

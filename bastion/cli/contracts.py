"""``bastion contracts``: check and load vendor contract files."""

from __future__ import annotations

from pathlib import Path

import click
from sqlalchemy.exc import SQLAlchemyError

from bastion.contracts import check_paths, export_json_schema, inventory_snapshot, load_contracts
from bastion.contracts.checks import Inventory
from bastion.db import Database, DatabaseError
from bastion.models import utcnow

from .common import CliState, cli_actor, fail, pass_state

PATHS = click.argument("paths", nargs=-1, required=True,
                       type=click.Path(path_type=Path, exists=False))


@click.group()
def contracts() -> None:
    """Vendor contracts: check files, load them as new versions."""


@contracts.command("check")
@PATHS
@click.option("--offline", is_flag=True,
              help="Do not read the inventory from the database, even if there is one.")
@pass_state
def check(state: CliState, paths: tuple[Path, ...], offline: bool) -> None:
    """Report every problem in contract files (or folders of them), one line each as
    FILE:LINE: MESSAGE. Targets, labels, accounts and keys are checked against the
    database's inventory when one is initialised. Exits 1 on any problem."""
    inventory, why = (None, "--offline given") if offline else _inventory(state)
    report = check_paths(paths, inventory, utcnow())
    for problem in report.problems:
        click.echo(str(problem))
    for warning in report.warnings:
        click.echo(f"{warning.path}:{warning.line}: warning: {warning.message}", err=True)
    for note in report.notes:
        click.echo(f"note: {note}" + (f" ({why})" if why and inventory is None else ""),
                   err=True)
    if report.problems:
        files = len({p.path for p in report.problems})
        click.echo(f"{len(report.problems)} problem(s) in {files} file(s)", err=True)
        raise SystemExit(1)
    if not report.files:
        click.echo("no contract file found", err=True)
        raise SystemExit(1)
    for parsed in report.files:
        contract = parsed.contract
        assert contract is not None
        click.echo(f"{parsed.path}: ok (vendor {contract.vendor.id}, contract "
                   f"{contract.reference}, {len(contract.technicians)} technician(s))")


@contracts.command("load")
@PATHS
@pass_state
def load(state: CliState, paths: tuple[Path, ...]) -> None:
    """Check, then store contract files as new versions: technicians and keys follow the
    file, and grants the new version no longer allows are revoked (their live sessions
    end). Loading an unchanged file does nothing. Any problem: nothing is loaded."""
    with state.bastion() as core:
        try:
            report = load_contracts(core, paths, cli_actor())
        except SQLAlchemyError as exc:  # e.g. a concurrent load of the same new vendor
            fail(f"nothing loaded: the database refused the change ({getattr(exc, 'orig', exc)})")
    for problem in report.problems:
        click.echo(str(problem))
    if not report.ok:
        click.echo(f"{len(report.problems)} problem(s): nothing loaded", err=True)
        raise SystemExit(1)
    for item in report.contracts:
        line = f"{item.path}: vendor {item.vendor}, contract {item.reference}"
        if item.status == "unchanged":
            click.echo(f"{line}: unchanged (version {item.version})")
            continue
        click.echo(f"{line}: {item.status} as version {item.version}")
        for kind, names in item.technicians.items():
            what = kind.replace("_", " ") if kind.startswith("keys") else f"technicians {kind}"
            click.echo(f"  {what}: {', '.join(names)}")
        if item.revoked_grants:
            click.echo(f"  grants revoked (no longer within the contract): "
                       f"{', '.join(str(g) for g in item.revoked_grants)}")


@contracts.command("schema")
def schema() -> None:
    """Print the contracts' JSON Schema (the content of contracts/schema.json)."""
    click.echo(export_json_schema(), nl=False)


def _inventory(state: CliState) -> tuple[Inventory | None, str | None]:
    """The database's inventory, or None and why, without creating a database: checking a
    file on a workstation must not leave an empty SQLite file behind."""
    url = state.settings.database_url
    if url.startswith("sqlite"):
        path = url.split("///", 1)[-1]
        if path in ("", ":memory:") or not Path(path).exists():
            return None, f"no database at {path or url}"
    database = Database(url)
    try:
        database.require_current_schema()
        with database.session() as session:
            return inventory_snapshot(session), None
    except (DatabaseError, SQLAlchemyError) as exc:
        return None, f"database not usable: {exc}"

    finally:
        database.dispose()

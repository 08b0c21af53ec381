"""What every command shares: loading settings, opening the core, one-line failures."""

from __future__ import annotations

import getpass
import os
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import NoReturn, TextIO
from zoneinfo import ZoneInfo

import click
from sqlalchemy import select

from bastion.audit import Actor
from bastion.config import ConfigError, Settings, load_settings
from bastion.context import Bastion
from bastion.db import DatabaseError
from bastion.i18n import zone_label
from bastion.keys import KeyStoreError


def clock(value: datetime | None, zone: str, *, seconds: bool = False) -> str:
    """A time in CLI output: in ``zone`` (the hospital's, web.time_zone), the zone named
    (``2026-03-02 05:56 CET``), so a log line never leaves its reader guessing."""
    if value is None:
        return "-"
    if value.tzinfo is None:
        value = value.replace(tzinfo=UTC)  # the database's times are UTC
    local = value.astimezone(ZoneInfo(zone))
    return f"{local:%Y-%m-%d %H:%M{':%S' if seconds else ''}} {zone_label(value, zone)}"


def fail(message: str, code: int = 1) -> NoReturn:
    click.echo(f"bastion: {message}", err=True)
    raise SystemExit(code)


class CliState:
    def __init__(self, config_path: Path | None, operator: str | None = None) -> None:
        self.config_path = config_path
        self.operator = operator or None
        self._settings: Settings | None = None
        self._actor: Actor | None = None
        self._core: Bastion | None = None

    @property
    def settings(self) -> Settings:
        if self._settings is None:
            try:
                self._settings = load_settings(self.config_path)
            except ConfigError as exc:
                fail(str(exc))
        return self._settings

    @contextmanager
    def bastion(self, *, require_schema: bool = True) -> Iterator[Bastion]:
        core = Bastion.from_settings(self.settings)
        try:
            if require_schema:
                core.db.require_current_schema()
                # Fail now, not halfway through a command: every action writes the audit log
                # (signed checkpoints) and most touch encrypted data.
                core.keys.master_key  # noqa: B018
                core.keys.audit_signing_key_pem()
            self._core = core  # for cli_actor: the operator is checked on first use
            yield core
        except (DatabaseError, KeyStoreError) as exc:
            fail(str(exc))
        finally:
            self._core = None
            core.close()


def operator_actor(core: Bastion, username: str) -> Actor:
    """The staff member named by ``--as`` / BASTION_OPERATOR, checked: an existing, active
    account holding the admin or DPO role (the console's own roles for these actions)."""
    from bastion.models import StaffUser

    with core.db.session() as session:
        person = session.scalar(select(StaffUser).where(StaffUser.username == username))
        if person is None or not person.active:
            fail(f"operator {username!r} is not an active staff account: name yourself with "
                 "--as USERNAME (see bastion staff list)")
        roles = person.role_names
    role = "admin" if "admin" in roles else "dpo" if "dpo" in roles else None
    if role is None:
        fail(f"operator {username!r} is neither admin nor DPO: the command line is for them")
    return Actor(f"staff:{username}", role)


def cli_actor(*, bootstrap: bool = False) -> Actor:
    """Who the audit log names for this command: the staff member given with ``--as`` (or
    BASTION_OPERATOR), checked on first use. Without one, the operating-system user,
    unless ``cli.require_operator`` is on: then the command is refused, since an OS account
    (often root, shared) names nobody. ``bootstrap``: ``bastion init`` before any admin
    exists, when nobody could be named."""
    context = click.get_current_context(silent=True)
    state = context.find_object(CliState) if context is not None else None
    if state is not None and state.operator and state._actor is None:
        if state._core is not None:
            state._actor = operator_actor(state._core, state.operator)
        else:
            with state.bastion() as core:
                state._actor = operator_actor(core, state.operator)
    if state is not None and state._actor is not None:
        return state._actor
    if state is not None and state.settings.cli.require_operator and not bootstrap:
        fail("this command changes the bastion: name yourself with --as USERNAME or "
             "BASTION_OPERATOR=USERNAME (an active admin or DPO account; cli.require_operator "
             "is on)")
    user = os.environ.get("SUDO_USER") or getpass.getuser()
    return Actor(f"cli:{user}", "admin")


pass_state = click.make_pass_decorator(CliState)


@click.group(context_settings={"help_option_names": ["-h", "--help"], "max_content_width": 100})
@click.version_option(package_name="dpi-bastion", prog_name="bastion",
                      message="%(prog)s %(version)s")
@click.option(
    "--config",
    "config_path",
    type=click.Path(path_type=Path, dir_okay=False),
    envvar="BASTION_CONFIG",
    help="TOML configuration file (default: ./bastion.toml if present).",
)
@click.option(
    "--as",
    "operator",
    envvar="BASTION_OPERATOR",
    metavar="USERNAME",
    help="The staff member running the command (an active admin or DPO account): the audit "
         "log names them. Required for commands that change state when cli.require_operator is on.",
)
@click.pass_context
def main_group(ctx: click.Context, config_path: Path | None, operator: str | None) -> None:
    """Maintenance bastion for hospital patient-record (DPI) servers.

    Vendor technicians reach DPI servers only through the bastion; IT staff approve each
    access with a security key; every session is recorded and checked against the
    vendor's contract.
    """
    ctx.obj = CliState(config_path, operator)


def read_password(password_file: Path | None, prompt: str) -> str:
    if password_file is not None:
        try:
            return password_file.read_text(encoding="utf-8").rstrip("\n")
        except OSError as exc:
            fail(f"cannot read {password_file}: {exc.strerror}")
    if not os.isatty(0):
        fail("no terminal to ask for the password: give --password-file")
    return click.prompt(prompt, hide_input=True, confirmation_prompt=True)


@contextmanager
def private_output(path: Path | None) -> Iterator[TextIO]:
    """Standard output, or a file created 0600: exports name people and what they did,
    so a file is as private as the database it came from."""
    if path is None:
        yield sys.stdout
        return
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w", encoding="utf-8", newline="") as handle:
        yield handle

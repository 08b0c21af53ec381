"""What every command shares: loading settings, opening the core, one-line failures."""

from __future__ import annotations

import getpass
import os
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import NoReturn, TextIO

import click

from bastion.audit import Actor
from bastion.config import ConfigError, Settings, load_settings
from bastion.context import Bastion
from bastion.db import DatabaseError
from bastion.keys import KeyStoreError


def fail(message: str, code: int = 1) -> NoReturn:
    click.echo(f"bastion: {message}", err=True)
    raise SystemExit(code)


class CliState:
    def __init__(self, config_path: Path | None) -> None:
        self.config_path = config_path
        self._settings: Settings | None = None

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
            yield core
        except (DatabaseError, KeyStoreError) as exc:
            fail(str(exc))
        finally:
            core.close()


def cli_actor() -> Actor:
    """CLI actions are attributed to the operating-system user who ran them."""
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
@click.pass_context
def main_group(ctx: click.Context, config_path: Path | None) -> None:
    """Maintenance bastion for hospital patient-record (DPI) servers.

    Vendor technicians reach DPI servers only through the bastion; IT staff approve each
    access with a security key; every session is recorded and checked against the
    vendor's contract.
    """
    ctx.obj = CliState(config_path)


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

"""A throwaway PostgreSQL server: initdb + pg_ctl in a temp dir, on a free port."""

from __future__ import annotations

import glob
import os
import shutil
import subprocess
import tempfile
from dataclasses import dataclass
from pathlib import Path

from .ports import free_port

INSTALL_HINT = (
    "PostgreSQL server binaries (initdb, pg_ctl) not found: run 'apt-get install postgresql' "
    "('make test' does this itself when run as root)"
)


def find_pg_bin() -> Path:
    if shutil.which("pg_ctl") and shutil.which("initdb"):
        return Path(os.path.realpath(shutil.which("pg_ctl"))).parent  # type: ignore[arg-type]
    candidates = sorted(glob.glob("/usr/lib/postgresql/*/bin/pg_ctl"), reverse=True)
    if candidates:
        return Path(candidates[0]).parent
    raise RuntimeError(INSTALL_HINT)


@dataclass
class PostgresServer:
    port: int = 0

    def _run(self, *args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
        command = list(args)
        # initdb and postgres refuse to run as root: run them as the 'postgres' user that the
        # Debian package creates.
        if os.geteuid() == 0:
            command = ["runuser", "-u", "postgres", "--", *command]
        return subprocess.run(command, check=check, capture_output=True, text=True)

    def start(self) -> PostgresServer:
        bin_dir = find_pg_bin()
        # Outside pytest's tmp tree: that is private to root (0700) and the server runs as
        # the 'postgres' user, which must be able to reach its data directory.
        self.workdir = Path(tempfile.mkdtemp(prefix="pgdata-"))
        os.chmod(self.workdir, 0o755)
        self.data_dir = self.workdir / "data"
        self.socket_dir = Path(tempfile.mkdtemp(prefix="pg-"))
        if os.geteuid() == 0:
            shutil.chown(self.workdir, "postgres")
            shutil.chown(self.socket_dir, "postgres")
        self.port = self.port or free_port()
        result = self._run(str(bin_dir / "initdb"), "-D", str(self.data_dir), "-U", "postgres",
                           "--auth=trust", "-E", "UTF8", "--no-sync", check=False)
        if result.returncode != 0:
            raise RuntimeError(f"initdb failed: {result.stderr.strip()}")
        options = (f"-p {self.port} -k {self.socket_dir} -c listen_addresses=127.0.0.1 "
                   "-c fsync=off -c synchronous_commit=off -c full_page_writes=off "
                   "-c max_connections=200")
        result = self._run(str(bin_dir / "pg_ctl"), "-D", str(self.data_dir), "-o", options,
                           "-l", str(self.workdir / "postgres.log"), "-w", "start", check=False)
        if result.returncode != 0:
            log = (self.workdir / "postgres.log")
            raise RuntimeError(
                f"PostgreSQL did not start: {result.stderr.strip()} "
                f"{log.read_text() if log.exists() else ''}"
            )
        self._bin_dir = bin_dir
        return self

    def url(self, database: str = "postgres") -> str:
        return f"postgresql+psycopg://postgres@127.0.0.1:{self.port}/{database}"

    def execute(self, statement: str) -> None:
        """One statement as the superuser, outside a transaction (CREATE DATABASE needs that)."""
        import psycopg

        with psycopg.connect(f"host=127.0.0.1 port={self.port} user=postgres dbname=postgres",
                             autocommit=True) as connection:
            connection.execute(statement)

    def create_database(self, name: str, template: str | None = None) -> str:
        """A new database, empty or a copy of ``template``; its URL."""
        self.execute(f'CREATE DATABASE "{name}"' + (f' TEMPLATE "{template}"' if template else ""))
        return self.url(name)

    def stop(self) -> None:
        self._run(str(self._bin_dir / "pg_ctl"), "-D", str(self.data_dir), "-m", "immediate",
                  "stop", check=False)
        shutil.rmtree(self.workdir, ignore_errors=True)
        shutil.rmtree(self.socket_dir, ignore_errors=True)

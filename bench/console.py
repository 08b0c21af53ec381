"""Benchmark 6: the console and the API on a year of history in PostgreSQL: the session
history (10,000 sessions) with filters, and "command contains" searches across 1 million
indexed commands, timed as the DPO gets them (the real Flask app, signed in, pages
rendered; no network). Sessions, recordings and commands are seeded with COPY; a few
audit events per session go through the real audit log (the flag filters read them).

The search is also timed without the trigram index (migration 0006), to show its effect.
"""

from __future__ import annotations

import random
import time
import uuid
from collections.abc import Iterator
from datetime import datetime, timedelta
from typing import Any

import psycopg
from sqlalchemy import event, text

from bastion.api_tokens import create_token
from bastion.audit import Actor
from bastion.context import Bastion
from bastion.staff import add_staff
from tests.production.cluster import prepare_core

from .measure import summary_ms
from .world import World

SETUP = Actor("bench:setup", "admin")
VENDORS = 8
TECHNICIANS = 60
TARGETS = 40
YEAR_START = datetime(2025, 1, 1)
# What technicians type on DPI servers; a few rare ones (the needles of the searches).
COMMON = [
    "systemctl status dpi-app", "systemctl restart dpi-app", "journalctl -u dpi-app -n 200",
    "tail -n 500 /var/log/dpi/application.log", "ls -la /opt/dpi/conf", "df -h", "free -m",
    "top -b -n 1", "ps aux | grep java", "cat /etc/os-release", "vi /opt/dpi/conf/app.properties",
    "grep -i error /var/log/dpi/application.log", "cd /opt/dpi/releases", "uptime",
    "sudo -u dpi /opt/dpi/bin/healthcheck.sh", "curl -s http://localhost:8080/health",
    "tar czf /tmp/logs-{n}.tgz /var/log/dpi", "rm /tmp/logs-{n}.tgz", "du -sh /var/lib/dpi/*",
    "psql -U dpi -c 'select count(*) from patient_visit where day = current_date'",
]
RARE = ["pg_dump -U dpi dpi > /tmp/dump-{n}.sql", "scp /tmp/export-{n}.csv vendor@10.0.0.{m}:"]


# The trigram index of the command search (migration 0014: over the keyed word hashes).
SEARCH_INDEX = "ix_recorded_commands_search_terms_trgm"


def _command(rng: random.Random) -> str:
    pattern = rng.choice(RARE) if rng.random() < 0.001 else rng.choice(COMMON)
    return pattern.format(n=rng.randrange(100000), m=rng.randrange(255))


def _copy_rows(connection: psycopg.Connection[Any], table: str, columns: list[str],
               rows: Iterator[tuple[Any, ...]]) -> None:
    with connection.cursor() as cursor, cursor.copy(
            f"COPY {table} ({', '.join(columns)}) FROM STDIN") as copy:  # noqa: S608 - fixed names
        for row in rows:
            copy.write_row(row)


def seed(core: Bastion, url: str, sessions: int, commands: int) -> dict[str, float]:
    rng = random.Random(9)  # noqa: S311 - reproducible fake history
    timings: dict[str, float] = {}
    started = time.perf_counter()
    with psycopg.connect(url.replace("postgresql+psycopg://", "postgresql://"), autocommit=False) as pg:
        pg.execute("INSERT INTO vendors (id, slug, name, created_at) SELECT n, 'vendor' || n, "
                   "'Vendor ' || n, now() FROM generate_series(1, %s) n", (VENDORS,))
        pg.execute("INSERT INTO technicians (id, ident, vendor_id, employer, full_name, email, active, "
                   "created_at) SELECT n, 'tech' || lpad(n::text, 2, '0'), 1 + n %% %s, 'Vendor', "
                   "'Tech ' || n, 't' || n || '@example.org', true, now() "
                   "FROM generate_series(1, %s) n", (VENDORS, TECHNICIANS))
        pg.execute("INSERT INTO targets (id, name, host, port, host_key, labels, data_categories, "
                   "enabled, created_at) SELECT n, 'dpi-' || lpad(n::text, 3, '0'), '10.1.0.' || n, "
                   "22, 'ssh-ed25519 AAAA', '{}', '[\"administrative\"]', true, now() "
                   "FROM generate_series(1, %s) n", (TARGETS,))
        statuses = ["ended"] * 90 + ["terminated"] * 4 + ["interrupted"] * 2 + ["refused"] * 4
        starts = [YEAR_START + timedelta(seconds=rng.randrange(365 * 86400)) for _ in range(sessions)]
        starts.sort()
        _copy_rows(pg, "ssh_sessions",
                   ["id", "technician_id", "target_id", "account_name", "client_address", "node",
                    "status", "end_reason", "started_at", "ended_at"],
                   ((n + 1, 1 + rng.randrange(TECHNICIANS), 1 + rng.randrange(TARGETS), "maint",
                     "192.0.2.10", "node-a", rng.choice(statuses), "client closed", start,
                     start + timedelta(minutes=rng.randrange(5, 120)))
                    for n, start in enumerate(starts)))
        _copy_rows(pg, "recordings",
                   ["id", "session_id", "channel", "storage_key", "status", "chunk_count",
                    "size_bytes", "output_bytes", "final_hash", "wrapped_key", "master_key_id",
                    "legal_hold", "started_at", "sealed_at"],
                   ((n + 1, n + 1, "shell", f"{start:%Y/%m/%d}/session-{n + 1}-shell-{uuid.uuid4().hex}.rec",
                     "sealed", 10, 4096, 20000, "0" * 64, b"\x00", "bench", False, start, start)
                    for n, start in enumerate(starts)))
        per_session = commands // sessions

        # Command text is sealed at rest and searched by keyed word hashes (trace_sealing):
        # the rows are written as the recorder writes them, through the node's sealer.
        with core.db.session() as session:
            core.traces.seal_text(session, "trace key", "command")  # created, committed
        # Bulk load without the trigram index, then build it once (as a restore would).
        pg.execute(f"DROP INDEX {SEARCH_INDEX}")
        with core.db.session() as traces:

            def command_rows() -> Iterator[tuple[Any, ...]]:
                number = 0
                for n, start in enumerate(starts):
                    for k in range(per_session):
                        number += 1
                        command = _command(rng)
                        yield (number, n + 1, n + 1, float(k * 7),
                               start + timedelta(seconds=k * 7), "shell",
                               core.traces.seal_text(traces, command, "command"),
                               core.traces.search_terms(traces, command), 0, start)

            _copy_rows(pg, "recorded_commands",
                       ["id", "recording_id", "session_id", "offset_seconds", "at", "kind", "text",
                        "search_terms", "exit_status", "created_at"],
                       command_rows())
        for table in ("vendors", "technicians", "targets", "ssh_sessions", "recordings",
                      "recorded_commands"):
            pg.execute(f"SELECT setval(pg_get_serial_sequence('{table}', 'id'), "  # noqa: S608
                       f"(SELECT max(id) FROM {table}))")
        pg.commit()
        timings["copy_s"] = round(time.perf_counter() - started, 1)
        index_started = time.perf_counter()
        pg.execute(f"CREATE INDEX {SEARCH_INDEX} ON recorded_commands "
                   "USING gin (search_terms gin_trgm_ops)")
        pg.commit()
        timings["trigram_index_build_s"] = round(time.perf_counter() - index_started, 1)
    # A few audit events per session, through the real (hash-chained) audit log.
    audit_started = time.perf_counter()
    flagged = rng.sample(range(1, sessions + 1), max(1, sessions // 50))
    with core.db.session() as session:
        for number, session_id in enumerate(flagged):
            core.audit.append(session, action="command.flagged", outcome="ok", session_id=session_id,
                              technician=f"tech{1 + number % TECHNICIANS:02d}",
                              reasons=["privileged commands are reviewed"])
        for session_id in range(1, sessions + 1, 5):
            core.audit.append(session, action="session.opened", outcome="allowed",
                              session_id=session_id)
    timings["audit_events_s"] = round(time.perf_counter() - audit_started, 1)
    with core.db.engine.begin() as connection:
        connection.execute(text("ANALYZE"))
    return timings


def _signed_in(app: Any, core: Bastion, staff_id: int) -> Any:
    """A console client signed in as the DPO (the session the sign-in ceremony leaves)."""
    from flask import session

    from web import signin_state
    from web.identity import load_principal

    client = app.test_client()
    with app.test_request_context():
        with core.db.session() as db:
            principal = load_principal(db, f"staff:{staff_id}")
        signin_state.complete(principal, "password+key")
        contents = dict(session)
    with client.session_transaction() as stored:
        stored.update(contents)
    return client


def _time(client: Any, path: str, repeat: int, headers: dict[str, str] | None = None) -> dict[str, Any]:
    first = client.get(path, headers=headers or {})
    if first.status_code != 200:
        raise RuntimeError(f"{path}: HTTP {first.status_code}: {first.get_data(as_text=True)[:300]}")
    seconds = []
    for _ in range(repeat):
        started = time.perf_counter()
        answer = client.get(path, headers=headers or {})
        seconds.append(time.perf_counter() - started)
        assert answer.status_code == 200
    return summary_ms(seconds)


def slowest_statement_plan(core: Bastion, client: Any, path: str) -> dict[str, Any]:
    """Request ``path`` once more, find its slowest SQL statement and EXPLAIN ANALYZE it:
    what a missed target is investigated with."""
    timings: list[tuple[float, str, Any]] = []

    def before(conn: Any, _cursor: Any, _statement: str, _params: Any, *_: Any) -> None:
        conn.info["bench_started"] = time.perf_counter()

    def after(conn: Any, _cursor: Any, statement: str, params: Any, *_: Any) -> None:
        timings.append((time.perf_counter() - conn.info.pop("bench_started"), statement, params))

    event.listen(core.db.engine, "before_cursor_execute", before)
    event.listen(core.db.engine, "after_cursor_execute", after)
    try:
        client.get(path)
    finally:
        event.remove(core.db.engine, "before_cursor_execute", before)
        event.remove(core.db.engine, "after_cursor_execute", after)
    seconds, statement, params = max(timings, key=lambda timing: timing[0])
    with core.db.engine.connect() as connection:
        plan = connection.exec_driver_sql("EXPLAIN (ANALYZE, BUFFERS) " + statement, params)
        lines = [row[0] for row in plan]
    return {"statement_ms": round(seconds * 1000, 1), "statement": statement, "plan": lines}


def run(world: World, sessions: int, commands: int, repeat: int) -> dict[str, Any]:
    name = f"console_{uuid.uuid4().hex[:8]}"
    url = world.postgres.create_database(name)
    core = prepare_core(world.core.settings.var_dir, url, node="bench-console")
    try:
        seeding = seed(core, url, sessions, commands)
        with core.db.session() as db:
            dpo = add_staff(db, core.audit, username="dpo", full_name="DPO", roles=["dpo"],
                            password=None, actor=SETUP)
            dpo_id = dpo.id
        token = create_token(core, name="bench", staff_username="dpo", actor=SETUP)[1]
        from web import create_app

        app = create_app(core, {"TESTING": True})
        console = _signed_in(app, core, dpo_id)
        api = app.test_client()
        bearer = {"Authorization": f"Bearer {token}"}
        month = (YEAR_START + timedelta(days=150)).date()
        queries = {
            "history: technician + state": "/sessions?technician=tech07&status=ended",
            "history: vendor + 6 months": f"/sessions?vendor=vendor3&start={YEAR_START.date()}&end={month}",
            "history: flagged": "/sessions?flag=flagged",
            "history: no filter, page 100": f"/sessions?before={sessions - 5000}",
            "commands: rare (pg_dump)": "/sessions/commands?q=pg_dump",
            "commands: common (systemctl)": "/sessions/commands?q=systemctl",
            "commands: absent": "/sessions/commands?q=mkfs.ext4",
            "commands: text + technician + dates":
                f"/sessions/commands?q=restart&technician=tech07&start={YEAR_START.date()}&end={month}",
        }
        results: dict[str, Any] = {"sessions": sessions, "commands": commands, "seeding": seeding,
                                   "queries": {}}
        for label, path in queries.items():
            results["queries"][label] = _time(console, path, repeat)
        results["queries"]["API: sessions, technician + state (500)"] = _time(
            api, "/api/v1/sessions?technician=tech07&status=ended&limit=500", repeat, bearer)
        results["plans"] = {label: slowest_statement_plan(core, console, path)
                            for label, path in queries.items()
                            if results["queries"][label]["p50_ms"] > 200}
        # What the trigram index buys: the same searches without it.
        with core.db.engine.begin() as connection:
            connection.execute(text(f"DROP INDEX {SEARCH_INDEX}"))
        results["without_trigram_index"] = {
            label: _time(console, path, max(3, repeat // 4))
            for label, path in queries.items() if label.startswith("commands")}
        worst = max(q["p50_ms"] for q in results["queries"].values())
        results["worst_p50_ms"] = worst
        return results
    finally:
        core.close()
        # Its million rows would otherwise be vacuumed, and their pages written out by
        # the checkpointer, while the next benchmark runs.
        world.postgres.execute(f'DROP DATABASE "{name}" WITH (FORCE)')
        world.postgres.execute("CHECKPOINT")

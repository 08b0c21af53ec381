"""What the DPO must know about the rules in force. Second factor switched off: only as an
exception with a reason and a last day, recorded in the audit trail at each start of a
real ``bastion serve``, and shown on the DPO's home. HDS certificates expiring within 60
days: on the DPO's home too."""

from __future__ import annotations

import json
import os
import signal
import sqlite3
import subprocess
from datetime import timedelta
from pathlib import Path

from bastion.models import utcnow
from tests.approvals.conftest import contract_document, load_contract
from tests.breakglass.test_console import Console, console  # noqa: F401 - fixture
from tests.conftest import SECOND_FACTOR_OFF
from tests.foundation.test_node_cli import initialised  # noqa: F401 - fixture
from tests.harness.cli import BASTION
from tests.harness.cli import run_process as run
from tests.harness.ports import free_port, wait_for_port


def test_serve_refuses_off_without_a_reason_and_a_last_day(initialised: Path) -> None:  # noqa: F811
    result = run(initialised, "serve", env={"BASTION_SSH__SECOND_FACTOR": "off"})
    assert result.returncode == 1
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1
    assert ("ssh: second_factor = \"off\" is only accepted as an exception: set "
            "second_factor_off_reason and second_factor_off_until (last day)") in lines[0]


def test_each_start_records_the_exception_in_the_audit_trail(initialised: Path) -> None:  # noqa: F811

    ssh_port, web_port = free_port(), free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith("BASTION_")}
    env.update({"BASTION_SSH__LISTEN_PORT": str(ssh_port),
                "BASTION_WEB__LISTEN_PORT": str(web_port),
                "BASTION_SSH__SECOND_FACTOR": "off",
                "BASTION_SSH__SECOND_FACTOR_OFF_REASON": "security keys delivered on 15 March",
                "BASTION_SSH__SECOND_FACTOR_OFF_UNTIL": "2099-03-15"})
    serve = subprocess.Popen([*BASTION, "serve"], cwd=initialised, env=env,
                             stderr=subprocess.PIPE)
    try:
        wait_for_port(ssh_port)
    finally:
        serve.send_signal(signal.SIGTERM)
        serve.wait(20)
    with sqlite3.connect(initialised / "var" / "bastion.db") as db:
        rows = db.execute("SELECT reasons, details FROM audit_events "
                          "WHERE action = 'second_factor.exceptions'").fetchall()
    assert len(rows) == 1
    reasons, details = (json.loads(value) for value in rows[0])
    assert reasons == ["bastion: second factor off (security keys delivered on 15 March) "
                       "until 2099-03-15"]
    assert details["exceptions"][0]["in_force"] is True


def test_the_dpo_sees_every_exception_and_whether_it_still_holds(console: Console) -> None:  # noqa: F811
    document = contract_document()
    document["authentication"] = {"second_factor": "off", "exception": {
        "reason": "vendor's keys lost in transit, replacements ordered", "until": "2020-01-31"}}
    load_contract(console.world.core, document)
    console.sign_in("dpo")
    page = console.page("/dpo")
    section = page.split('id="second-factor-heading"')[1].split("</section>")[0]
    assert "vendor&#39;s keys lost in transit, replacements ordered" in section
    assert "2020-01-31" in section
    assert "expirée : second facteur de nouveau exigé" in section
    # The test settings switch it off for the whole bastion, as an exception too.
    assert "tests about something else" in section




def test_the_dpo_sees_hds_certificates_to_renew(console: Console) -> None:  # noqa: F811
    soon = (utcnow() + timedelta(days=30)).date()
    document = contract_document()
    document["contract"]["hds_certificate"] = {"number": "HDS-CERT-2024-0042",
                                               "valid_until": str(soon)}
    load_contract(console.world.core, document)
    console.sign_in("dpo")
    section = console.page("/dpo").split('id="hds-heading"')[1].split("</section>")[0]
    assert "HDS-CERT-2024-0042" in section and str(soon) in section
    assert "jour(s) restant(s)" in section


def test_the_daily_summary_names_hds_certificates_to_renew(bg_world) -> None:  # type: ignore[no-untyped-def]
    soon = (utcnow() + timedelta(days=10)).date()
    document = contract_document()
    document["contract"]["hds_certificate"] = {"number": "HDS-CERT-2024-0042",
                                               "valid_until": str(soon)}
    load_contract(bg_world.core, document)
    env = {k: v for k, v in os.environ.items() if not k.startswith("BASTION_")}
    env.update({"BASTION_PATHS__VAR_DIR": str(bg_world.core.settings.var_dir),
                **SECOND_FACTOR_OFF})
    result = subprocess.run([*BASTION, "reports", "daily-summary", "--language", "en"],
                            capture_output=True, text=True, env=env, timeout=120)
    assert result.returncode == 0, result.stderr
    assert "HDS certificates to renew (1):" in result.stdout
    assert (f" - acme (contract ACME-1): certificate HDS-CERT-2024-0042, last day {soon}"
            in result.stdout)

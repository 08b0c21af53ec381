"""The walkthrough `bastion demo` prints, followed as a technician and a DPO would: an
emergency access over SSH (URGENCE) tells the technician who was e-mailed, the mails land
in the demo's mail sink and on the console's demo mailbox page (real Chromium, the DPO's
enrolment link and a virtual security key), and the printed scp commands run with the real
scp binary: the allowed sample arrives, the excluded one is refused in one line."""

from __future__ import annotations

import os
import re
import shlex
import signal
import subprocess
import sys
from pathlib import Path

import pyotp
import pytest

from bastion.demo.mailbox import read_mailbox
from bastion.demo.target_files import SAMPLE_TEXT
from tests.harness.ports import free_port
from tests.harness.tmux import TmuxSession
from tests.web.browser import chromium, open_tab

from .test_demo import _wait_for_output

pytestmark = pytest.mark.skipif(not os.path.exists("/usr/bin/chromium"),
                                reason="Debian's chromium is not installed (scripts/system-deps.sh)")

STAFF_E_MAILS = {"approbateur@chu-demo.example", "approbateur2@chu-demo.example",
                 "dpo@chu-demo.example"}


def _bastion_lines(stderr: bytes) -> list[str]:
    return [line for line in stderr.decode(errors="replace").splitlines()
            if line.startswith("bastion:")]


# "yes": as root, the demo's sshd with the demo accounts and the folders on this machine;
# "no": the built-in target, whose SFTP root is a folder of ./var.
@pytest.mark.parametrize("machine_changes", ["yes", "no"])
def test_the_printed_walkthrough_works(tmp_path: Path, tmux: TmuxSession,
                                       machine_changes: str) -> None:
    if machine_changes == "yes" and os.geteuid() != 0:
        pytest.skip("the demo runs a real sshd only as root")
    ssh_port, web_port = free_port(), free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith("BASTION_")}
    env.update(BASTION_DEMO_ACCOUNTS=machine_changes,
               BASTION_SSH__LISTEN_PORT=str(ssh_port), BASTION_WEB__LISTEN_PORT=str(web_port),
               # The browser's origin must be the relying party's (the console's public URL).
               BASTION_WEB__PUBLIC_URL=f"http://localhost:{web_port}")
    log = tmp_path / "demo.log"
    with log.open("wb") as out:
        demo = subprocess.Popen([sys.executable, "-m", "bastion", "demo"], cwd=tmp_path,
                                env=env, stdout=out, stderr=subprocess.STDOUT)
    control = Path(tmux.socket).parent / "mux"  # a short path: Unix socket length limit
    try:
        ssh_line = _wait_for_output(log, r"^  (ssh -i .*)$", demo).group(1)
        text = log.read_text()
        kind = "OpenSSH sshd" if machine_changes == "yes" else "built-in asyncssh target"
        assert f"demo target: {kind}" in text
        secret = re.search(r"oathtool --totp -b (\w+)", text).group(1)
        scp_lines = re.findall(r"^  (scp .*)$", text, re.M)
        assert len(scp_lines) == 2, text
        assert re.search(r"^  \(refused in one line: contract EDI-2024-07 excludes "
                         r"/opt/medilogic/conf/secrets/\*\*\)$", text, re.M)
        assert re.search(rf"^  http://localhost:{web_port}/demo/mailbox$", text, re.M)

        # The technician declares an emergency; the ssh connection is the master the
        # later scp commands ride (one one-time code, as ControlMaster gives any user).
        argv = shlex.split(ssh_line)
        tmux.start(["sh", "-c", f"cd {shlex.quote(str(tmp_path))} && exec " + shlex.join(
            argv[:1] + ["-o", "StrictHostKeyChecking=yes", "-o", "ControlMaster=yes",
                        "-o", f"ControlPath={control}"] + argv[1:])])
        tmux.wait_for(r"Code à usage unique : $", timeout=30)
        tmux.type(pyotp.TOTP(secret).now() + "\n")
        tmux.wait_for(r"Motif de cet accès : $", timeout=30)
        tmux.type("le module de facturation du DPI est bloqué\n")
        tmux.wait_for(r"Référence du ticket \(facultatif\) : $")
        tmux.type("INC-2026\n")
        tmux.wait_for(r"Urgence \? tapez URGENCE ou appuyez sur Entrée : $")
        tmux.type("URGENCE\n")
        told = tmux.wait_for(r"ACCÈS D'URGENCE ouvert jusqu'à .* ; prévenus : (.*)\.$", timeout=60)
        assert set(re.findall(r"courriel à (\S+?@chu-demo\.example)", told.group(1))) == \
            STAFF_E_MAILS, told.group(0)
        assert "PERSONNE" not in tmux.screen()
        tmux.type("echo demo-$((6*7))\n")  # a working shell on the target
        tmux.wait_for(r"^demo-42\s*$", timeout=30)

        # The mails are in the sink, one per person, urgent, in the staff's language.
        mails = [m for m in read_mailbox(tmp_path / "var" / "demo" / "mailbox")
                 if "Bris de glace" in m.subject]
        assert {m.recipients for m in mails} == STAFF_E_MAILS
        assert all(m.urgent and "le module de facturation du DPI est bloqué" in m.body
                   for m in mails)

        # The printed scp commands, riding the ssh connection above.
        for line in scp_lines:
            argv = shlex.split(line)
            assert argv[-1] == "."
            argv[1:1] = ["-o", "StrictHostKeyChecking=yes", "-o", f"ControlPath={control}"]
            result = subprocess.run(argv, cwd=tmp_path, capture_output=True, timeout=120)
            copied = tmp_path / "demo-sample.txt"
            if "/conf/secrets/" not in line:
                assert result.returncode == 0, result.stderr
                assert copied.read_text() == SAMPLE_TEXT
                copied.unlink()
                continue
            assert result.returncode != 0
            assert not copied.exists()
            lines = _bastion_lines(result.stderr)
            assert len(lines) == 1, result.stderr
            # In the contract's language (the example contracts say French).
            assert ("/opt/medilogic/conf/secrets/demo-sample.txt refusé : exclu par le contrat "
                    "EDI-2024-07") in lines[0]

        if machine_changes == "no":
            return  # the console is the same whatever the target: read once, below
        # The DPO enrols her key with the printed link and reads the alert on the console.
        password = re.search(r"^  dpo +password (\S+)$", text, re.M).group(1)
        link = re.search(r"^  dpo +(http://\S+/enrol/\S+)$", text, re.M).group(1)
        base = f"http://localhost:{web_port}"
        with chromium() as browser:
            tab = open_tab(browser, base)
            tab.add_authenticator()
            tab.page.goto(link)
            tab.go("/sign-in")
            tab.page.fill("#username", "dpo")
            tab.page.fill("#password", password)
            tab.page.click("form[action='/sign-in'] button[type=submit]")
            tab.page.wait_for_url(base + "/sign-in/enrol")
            tab.page.fill("#key-name", "Clé de la DPO")
            tab.page.click("form[data-webauthn=register] button[type=submit]")
            tab.page.wait_for_url(base + "/sign-in/key")
            tab.page.click("button[data-webauthn=sign-in]")
            tab.page.wait_for_url(base + "/")
            tab.page.click("nav >> text=Boîte aux lettres de démonstration")
            tab.page.wait_for_url(base + "/demo/mailbox")
            page = tab.page.inner_text("main")
            whole = tab.page.inner_text("body")
            tab.shot("demo-mailbox")
        assert "Bris de glace" in page and "dpo@chu-demo.example" in page
        assert "le module de facturation du DPI est bloqué" in page
        assert "Personne n'est prévenu" not in whole  # a channel works: no warning banner
    finally:
        subprocess.run(["ssh", "-o", f"ControlPath={control}", "-O", "exit", "x"],
                       capture_output=True, timeout=30)
        demo.send_signal(signal.SIGTERM)
        demo.wait(30)
        control.unlink(missing_ok=True)
    assert demo.returncode == 0, log.read_text()[-3000:]

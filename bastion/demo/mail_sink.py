"""The demo's local mail server: aiosmtpd on loopback, keeping every message the bastion
sends (approval requests, break-glass alerts, staff notices) in a Maildir under
var/demo/mailbox, which the console's demo mailbox page shows.

aiosmtpd runs its own event loop in a thread of its own: the SSH proxy's loop never waits
on the sink's disk writes.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path

from aiosmtpd.controller import Controller
from aiosmtpd.handlers import Mailbox

SINK_HOST = "127.0.0.1"


@dataclass
class MailSink:
    controller: Controller
    maildir: Path

    @property
    def port(self) -> int:
        return self.controller.port

    def stop(self) -> None:
        self.controller.stop()


def start_mail_sink(maildir: Path, port: int) -> MailSink:
    """Listen on ``127.0.0.1:port`` and file what arrives in ``maildir``."""
    maildir.parent.mkdir(parents=True, exist_ok=True)
    # aiosmtpd logs every SMTP command at INFO: it would bury the walkthrough the demo prints.
    logging.getLogger("mail.log").setLevel(logging.WARNING)
    controller = Controller(Mailbox(maildir), hostname=SINK_HOST, port=port)
    controller.start()  # returns once the server answers, or raises
    return MailSink(controller, maildir)

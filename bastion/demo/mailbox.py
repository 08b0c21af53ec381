"""Reading the demo mail sink's Maildir (bastion.demo.mail_sink) for the console's demo
mailbox page: newest first, each message as the recipient's mail program would show it."""

from __future__ import annotations

import email
import mailbox
from dataclasses import dataclass
from datetime import datetime
from email.message import EmailMessage
from email.policy import default
from email.utils import parsedate_to_datetime
from pathlib import Path


@dataclass(frozen=True)
class DemoMail:
    key: str
    sender: str
    recipients: str  # the envelope's, as the sink received them
    subject: str
    sent: datetime | None
    urgent: bool
    body: str


def _text(message: EmailMessage) -> str:
    part = message.get_body(preferencelist=("plain",))
    return part.get_content() if part is not None else ""


def _date(message: EmailMessage) -> datetime | None:
    try:
        return parsedate_to_datetime(message["Date"]) if message["Date"] else None
    except (TypeError, ValueError):
        return None


def read_mailbox(maildir: Path, limit: int = 200) -> list[DemoMail]:
    """The ``limit`` newest messages; an empty list before the first one arrives."""
    if not maildir.exists():
        return []
    box = mailbox.Maildir(maildir, factory=None, create=False)
    mails = []
    for key in box.keys():
        with box.get_file(key) as handle:
            message = email.message_from_binary_file(handle, policy=default)
        assert isinstance(message, EmailMessage)
        mails.append(DemoMail(
            key=key, sender=str(message["From"] or ""),
            recipients=str(message["X-RcptTo"] or message["To"] or ""),
            subject=str(message["Subject"] or ""), sent=_date(message),
            urgent=str(message["Importance"] or "").lower() == "high", body=_text(message)))
    mails.sort(key=lambda m: m.sent.timestamp() if m.sent else 0.0, reverse=True)
    return mails[:limit]

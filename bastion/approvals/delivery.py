"""Sending the outbox: SMTP e-mail and webhook POSTs, from a worker thread.

Blocking by nature (network I/O), so it never runs on an event loop: the server starts a
:class:`NotificationWorker`, or calls :func:`deliver_pending` from a thread. Messages are
claimed in one short transaction, sent with no transaction open (SMTP must never hold
the database's write lock), and settled in another; several nodes may run workers.
Failures are retried with a growing delay, then given up and audited.
"""

from __future__ import annotations

import logging
import smtplib
import ssl
import threading
import urllib.error
import urllib.request
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from email.message import EmailMessage
from email.utils import format_datetime, make_msgid
from urllib.parse import urlsplit

from sqlalchemy import or_, select

from bastion.context import Bastion
from bastion.models import NotificationOutbox, utcnow

MAX_ATTEMPTS = 6
CLAIM_TIMEOUT = timedelta(minutes=5)  # a claim older than this was a crashed worker's
SMTP_TIMEOUT_SECONDS = 15
# Outbox kinds whose e-mails are marked urgent (an emergency access opened without
# approval: bastion.breakglass.notify; a key suspended as cloned:
# bastion.approvals.clone_suspicion). Mail clients sort and alert on these headers.
URGENT_KINDS = frozenset({"break_glass.declared", "break_glass.acknowledgement_asked",
                          "staff.key_suspended"})

log = logging.getLogger(__name__)


class DeliveryError(Exception):
    """One message could not be delivered this time."""


@dataclass
class DeliveryReport:
    sent: list[int] = field(default_factory=list)
    retrying: list[int] = field(default_factory=list)
    failed: list[int] = field(default_factory=list)


@dataclass(frozen=True)
class _Claimed:
    id: int
    channel: str
    recipient: str
    subject: str | None
    body: str
    attempts: int
    request_id: int | None
    kind: str


def _claim(core: Bastion, now: datetime, limit: int) -> list[_Claimed]:
    with core.db.session() as session:
        query = (select(NotificationOutbox)
                 .where(or_(
                     (NotificationOutbox.status == "pending")
                     & (NotificationOutbox.next_attempt_at <= now),
                     (NotificationOutbox.status == "sending")
                     & (NotificationOutbox.claimed_at <= now - CLAIM_TIMEOUT)))
                 .order_by(NotificationOutbox.id).limit(limit))
        if core.db.is_postgresql:
            query = query.with_for_update(skip_locked=True)
        rows = session.scalars(query).all()
        for row in rows:
            row.status, row.claimed_at, row.claimed_by = "sending", now, core.node
        return [_Claimed(r.id, r.channel, r.recipient, r.subject, r.body, r.attempts,
                         r.request_id, r.kind) for r in rows]


def send_email(core: Bastion, recipient: str, subject: str, body: str, *,
               urgent: bool = False) -> None:
    smtp = core.settings.smtp
    if not smtp.host:
        raise DeliveryError("no SMTP server is configured (smtp.host)")
    message = EmailMessage()
    message["From"] = smtp.sender
    message["To"] = recipient
    message["Subject"] = subject
    message["Date"] = format_datetime(utcnow())
    message["Message-ID"] = make_msgid(domain=smtp.sender.rpartition("@")[2] or None)
    message["Auto-Submitted"] = "auto-generated"
    if urgent:
        message["Importance"] = "high"
        message["X-Priority"] = "1 (Highest)"
    message.set_content(body, charset="utf-8")
    try:
        with smtplib.SMTP(smtp.host, smtp.port, timeout=SMTP_TIMEOUT_SECONDS) as client:
            if smtp.starttls:
                client.starttls(context=ssl.create_default_context())
            if smtp.username:
                client.login(smtp.username, _smtp_password(core))
            client.send_message(message)
    except (OSError, smtplib.SMTPException) as exc:
        raise DeliveryError(f"SMTP {smtp.host}:{smtp.port}: {exc}") from None


def _smtp_password(core: Bastion) -> str:
    path = core.settings.smtp.password_file
    if path is None:
        raise DeliveryError("smtp.username is set but smtp.password_file is not")
    try:
        return core.settings.resolve(path).read_text(encoding="utf-8").strip()
    except OSError as exc:
        raise DeliveryError(f"cannot read smtp.password_file: {exc.strerror}") from None


def post_webhook(core: Bastion, url: str, body: str, delivery_id: int) -> None:
    if urlsplit(url).scheme not in ("http", "https"):
        raise DeliveryError("the webhook URL must be http:// or https://")
    request = urllib.request.Request(  # noqa: S310 - scheme checked just above
        url, data=body.encode("utf-8"), method="POST",
        headers={"Content-Type": "application/json; charset=utf-8",
                 "User-Agent": "dpi-bastion",
                 # Lets the receiver drop a duplicate if a retry follows a lost answer.
                 "X-Bastion-Delivery": str(delivery_id)})
    try:
        with urllib.request.urlopen(  # noqa: S310 - scheme checked above
                request, timeout=core.settings.webhook.timeout_seconds) as answer:
            status = answer.status
    except urllib.error.HTTPError as exc:
        raise DeliveryError(f"webhook answered HTTP {exc.code}") from None
    except (OSError, ValueError) as exc:
        raise DeliveryError(f"webhook unreachable: {exc}") from None
    if not 200 <= status < 300:
        raise DeliveryError(f"webhook answered HTTP {status}")


def _where(claimed: _Claimed) -> str:
    # The audit names the webhook's host only: its URL may hold a token.
    if claimed.channel == "webhook":
        return urlsplit(claimed.recipient).hostname or "webhook"
    return claimed.recipient


def _settle(core: Bastion, claimed: _Claimed, error: str | None, now: datetime,
            report: DeliveryReport) -> None:
    with core.db.session() as session:
        row = session.get(NotificationOutbox, claimed.id)
        if row is None:
            return
        row.attempts = claimed.attempts + 1
        row.claimed_at = row.claimed_by = None
        details = {"channel": claimed.channel, "to": _where(claimed), "outbox_id": claimed.id,
                   "attempts": row.attempts}
        if error is None:
            row.status, row.sent_at, row.last_error = "sent", now, None
            report.sent.append(claimed.id)
            core.audit.append(session, action="notification.sent", outcome="ok",
                              request_id=claimed.request_id, details=details)
            return
        row.last_error = error[:2000]
        if row.attempts >= MAX_ATTEMPTS:
            row.status = "failed"
            report.failed.append(claimed.id)
            core.audit.append(session, action="notification.failed", outcome="failed",
                              request_id=claimed.request_id, reasons=[error], details=details)
        else:
            row.status = "pending"
            row.next_attempt_at = now + timedelta(seconds=30 * 2 ** (row.attempts - 1))
            report.retrying.append(claimed.id)


def deliver_pending(core: Bastion, *, now: datetime | None = None,
                    limit: int = 50) -> DeliveryReport:
    """Send what is due. Blocking: call it from a thread, never from an event loop."""
    now = now or utcnow()
    report = DeliveryReport()
    for claimed in _claim(core, now, limit):
        try:
            if claimed.channel == "email":
                send_email(core, claimed.recipient, claimed.subject or "", claimed.body,
                           urgent=claimed.kind in URGENT_KINDS)
            elif claimed.channel == "webhook":
                post_webhook(core, claimed.recipient, claimed.body, claimed.id)
            else:
                raise DeliveryError(f"unknown channel {claimed.channel!r}")
            error = None
        except DeliveryError as exc:
            error = str(exc)
        _settle(core, claimed, error, utcnow(), report)
    return report


class NotificationWorker(threading.Thread):
    """Delivers the outbox every ``interval`` seconds, or at once after :meth:`wake`."""

    def __init__(self, core: Bastion, *, interval: float = 2.0) -> None:
        super().__init__(name="bastion-notifications", daemon=True)
        self.core = core
        self.interval = interval
        self._wake = threading.Event()
        self._stopping = threading.Event()

    def wake(self) -> None:
        self._wake.set()

    def stop(self, timeout: float | None = 10) -> None:
        self._stopping.set()
        self._wake.set()
        self.join(timeout)

    def run(self) -> None:
        while not self._stopping.is_set():
            try:
                deliver_pending(self.core)
            except Exception:  # noqa: BLE001 - a database hiccup must not kill the worker
                # The rows stay pending (or claimed, reclaimed after CLAIM_TIMEOUT): nothing
                # is lost, the next round tries again.
                log.exception("notification delivery round failed; retrying")
            self._wake.wait(self.interval)
            self._wake.clear()

"""Approvers hear of a new request at once: e-mail to a real local SMTP server (aiosmtpd)
and a webhook to a real local HTTP receiver."""

from __future__ import annotations

import email
import email.policy
import json
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from email.message import EmailMessage
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest
from aiosmtpd.controller import Controller
from sqlalchemy import select

from bastion import approvals
from bastion.approvals.delivery import MAX_ATTEMPTS
from bastion.context import Bastion
from bastion.models import NotificationOutbox, utcnow
from tests.approvals.conftest import PASSWORD, World, audit_events, build_world
from tests.harness.ports import free_port


@dataclass
class Mailbox:
    messages: list[EmailMessage] = field(default_factory=list)

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:  # noqa: N802
        self.messages.append(email.message_from_bytes(envelope.content,
                                                      policy=email.policy.default))
        return "250 OK"


@pytest.fixture
def smtp_server() -> Iterator[tuple[int, Mailbox]]:
    mailbox = Mailbox()
    port = free_port()
    controller = Controller(mailbox, hostname="127.0.0.1", port=port)
    controller.start()
    yield port, mailbox
    controller.stop()


@dataclass
class Receiver:
    url: str
    posts: list[tuple[dict[str, str], bytes]]
    status: list[int]  # answer with this status (last one repeats)


@pytest.fixture
def webhook_receiver() -> Iterator[Receiver]:
    posts: list[tuple[dict[str, str], bytes]] = []
    status = [204]

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:  # noqa: N802
            body = self.rfile.read(int(self.headers["Content-Length"]))
            posts.append((dict(self.headers), body))
            self.send_response(status[0])
            self.end_headers()

        def log_message(self, *args: Any) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield Receiver(f"http://127.0.0.1:{server.server_port}/hooks/bastion?token=s3cr3t", posts,
                   status)
    server.shutdown()
    server.server_close()


@pytest.fixture
def notified(core: Bastion, tmp_path: Path, smtp_server: tuple[int, Mailbox],
             webhook_receiver: Receiver) -> Iterator[tuple[World, Mailbox, Receiver]]:
    port, mailbox = smtp_server
    settings = (core.settings.with_changes("smtp", host="127.0.0.1", port=port,
                                           sender="bastion@chu.example")
                .with_changes("webhook", url=webhook_receiver.url, timeout_seconds=2)
                .with_changes("web", public_url="https://bastion.chu.example"))
    configured = Bastion(settings=settings, db=core.db, keys=core.keys, audit=core.audit,
                         node=core.node)
    yield build_world(configured, tmp_path), mailbox, webhook_receiver


def test_approvers_get_an_email_in_their_language_and_a_webhook(notified) -> None:  # type: ignore[no-untyped-def]
    world, mailbox, receiver = notified
    request = world.file(target="dpi-db-01", source="console", declared_by=world.staff["carol"])
    report = approvals.deliver_pending(world.core)
    assert len(report.sent) == 3 and not report.failed and not report.retrying

    # alice (fr) and bob (en) hold the approver role; carol filed it; dave only administers.
    by_recipient = {m["To"]: m for m in mailbox.messages}
    assert sorted(by_recipient) == ["alice@chu.example", "bob@chu.example"]
    french, english = by_recipient["alice@chu.example"], by_recipient["bob@chu.example"]
    assert french["From"] == "bastion@chu.example"
    assert french["Subject"] == (f"[Bastion DPI] Demande d'accès n° {request.id} : jdupont sur "
                                 "dpi-db-01 — en attente d'approbation")
    assert english["Subject"] == (f"[DPI bastion] Access request {request.id}: jdupont on "
                                  "dpi-db-01 — waiting for approval")
    text_fr, text_en = french.get_content(), english.get_content()
    link = f"https://bastion.chu.example/requests/{request.id}"
    for text in (text_fr, text_en):
        assert link in text and "Jean Dupont (jdupont)" in text and "dbmaint" in text
        assert request.reason in text and "CHG-1234" in text
        assert "ACME-1" in text  # the contract's verdict
    assert "Approbations nécessaires : 2" in text_fr and "santé" in text_fr
    assert "Approvals needed: 2" in text_en and "health" in text_en

    [(headers, body)] = receiver.posts
    assert headers["Content-Type"].startswith("application/json")
    payload = json.loads(body)
    assert payload["event"] == "request.filed"
    assert payload["request"]["id"] == request.id and payload["request"]["url"] == link
    assert payload["request"]["verdict"]["allowed"] is True
    assert payload["request"]["approvals_required"] == 2

    # Nothing secret goes out: no password hash, key, challenge or token.
    everything = text_fr + text_en + body.decode()
    for secret in ("$argon2", "BEGIN", "ssh-ed25519", PASSWORD, "challenge", "s3cr3t"):
        assert secret not in everything
    sent = audit_events(world.core, "notification.sent")
    assert len(sent) == 3
    assert {e.details["to"] for e in sent} == {"alice@chu.example", "bob@chu.example",
                                               "127.0.0.1"}  # the webhook's host, no token
    assert approvals.deliver_pending(world.core).sent == []  # each message goes once


def test_a_failing_webhook_is_retried_then_given_up_and_audited(notified) -> None:  # type: ignore[no-untyped-def]
    world, mailbox, receiver = notified
    receiver.status[0] = 503
    request = world.file()
    first = approvals.deliver_pending(world.core)
    assert len(first.sent) == 3 and len(first.retrying) == 1  # alice, bob, carol
    with world.core.db.session() as session:
        hook = session.scalar(select(NotificationOutbox).where(
            NotificationOutbox.channel == "webhook"))
        assert hook.status == "pending" and "503" in hook.last_error
        due = hook.next_attempt_at
    assert approvals.deliver_pending(world.core).retrying == []  # not due yet
    now = due
    for _ in range(MAX_ATTEMPTS - 1):
        report = approvals.deliver_pending(world.core, now=now)
        now = now.replace(year=now.year + 1)  # far past any back-off
    assert report.failed == [hook.id]
    failed = audit_events(world.core, "notification.failed")[-1]
    assert failed.request_id == request.id and "503" in failed.reasons[0]
    assert len(receiver.posts) == MAX_ATTEMPTS


def test_nothing_is_queued_when_nothing_is_configured(world: World) -> None:
    world.file()
    with world.core.db.session() as session:
        assert session.scalars(select(NotificationOutbox)).all() == []


def test_an_unreachable_smtp_server_keeps_the_message(notified, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    world, mailbox, receiver = notified
    dead = world.core.settings.with_changes("smtp", port=free_port())
    world.core.settings = dead
    world.file()
    report = approvals.deliver_pending(world.core)
    assert len(report.retrying) == 3 and len(report.sent) == 1 and mailbox.messages == []
    with world.core.db.session() as session:
        rows = session.scalars(select(NotificationOutbox).where(
            NotificationOutbox.channel == "email")).all()
        assert {r.status for r in rows} == {"pending"} and all("SMTP" in r.last_error for r in rows)


def test_the_worker_delivers_in_the_background(notified) -> None:  # type: ignore[no-untyped-def]
    world, mailbox, receiver = notified
    worker = approvals.NotificationWorker(world.core, interval=0.05)
    worker.start()
    try:
        world.file()
        worker.wake()
        deadline = utcnow().timestamp() + 10
        while len(mailbox.messages) < 3 and utcnow().timestamp() < deadline:
            threading.Event().wait(0.05)
    finally:
        worker.stop()
    assert len(mailbox.messages) == 3 and not worker.is_alive()

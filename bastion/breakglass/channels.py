"""Whether break-glass can announce itself: an emergency access that opens while nobody is
told is the very thing the CNIL's bris de glace fiche forbids. ``bastion serve`` checks the
channels at start; after each declaration the technician is told who was actually told.

Blocking (SMTP, sockets, database): called from a thread, never from the event loop.
"""

from __future__ import annotations

import smtplib
import socket
from dataclasses import dataclass
from urllib.parse import urlsplit

from sqlalchemy import select

from bastion.approvals.delivery import deliver_pending
from bastion.config import Settings
from bastion.context import Bastion
from bastion.contracts.repository import ContractStoreError, contract_of
from bastion.i18n import N_, Phrase
from bastion.i18n.catalogue import Translator
from bastion.models import ContractVersion, NotificationOutbox

from .notify import DECLARED

PROBE_TIMEOUT_SECONDS = 10


@dataclass(frozen=True)
class ChannelProbe:
    working: list[str]  # "smtp host:port", "webhook host:port"
    problems: list[str]  # one phrase each, naming the setting


def configured_channels(settings: Settings) -> list[str]:
    """The notification channels set in the configuration (no I/O: the console asks on
    every page whether anyone can be told at all)."""
    return [name for name, value in (("smtp", settings.smtp.host), ("webhook", settings.webhook.url))
            if value]


def probe_channels(settings: Settings) -> ChannelProbe:
    """SMTP: connect and EHLO (and STARTTLS when set); webhook: its host accepts a TCP
    connection. Neither sends anything."""
    working: list[str] = []
    problems: list[str] = []
    smtp = settings.smtp
    if smtp.host:
        try:
            with smtplib.SMTP(smtp.host, smtp.port, timeout=PROBE_TIMEOUT_SECONDS) as client:
                code, _ = client.ehlo()
                if code != 250:
                    raise smtplib.SMTPException(f"EHLO answered {code}")
                if smtp.starttls:
                    client.starttls()
            working.append(f"smtp {smtp.host}:{smtp.port}")
        except (OSError, smtplib.SMTPException) as exc:
            problems.append(f"smtp.host {smtp.host}:{smtp.port} does not answer ({exc})")
    else:
        problems.append("smtp.host is not set")
    url = settings.webhook.url
    if url:
        parts = urlsplit(url)
        host = parts.hostname or ""
        port = parts.port or (443 if parts.scheme == "https" else 80)
        try:
            socket.create_connection((host, port), timeout=PROBE_TIMEOUT_SECONDS).close()
            working.append(f"webhook {host}:{port}")
        except OSError as exc:
            problems.append(f"webhook.url host {host}:{port} is unreachable ({exc})")
    else:
        problems.append("webhook.url is not set")
    return ChannelProbe(working, problems)


def vendors_with_break_glass(core: Bastion, *, acknowledged: bool = False) -> list[str]:
    """Vendors whose current contract allows break-glass (``acknowledged``: with on-call
    acknowledgements, whose personal links only e-mail carries)."""
    with core.db.session() as session:
        versions = session.scalars(select(ContractVersion)
                                   .where(ContractVersion.is_current.is_(True))).all()
        found = []
        for version in versions:
            try:
                contract = contract_of(version)
            except ContractStoreError:
                continue  # unreadable: the decision point refuses its vendor anyway
            rules = contract.approval.break_glass
            if rules.allowed and (not acknowledged or rules.on_sensitive == "acknowledged"):
                found.append(contract.vendor.id)
    return sorted(found)


def start_problem(core: Bastion) -> str | None:
    """The one line ``serve`` stops with, or None when break-glass can be announced (or no
    contract allows it)."""
    vendors = vendors_with_break_glass(core)
    if not vendors:
        return None
    probe = probe_channels(core.settings)
    on_call = vendors_with_break_glass(core, acknowledged=True)
    if on_call and not any(w.startswith("smtp ") for w in probe.working):
        # The on-call approvers' one-time links go by e-mail only (a webhook is shared).
        smtp = next((p for p in probe.problems if p.startswith("smtp.host")), "")
        return (f"break-glass needs an on-call acknowledgement in the contract(s) of "
                f"{', '.join(on_call)} but e-mail does not work: {smtp}. Set [smtp] host to a "
                "working server, or set approval.break_glass.on_sensitive: read_only")
    if probe.working:
        return None
    return (f"break-glass is allowed in the contract(s) of {', '.join(vendors)} but no "
            f"notification channel works: {'; '.join(probe.problems)}. Set [smtp] host or "
            "[webhook] url to a working server, or set approval.break_glass.allowed: false")


@dataclass(frozen=True)
class Delivery:
    channel: str  # "email" | "webhook"
    recipient: str  # the address, or the webhook's host only (its URL may hold a token)
    problem: str | None = None  # why it is not delivered: the server's own text
    sending: bool = False  # not delivered yet, only because it is being sent

    def phrase(self) -> Phrase:
        what = (Phrase.of(N_("e-mail to {recipient}"), recipient=self.recipient)
                if self.channel == "email" else Phrase.of(N_("webhook {host}"), host=self.recipient))
        if self.sending:
            return Phrase.of(N_("{what} (being sent)"), what=what)
        if self.problem:
            return Phrase.of(N_("{what} ({error})"), what=what, error=self.problem)
        return what


@dataclass(frozen=True)
class Told:
    delivered: list[Delivery]
    not_delivered: list[Delivery]
    # False when neither [smtp] host nor [webhook] url is set: nothing could be queued.
    channels_configured: bool = True


def deliver_declared(core: Bastion, request_id: int, kind: str = DECLARED) -> Told:
    """Send the emergency's notifications (of ``kind``: the declaration's, or the on-call
    approvers' acknowledgement links) now, then read what became of each."""
    deliver_pending(core)
    with core.db.session() as session:
        rows = session.scalars(select(NotificationOutbox).where(
            NotificationOutbox.request_id == request_id,
            NotificationOutbox.kind == kind).order_by(NotificationOutbox.id)).all()
        delivered: list[Delivery] = []
        missing: list[Delivery] = []
        for row in rows:
            recipient = (row.recipient if row.channel == "email"
                         else urlsplit(row.recipient).hostname or "?")
            if row.status == "sent":
                delivered.append(Delivery(row.channel, recipient))
            elif row.status == "sending":
                missing.append(Delivery(row.channel, recipient, sending=True))
            else:
                # The delivery error is the mail or web server's own text.
                missing.append(Delivery(row.channel, recipient,
                                        (row.last_error or row.status)[:120]))
    return Told(delivered, missing, bool(configured_channels(core.settings)))


def notice(told: Told, _: Translator) -> str:
    """What the technician is told about who knows of the emergency: only the truth."""
    delivered = ", ".join(_.phrase(d.phrase()) for d in told.delivered)
    missing = ", ".join(_.phrase(d.phrase()) for d in told.not_delivered)
    if told.delivered and not told.not_delivered:
        return _("told: {delivered}.", delivered=delivered)
    if told.delivered:
        return _("told: {delivered}; NOT delivered yet: {missing}.", delivered=delivered,
                 missing=missing)
    if told.not_delivered:
        return _("NOBODY could be told yet ({missing}): call the hospital's IT on-call line "
                 "now.", missing=missing)
    if not told.channels_configured:
        return _("NOBODY was told: no notification channel is configured ([smtp] host, "
                 "[webhook] url): call the hospital's IT on-call line now.")
    return _("NOBODY was told (no webhook, and no approver or DPO to e-mail): call the "
             "hospital's IT on-call line now.")

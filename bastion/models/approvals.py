"""WebAuthn challenges and the notification outbox, both owned by ``bastion.approvals``."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import JSON, ForeignKey, Integer, LargeBinary, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from .base import Base, UTCDateTime, utcnow

CHALLENGE_PURPOSES = ("approval", "registration", "sign_in", "key_change", "role_change",
                      "break_glass_ack")
NOTIFICATION_STATES = ("pending", "sending", "sent", "failed")


class WebAuthnChallenge(Base):
    """One challenge handed to a browser, usable once, for a short time.

    An approval challenge is SHA-256(content digest || nonce): it is bound to the exact
    request content, and kept after use (with the assertion that answered it) so an
    auditor can later prove what an approver signed.
    """

    __tablename__ = "webauthn_challenges"

    id: Mapped[int] = mapped_column(primary_key=True)
    purpose: Mapped[str] = mapped_column(String(16))  # one of CHALLENGE_PURPOSES
    # Hex of the challenge bytes: what the browser echoes back in clientDataJSON.
    challenge: Mapped[str] = mapped_column(String(64), unique=True)
    nonce: Mapped[bytes | None] = mapped_column(LargeBinary)
    content_digest: Mapped[str | None] = mapped_column(String(64))
    request_id: Mapped[int | None] = mapped_column(ForeignKey("access_requests.id"), index=True)
    # None only for a passkey sign-in, where the person is not known before the assertion.
    staff_id: Mapped[int | None] = mapped_column(ForeignKey("staff_users.id", ondelete="CASCADE"))
    issued_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime)
    consumed_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    outcome: Mapped[str | None] = mapped_column(String(40))  # "ok" or the refusal's code
    # The credential response that used the challenge (public data: authenticatorData,
    # clientDataJSON, signature), kept for approvals as the approver's proof.
    assertion: Mapped[dict[str, Any] | None] = mapped_column(JSON)


class NotificationOutbox(Base):
    """A message to send (e-mail or webhook), written in the transaction of the event it
    announces, then delivered by a worker: nothing is lost, no event loop waits on SMTP."""

    __tablename__ = "notification_outbox"

    id: Mapped[int] = mapped_column(primary_key=True)
    kind: Mapped[str] = mapped_column(String(40))  # e.g. request.filed
    channel: Mapped[str] = mapped_column(String(16))  # email | webhook
    recipient: Mapped[str] = mapped_column(String(500))
    language: Mapped[str | None] = mapped_column(String(8))
    subject: Mapped[str | None] = mapped_column(String(300))
    body: Mapped[str] = mapped_column(Text)
    request_id: Mapped[int | None] = mapped_column(ForeignKey("access_requests.id"))
    status: Mapped[str] = mapped_column(String(16), default="pending", index=True)
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    last_error: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    next_attempt_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    claimed_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    claimed_by: Mapped[str | None] = mapped_column(String(100))
    sent_at: Mapped[datetime | None] = mapped_column(UTCDateTime)

"""Bearer tokens for integrations of the JSON API (ticketing, monitoring, scripts).

A token acts as the staff member it is bound to, with that person's roles as they are at
each request: disabling the account or removing a role takes effect on the next call.
Only the SHA-256 of the token is stored (see ``bastion.api_tokens`` for why that is
enough); the token itself is shown once, when it is created.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import ForeignKey, String, Text
from sqlalchemy.orm import Mapped, mapped_column, relationship

from .base import Base, UTCDateTime, utcnow
from .people import StaffUser


class ApiToken(Base):
    __tablename__ = "api_tokens"

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(100))
    staff_id: Mapped[int] = mapped_column(
        ForeignKey("staff_users.id", ondelete="CASCADE"), index=True)
    # SHA-256 of the whole token, hex: the lookup key, unique.
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    # The token's first characters, so people can tell their tokens apart in lists.
    hint: Mapped[str] = mapped_column(String(16))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    created_by: Mapped[str] = mapped_column(String(100))
    # Every token expires: no standing credential (design invariant 3, in spirit).
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime)
    last_used_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    last_used_from: Mapped[str | None] = mapped_column(String(64))
    revoked_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    revoked_by: Mapped[str | None] = mapped_column(String(100))
    revoke_reason: Mapped[str | None] = mapped_column(Text)

    staff: Mapped[StaffUser] = relationship()

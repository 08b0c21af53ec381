"""One-time codes (TOTP, RFC 6238) as the technicians' second factor after their key.

The secret is sealed with the master key in ``technicians.totp_secret_encrypted`` and shown
once, at enrolment, as an ``otpauth://`` URI for the technician's authenticator app.
"""

from __future__ import annotations

import threading
import time

import pyotp
from sqlalchemy import select
from sqlalchemy.orm import Session

from .audit import Actor, AuditLog
from .crypto import seal, unseal
from .models import Technician

ISSUER = "Bastion DPI"


class TotpError(ValueError):
    pass


def _purpose(ident: str) -> bytes:
    return f"bastion technician totp:{ident}".encode()


def enrol(session: Session, audit: AuditLog, master_key: bytes, ident: str, actor: Actor) -> str:
    """A new secret for this technician (replacing any previous one); returns the URI."""
    technician = session.scalar(select(Technician).where(Technician.ident == ident))
    if technician is None:
        raise TotpError(f"unknown technician {ident}")
    secret = pyotp.random_base32()
    technician.totp_secret_encrypted = seal(master_key, secret.encode(), _purpose(ident))
    audit.append(session, action="technician.totp_enrolled", outcome="ok", actor=actor,
                 technician=ident, vendor=technician.vendor.slug)
    return pyotp.TOTP(secret).provisioning_uri(name=ident, issuer_name=ISSUER)


def secret_of(master_key: bytes, ident: str, sealed: bytes | None) -> str | None:
    return unseal(master_key, sealed, _purpose(ident)).decode() if sealed else None


def reseal_secret(old_key: bytes, new_key: bytes, ident: str, sealed: bytes) -> bytes:
    """Master-key rotation: the same TOTP secret, sealed with the new key."""
    return seal(new_key, unseal(old_key, sealed, _purpose(ident)), _purpose(ident))


class CodeChecker:
    """Checks codes, refusing a code already used in its time step (per process)."""

    def __init__(self) -> None:
        self._last_step: dict[str, int] = {}
        self._lock = threading.Lock()

    def check(self, ident: str, secret: str, code: str, at: float | None = None) -> bool:
        at = time.time() if at is None else at
        code = code.strip().replace(" ", "")
        if not code.isdigit():
            return False
        totp = pyotp.TOTP(secret)
        for drift in (0, -1, 1):  # one step of clock drift either way
            moment = at + drift * totp.interval
            if totp.verify(code, for_time=int(moment), valid_window=0):
                step = int(moment // totp.interval)
                with self._lock:
                    if self._last_step.get(ident, -1) >= step:
                        return False  # the same code again: replayed
                    self._last_step[ident] = step
                return True
        return False

"""One-time codes (TOTP, RFC 6238) as the technicians' second factor after their key.

The secret is sealed with the master key in ``technicians.totp_secret_encrypted`` and shown
once, at enrolment, as an ``otpauth://`` URI for the technician's authenticator app.
"""

from __future__ import annotations

import time

import pyotp
from sqlalchemy import or_, select, update
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
    technician.totp_last_step = None  # the old secret's codes say nothing about the new one
    audit.append(session, action="technician.totp_enrolled", outcome="ok", actor=actor,
                 technician=ident, vendor=technician.vendor.slug)
    return pyotp.TOTP(secret).provisioning_uri(name=ident, issuer_name=ISSUER)


def secret_of(master_key: bytes, ident: str, sealed: bytes | None) -> str | None:
    return unseal(master_key, sealed, _purpose(ident)).decode() if sealed else None


def reseal_secret(old_key: bytes, new_key: bytes, ident: str, sealed: bytes) -> bytes:
    """Master-key rotation: the same TOTP secret, sealed with the new key."""
    return seal(new_key, unseal(old_key, sealed, _purpose(ident)), _purpose(ident))


def matching_step(secret: str, code: str, at: float | None = None) -> int | None:
    """The time step ``code`` is right for (now, or one step either side for clock drift),
    or None if it is wrong."""
    at = time.time() if at is None else at
    code = code.strip().replace(" ", "")
    if not code.isdigit():
        return None
    totp = pyotp.TOTP(secret)
    for drift in (0, -1, 1):
        moment = at + drift * totp.interval
        if totp.verify(code, for_time=int(moment), valid_window=0):
            return int(moment // totp.interval)
    return None


def use_code(session: Session, ident: str, secret: str, code: str, at: float | None = None) -> bool:
    """Accept ``code`` once. True only if it is right and no code of its time step or a
    later one was accepted before, on any node, over SSH or in the portal. The conditional
    UPDATE is atomic, so of two nodes racing with the same code exactly one wins."""
    step = matching_step(secret, code, at)
    if step is None:
        return False
    claimed = session.execute(
        update(Technician)
        .where(Technician.ident == ident,
               or_(Technician.totp_last_step.is_(None), Technician.totp_last_step < step))
        .values(totp_last_step=step)
        .execution_options(synchronize_session=False))
    return claimed.rowcount == 1

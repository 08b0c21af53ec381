"""Every value in the database sealed with the master key, as one list.

Master-key rotation re-seals exactly what this module lists, and ``bastion keys status``
counts it: a new kind of sealed column must be added here, or a rotation would leave it
under a key that is then retired.

- recordings' data keys (``recordings.wrapped_key``), which name their key
  (``master_key_id``); purged recordings have none left (crypto-shredded);
- vaulted target-account secrets (``target_accounts.vault_secret``);
- technicians' TOTP secrets (``technicians.totp_secret_encrypted``);
- the trace key sealing command text and file paths (``trace_keys.wrapped_key``,
  bastion.trace_sealing), which names its key (``master_key_id``).

Vaulted and TOTP secrets do not say which key sealed them: the only way to know is to try one.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Select, select
from sqlalchemy.orm import Session

from .crypto import DecryptionError, seal, unseal
from .keys import key_id
from .models import Recording, Target, TargetAccount, Technician, TraceKey
from .recording.encryption import rewrap_data_key, unwrap_data_key
from .recording.errors import RecordingError
from .totp import reseal_secret as reseal_totp
from .totp import secret_of
from .trace_sealing import TRACE_KEY_AAD
from .vault import open_secret
from .vault import reseal_secret as reseal_vault

KINDS = ("recordings", "vault_secrets", "totp_secrets", "trace_keys")


@dataclass(frozen=True)
class SealedValue:
    kind: str  # one of KINDS
    label: str  # for messages: which row, never what it holds
    named_key: str | None  # the key id the row names (recordings only)
    opens: Callable[[bytes], bool]
    reseal: Callable[[bytes, bytes], None]  # (old key, new key): writes onto the ORM row


def _recording(row: Recording) -> SealedValue:
    def opens(key: bytes) -> bool:
        try:
            unwrap_data_key(key, row.wrapped_key, row.storage_key)
        except RecordingError:
            return False
        return True

    def reseal(old: bytes, new: bytes) -> None:
        row.wrapped_key = rewrap_data_key(old, new, row.wrapped_key, row.storage_key)
        row.master_key_id = key_id(new)

    return SealedValue("recordings", f"recording {row.id} (key {row.master_key_id})",
                       row.master_key_id, opens, reseal)


def _vault(row: TargetAccount, target: str) -> SealedValue:
    sealed = row.vault_secret or b""

    def opens(key: bytes) -> bool:
        try:
            open_secret(key, target, row.name, sealed)
        except DecryptionError:
            return False
        return True

    def reseal(old: bytes, new: bytes) -> None:
        row.vault_secret = reseal_vault(old, new, target, row.name, sealed)

    return SealedValue("vault_secrets", f"vaulted secret of {target}/{row.name}", None, opens, reseal)


def _totp(row: Technician) -> SealedValue:
    sealed = row.totp_secret_encrypted or b""

    def opens(key: bytes) -> bool:
        try:
            secret_of(key, row.ident, sealed)
        except (DecryptionError, UnicodeDecodeError):
            return False
        return True

    def reseal(old: bytes, new: bytes) -> None:
        row.totp_secret_encrypted = reseal_totp(old, new, row.ident, sealed)

    return SealedValue("totp_secrets", f"TOTP secret of {row.ident}", None, opens, reseal)


def _trace_key(row: TraceKey) -> SealedValue:
    def opens(key: bytes) -> bool:
        try:
            unseal(key, row.wrapped_key, TRACE_KEY_AAD)
        except DecryptionError:
            return False
        return True

    def reseal(old: bytes, new: bytes) -> None:
        # The trace key itself is kept: audit events sealed with it cannot be re-sealed.
        row.wrapped_key = seal(new, unseal(old, row.wrapped_key, TRACE_KEY_AAD), TRACE_KEY_AAD)
        row.master_key_id = key_id(new)

    return SealedValue("trace_keys", f"trace key {row.name} (key {row.master_key_id})",
                       row.master_key_id, opens, reseal)


def _locked(query: Select[Any], for_update: bool) -> Select[Any]:
    # Row locks on PostgreSQL: a concurrent enrolment or vault change waits for the
    # rotation instead of being overwritten by the re-sealed old value (a lost update).
    # SQLite needs none: each transaction already holds the write lock (BEGIN IMMEDIATE).
    return query.with_for_update() if for_update else query


def sealed_values(session: Session, *, for_update: bool = False) -> list[SealedValue]:
    recordings = session.scalars(_locked(
        select(Recording).where(Recording.status != "purged", Recording.wrapped_key != b"")
        .order_by(Recording.id), for_update)).all()
    accounts = session.execute(_locked(
        select(TargetAccount, Target.name).join(Target)
        .where(TargetAccount.vault_secret.is_not(None)).order_by(TargetAccount.id), for_update)).all()
    technicians = session.scalars(_locked(
        select(Technician).where(Technician.totp_secret_encrypted.is_not(None))
        .order_by(Technician.id), for_update)).all()
    trace_keys = session.scalars(_locked(select(TraceKey).order_by(TraceKey.id), for_update)).all()
    return ([_recording(row) for row in recordings]
            + [_vault(row, target) for row, target in accounts if row.vault_secret]
            + [_totp(row) for row in technicians if row.totp_secret_encrypted]
            + [_trace_key(row) for row in trace_keys])

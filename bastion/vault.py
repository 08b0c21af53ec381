"""Secrets for targets that cannot trust the bastion's target CA: a private key or a
password per target account, sealed with the master key, used only by the proxy to log in.

Nothing here ever returns a secret to a person: the CLI and the console can set or clear
one, and the audit log records that it changed, never what it is.
"""

from __future__ import annotations

import asyncssh
from sqlalchemy import select
from sqlalchemy.orm import Session

from .audit import Actor, AuditLog
from .crypto import seal, unseal
from .models import Target, TargetAccount

METHODS = ("certificate", "vault_key", "vault_password")


class VaultError(ValueError):
    pass


def _purpose(target: str, account: str) -> bytes:
    # Bound to the account: a sealed secret copied onto another account's row fails to open.
    return f"bastion target-account secret:{target}:{account}".encode()


def _account(session: Session, target: str, account: str) -> TargetAccount:
    row = session.scalar(select(TargetAccount).join(Target)
                         .where(Target.name == target, TargetAccount.name == account))
    if row is None:
        raise VaultError(f"target {target} has no account {account}")
    return row


def set_secret(session: Session, audit: AuditLog, master_key: bytes, *, target: str,
               account: str, method: str, secret: bytes | None, actor: Actor) -> None:
    """Store (or, with method ``certificate``, clear) the secret the bastion logs in with."""
    if method not in METHODS:
        raise VaultError(f"method must be one of {', '.join(METHODS)}")
    row = _account(session, target, account)
    if method == "certificate":
        row.auth_method, row.vault_secret = "certificate", None
    else:
        if not secret:
            raise VaultError("the secret is empty")
        if method == "vault_key":
            try:
                asyncssh.import_private_key(secret)
            except (asyncssh.KeyImportError, ValueError) as exc:
                raise VaultError(f"not an unencrypted OpenSSH private key: {exc}") from None
        row.auth_method = method
        row.vault_secret = seal(master_key, secret, _purpose(target, account))
    audit.append(session, action="target.secret_set", outcome="ok", actor=actor, target=target,
                 account=account, details={"method": method})


def open_secret(master_key: bytes, target: str, account: str, sealed: bytes) -> bytes:
    return unseal(master_key, sealed, _purpose(target, account))


def reseal_secret(old_key: bytes, new_key: bytes, target: str, account: str, sealed: bytes) -> bytes:
    """Master-key rotation: the same secret, sealed with the new key for the same account."""
    return seal(new_key, open_secret(old_key, target, account, sealed), _purpose(target, account))

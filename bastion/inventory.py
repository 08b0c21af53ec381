"""The target inventory: DPI servers, their pinned host keys, labels, data categories."""

from __future__ import annotations

import asyncio
import re

import asyncssh
from sqlalchemy import select
from sqlalchemy.orm import Session

from .audit import Actor, AuditLog
from .models import DATA_CATEGORIES, Target, TargetAccount

TARGET_NAME = re.compile(r"^[a-z0-9][a-z0-9.-]{0,99}$")
ACCOUNT_NAME = re.compile(r"^[a-z_][a-z0-9_.-]{0,63}$")


class InventoryError(ValueError):
    pass



def normalise_host_key(line: str) -> str:
    key = asyncssh.import_public_key(line.strip())
    return " ".join(key.export_public_key().decode().split()[:2])


async def scan_host_key(host: str, port: int, timeout: float = 10.0) -> str:
    """Fetch a server's host key (trust on first use, at inventory time only)."""
    try:
        key = await asyncio.wait_for(asyncssh.get_server_host_key(host, port), timeout)
    except (OSError, asyncssh.Error, TimeoutError) as exc:
        raise InventoryError(f"cannot read the host key of {host}:{port}: {exc}") from None
    if key is None:
        raise InventoryError(f"{host}:{port} presented no host key")
    return " ".join(key.export_public_key().decode().split()[:2])


def parse_labels(items: list[str]) -> dict[str, str]:
    labels = {}
    for item in items:
        key, sep, value = item.partition("=")
        if not sep or not key:
            raise InventoryError(f"label {item!r} must be written key=value")
        labels[key.strip()] = value.strip()
    return labels


def checked_categories(name: str, data_categories: list[str] | None) -> list[str]:
    """A target must say what data it holds: an unclassified server would be open to any
    contract whose labels match it (CNIL DPI, fiche habilitations)."""
    categories = sorted(set(data_categories or []))
    if not categories:
        raise InventoryError(
            f"target {name} has no data category: say what data it holds (--data: one of "
            f"{', '.join(DATA_CATEGORIES)}; 'technical' for a server with no personal data)"
        )
    unknown = [c for c in categories if c not in DATA_CATEGORIES]
    if unknown:
        raise InventoryError(
            f"unknown data categor{'y' if len(unknown) == 1 else 'ies'} {', '.join(unknown)}: "
            f"use {', '.join(DATA_CATEGORIES)}"
        )
    return categories


def add_target(
    session: Session,
    audit: AuditLog,
    *,
    name: str,
    host: str,
    port: int,
    host_key: str,
    accounts: list[str],
    labels: dict[str, str] | None = None,
    data_categories: list[str] | None = None,
    description: str | None = None,
    actor: Actor,
) -> Target:
    if not TARGET_NAME.match(name):
        raise InventoryError(
            f"target name {name!r} is not valid: lower-case letters, digits, '.' and '-'"
        )
    if not 1 <= port <= 65535:
        raise InventoryError(f"port {port} is not between 1 and 65535")
    for account in accounts:
        if not ACCOUNT_NAME.match(account):
            raise InventoryError(f"account name {account!r} is not a valid Unix user name")
    if session.scalar(select(Target).where(Target.name == name)):
        raise InventoryError(f"target {name!r} already exists")
    try:
        pinned = normalise_host_key(host_key)
    except (asyncssh.KeyImportError, ValueError, IndexError) as exc:
        raise InventoryError(f"the host key for {name} is not an OpenSSH public key: {exc}") from None
    categories = checked_categories(name, data_categories)
    target = Target(
        name=name,
        host=host,
        port=port,
        host_key=pinned,
        labels=dict(labels or {}),
        data_categories=categories,
        description=description,
        accounts=[TargetAccount(name=account) for account in dict.fromkeys(accounts)],
    )
    session.add(target)
    session.flush()
    audit.append(
        session,
        action="target.created",
        outcome="ok",
        actor=actor,
        target=name,
        details={
            "host": host,
            "port": port,
            "host_key": pinned,
            "accounts": accounts,
            "labels": target.labels,
            "data_categories": categories,
        },
    )
    return target


def reclassify_target(session: Session, audit: AuditLog, *, name: str, data_categories: list[str],
                      reason: str, actor: Actor) -> tuple[list[str], list[str]]:
    """Change the data categories a target holds; returns (before, after). Audited with the
    reason: what a vendor could reach depends on it. Sessions, requests and grants keep the
    categories in force when they were made."""
    reason = reason.strip()
    if len(reason) < 10:
        raise InventoryError("say why the target is reclassified with --reason (at least 10 "
                             "characters, e.g. the ticket and what changed on the server)")
    target = session.scalar(select(Target).where(Target.name == name).with_for_update())
    if target is None:
        raise InventoryError(f"unknown target {name!r}: see bastion targets list")
    categories = checked_categories(name, data_categories)
    before = sorted(target.data_categories or [])
    if before == categories:
        raise InventoryError(f"target {name} already holds exactly {', '.join(categories)}")
    target.data_categories = categories
    audit.append(session, action="target.reclassified", outcome="ok", actor=actor, target=name,
                 reasons=[reason], message=f"{', '.join(before) or 'unclassified'} -> "
                                           f"{', '.join(categories)}",
                 details={"before": before, "data_categories": categories, "reason": reason})
    return before, categories


def list_targets(session: Session) -> list[Target]:
    return list(session.scalars(select(Target).order_by(Target.name)))

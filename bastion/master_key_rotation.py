"""Rotating the master key (``bastion keys rotate-master``), finishing or undoing a rotation
a crash interrupted, and what ``bastion keys status`` shows. No click here.

The order makes a crash at any point recoverable, with one key that opens everything:

1. the new key is written to ``master.key.next`` (O_EXCL, 0600, fsynced) before the
   database is touched;
2. one transaction re-seals every value :mod:`bastion.sealed_values` lists, recordings
   getting the new ``master_key_id``, and appends ``master_key.rotated`` (counts and key
   ids, never key material) to the audit log;
3. after the commit, the old key is kept as ``master.key.retired-<old id>`` and
   ``master.key.next`` replaces ``master.key`` (``os.replace``, directory fsynced).

A leftover ``master.key.next`` means a crash between 1 and 3: :func:`recover` (run by
``bastion init``, ``bastion serve`` and ``rotate-master``) opens the database's values
with both keys to learn whether the transaction committed, then completes the swap or
deletes the unused new key; if neither key opens them it stops and changes nothing.

Every node reads ``master.key`` from its own ``keys_dir``: the rotation changes this
node's file only. See the README ("Rotating the master key") for several nodes.
"""

from __future__ import annotations

import secrets
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

from sqlalchemy import select
from sqlalchemy.orm import Session

from . import master_key_files as files
from .audit import Actor
from .context import Bastion
from .keys import MASTER_KEY, KeyStoreError, key_id
from .master_key_files import RotationError
from .models import AuditEvent
from .sealed_values import KINDS, SealedValue, sealed_values

ROTATED = "master_key.rotated"
UNOPENED = "none"  # the tally's bucket for values that no key at hand opens

__all__ = ["ROTATED", "KeyUsage", "MasterKeyStatus", "Recovery", "RotationError", "RotationResult",
           "SealedCounts", "recover", "rotate", "status"]


@dataclass(frozen=True)
class SealedCounts:
    recordings: int = 0
    vault_secrets: int = 0
    totp_secrets: int = 0
    trace_keys: int = 0

    @classmethod
    def of(cls, counter: Counter[str]) -> SealedCounts:
        return cls(**{kind: counter[kind] for kind in KINDS})

    @property
    def total(self) -> int:
        return self.recordings + self.vault_secrets + self.totp_secrets + self.trace_keys

    def describe(self) -> str:
        return (f"{self.recordings} recording key(s), {self.vault_secrets} vaulted secret(s), "
                f"{self.totp_secrets} TOTP secret(s), {self.trace_keys} trace key(s)")


@dataclass(frozen=True)
class RotationResult:
    old_key_id: str
    new_key_id: str
    counts: SealedCounts
    retired_file: Path | None
    from_retired_keys: int  # values a retired key opened (written by a node with an old key)


@dataclass(frozen=True)
class Recovery:
    completed: bool  # True: the swap was finished; False: master.key.next was discarded
    message: str  # one line for the operator


def _opener(value: SealedValue, keyring: dict[str, bytes]) -> str | None:
    """The id of the key in ``keyring`` that opens ``value``, if any."""
    if value.named_key is not None:
        key = keyring.get(value.named_key)
        return value.named_key if key is not None and value.opens(key) else None
    return next((kid for kid, key in keyring.items() if value.opens(key)), None)


def _tally(values: Iterable[SealedValue], keyring: dict[str, bytes]) -> dict[str, Counter[str]]:
    """Counts per kind by the key that opens each value. A recording naming a key that is
    not in ``keyring`` is counted under that name, unchecked; other values no key opens
    go to ``UNOPENED``."""
    tally: dict[str, Counter[str]] = {}
    for value in values:
        if value.named_key is not None and value.named_key not in keyring:
            bucket = value.named_key
        else:
            bucket = _opener(value, keyring) or UNOPENED
        tally.setdefault(bucket, Counter())[value.kind] += 1
    return tally


# --- rotation -------------------------------------------------------------------------


def _reseal_all(session: Session, keyring: dict[str, bytes], new_key: bytes) -> Counter[str]:
    counts: Counter[str] = Counter()
    current_id = next(iter(keyring))
    for value in sealed_values(session, for_update=True):
        opener = _opener(value, keyring)
        if opener is None:
            # Fail closed: retiring the key would strand this value for good.
            raise RotationError(f"{value.label} opens with no master key in this node's keys "
                                "folder (current or retired): nothing was changed")
        value.reseal(keyring[opener], new_key)
        counts[value.kind] += 1
        counts["from_retired"] += opener != current_id
    return counts


def rotate(core: Bastion, actor: Actor) -> RotationResult:
    """Rotate this node's master key. Raises RotationError, database changes rolled back and
    ``master.key`` untouched, when any value opens with no key at hand."""
    directory = core.keys.directory
    with files.locked(directory):
        if files.pending(directory):
            raise RotationError(f"{directory / files.NEXT} is pending from an interrupted "
                                "rotation: finish or undo it first")
        old_key = core.keys.master_key
        old_id = key_id(old_key)
        # The current key first (it opens nearly everything); retired keys open what a
        # node still holding an old key wrote after an earlier rotation.
        keyring = {old_id: old_key, **files.retired_keys(core.keys)}
        new_key = secrets.token_bytes(32)
        new_id = key_id(new_key)
        files.write_next(directory, new_key)
        committing = False
        try:
            with core.db.session() as session:
                counts = _reseal_all(session, keyring, new_key)
                sealed = SealedCounts.of(counts)
                core.audit.append(session, action=ROTATED, outcome="ok", actor=actor, details={
                    "old_master_key_id": old_id, "new_master_key_id": new_id,
                    "recordings": sealed.recordings, "vault_secrets": sealed.vault_secrets,
                    "totp_secrets": sealed.totp_secrets, "trace_keys": sealed.trace_keys,
                    "from_retired_keys": counts["from_retired"],
                    "retired_file": f"{files.RETIRED_PREFIX}{old_id}",
                })
                committing = True  # the block's end commits
        except BaseException as exc:
            if not committing:
                files.discard_next(directory)  # rolled back: the new key sealed nothing
                raise
            if not isinstance(exc, Exception):
                raise  # interrupted mid-commit: .next kept, the next start decides
            raise RotationError(f"the database commit failed ({exc}); whether it took effect "
                                f"is unknown, so {files.NEXT} is kept: run 'bastion keys "
                                "rotate-master' again to finish or undo it") from exc
        retired = files.promote(directory, old_key)
    return RotationResult(old_id, new_id, sealed, retired, counts["from_retired"])


# --- recovery after a crash -----------------------------------------------------------


def _rotation_audited(session: Session, new_id: str) -> bool:
    # The audit event commits with the re-sealed values: it proves the transaction
    # committed even when there was nothing to re-seal.
    events = session.scalars(select(AuditEvent).where(AuditEvent.action == ROTATED)
                             .order_by(AuditEvent.id.desc()).limit(20))
    return any((event.details or {}).get("new_master_key_id") == new_id for event in events)


def recover(core: Bastion) -> Recovery | None:
    """Finish or undo an interrupted rotation; None when none is pending."""
    directory = core.keys.directory
    if not files.pending(directory):
        return None
    with files.locked(directory):
        if not files.pending(directory):
            return None  # another process finished it while this one waited
        return _recover(core)


def _recover(core: Bastion) -> Recovery:
    directory = core.keys.directory
    next_key = files.read_next(core.keys)
    try:
        current: bytes | None = core.keys.master_key
    except KeyStoreError:
        current = None
    next_id = key_id(next_key) if next_key is not None else None
    current_id = key_id(current) if current is not None else None
    keyring = {kid: key for kid, key in ((next_id, next_key), (current_id, current))
               if kid is not None and key is not None}
    with core.db.session() as session:
        tally = _tally(sealed_values(session), keyring)
        audited = next_id is not None and _rotation_audited(session, next_id)
    by_next = sum(tally.get(next_id or "", Counter()).values())
    by_current = sum(tally.get(current_id or "", Counter()).values())
    unopened = sum(tally.get(UNOPENED, Counter()).values())

    if next_key is not None and (by_next or audited):
        # The new key sealed data: it committed. Anything the old key still opens was
        # written afterwards by a node with the old key; the retired file keeps it readable.
        retired = files.promote(directory, current)
        kept = f", old key {current_id} kept as {retired.name}" if retired else ""
        return Recovery(True, f"master key: finished the interrupted rotation: {MASTER_KEY} is "
                              f"now key {next_id}{kept}")
    if current is not None and (by_current or not unopened):
        files.discard_next(directory)
        return Recovery(False, f"master key: discarded {files.NEXT} (key {next_id or 'incomplete'}): "
                               f"the interrupted rotation changed nothing; key {current_id} stays")
    if current is None:
        raise RotationError(f"{MASTER_KEY} is missing and nothing shows that the database uses "
                            f"{files.NEXT}: both left as they are; restore {MASTER_KEY}")
    raise RotationError(f"neither {MASTER_KEY} ({current_id}) nor {files.NEXT} "
                        f"({next_id or 'unreadable'}) opens the {unopened} sealed value(s) in "
                        "the database: both files are left as they are; restore the right key")


# --- status ---------------------------------------------------------------------------


@dataclass(frozen=True)
class KeyUsage:
    key_id: str
    role: str  # current, next, retired, "no key file" (named by recordings only) or none
    counts: SealedCounts


@dataclass(frozen=True)
class MasterKeyStatus:
    current_id: str
    pending: bool  # master.key.next exists: an interrupted rotation
    retired_ids: tuple[str, ...]
    usage: tuple[KeyUsage, ...]  # the current key first, then every key that seals something

    @property
    def stale(self) -> SealedCounts:
        """Values sealed by any key other than the current one."""
        others = [u.counts for u in self.usage if u.key_id != self.current_id]
        return SealedCounts(*(sum(getattr(c, kind) for c in others) for kind in KINDS))


def status(core: Bastion) -> MasterKeyStatus:
    current = core.keys.master_key
    current_id = key_id(current)
    retired = files.retired_keys(core.keys)
    pending = files.pending(core.keys.directory)
    next_key = files.read_next(core.keys) if pending else None
    roles = {current_id: "current", **{kid: "retired" for kid in retired if kid != current_id}}
    keyring = {current_id: current, **retired}
    if next_key is not None:
        roles[key_id(next_key)] = "next"
        keyring[key_id(next_key)] = next_key
    with core.db.session() as session:
        tally = _tally(sealed_values(session), keyring)
    usage = [KeyUsage(current_id, "current", SealedCounts.of(tally.pop(current_id, Counter())))]
    usage += [KeyUsage(kid, roles.get(kid, "none" if kid == UNOPENED else "no key file"),
                       SealedCounts.of(counter)) for kid, counter in sorted(tally.items())]
    return MasterKeyStatus(current_id, pending, tuple(sorted(retired)), tuple(usage))

"""Command text and file paths at rest: sealed, and searchable only through keyed hashes.

What a technician typed or touched names patients (``cat /data/patients/DUPONT_Jean.pdf``).
A copy of the database (a backup, a replica, a DBA's query) must not show it: the command
index (``recorded_commands.text``) and the ``command``, ``path`` and ``paths`` details of
audit events are sealed (AES-256-GCM) with the *trace key*. The DPO's pages, the replay
timeline, the logbook and the CLI open them on read, through this module.

The trace key is random, stored once in the database (``trace_keys``) sealed by the master
key, so every node shares it; ``bastion keys rotate-master`` re-seals that one row
(``bastion.sealed_values``). It is not derived from the master key: audit events are
append-only and hash-chained, so what they hold can never be re-sealed under a new key.

Search ("command contains" on the DPO's page) cannot read sealed text: each command also
stores keyed hashes (HMAC-SHA256 under a key derived from the trace key) of its words and
of their prefixes from 3 characters (``search_terms``). A search for ``DUPON`` or
``rm -rf`` hashes its words the same way and matches rows holding all of them. What that
reveals to someone holding the database without the key: how many words a command has and
which rows share a word, not the words.

Values written before this release stay readable (a value without the ``sealed:v1:``
prefix is returned as is); ``bastion init`` seals the command index rows left in plain
text (:func:`seal_plaintext_commands`). Old audit events cannot be rewritten without
breaking their chain: they keep their plain details until the audit retention purges them.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import os
import re
from collections.abc import Iterable, Mapping
from functools import lru_cache
from typing import Any

from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.kdf.hkdf import HKDF
from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from .crypto import DecryptionError, seal, unseal
from .keys import KeyStore, key_id
from .models import RecordedCommand, TraceKey

PREFIX = "sealed:v1:"
TRACE_KEY_NAME = "traces"
TRACE_KEY_AAD = b"bastion trace key"
# Audit details that hold what was run or touched (commands, file paths).
SEALED_DETAILS = ("command", "path", "paths")
UNREADABLE = "[sealed: does not open with this bastion's keys]"
MIN_PREFIX = 3
# Shorter values ("id", "top") name no one, and would mangle words of the reason.
REDACT_MIN = 6
MAX_WORD = 40  # longer words: only their first 40 characters are searchable
MAX_TERMS = 400  # per command: a pasted 10 kB line is searchable by its start
_WORDS = re.compile(r"[^\W_]+")  # letters and digits: "DUPONT_Jean.pdf" -> dupont, jean, pdf


@lru_cache(maxsize=8)
def _derive(key: bytes, info: bytes) -> bytes:
    # Cached: a command's search terms derive the same key for each of their words.
    return HKDF(algorithm=hashes.SHA256(), length=32, salt=None, info=info).derive(key)


def words(text: str) -> list[str]:
    return [w[:MAX_WORD] for w in _WORDS.findall(text.casefold())]


class TraceSealer:
    """Seals and opens trace values; one per process (``Bastion.traces``)."""

    def __init__(self, keys: KeyStore) -> None:
        self._keys = keys
        self._key: bytes | None = None

    # --- the trace key ----------------------------------------------------------------

    def _trace_key(self, session: Session, *, create: bool) -> bytes | None:
        if self._key is not None:
            return self._key
        master = self._keys.master_key
        row = session.scalar(select(TraceKey).where(TraceKey.name == TRACE_KEY_NAME))
        if row is None:
            if not create:
                return None  # nothing was ever sealed
            key = os.urandom(32)
            try:
                with session.begin_nested():
                    session.add(TraceKey(name=TRACE_KEY_NAME, master_key_id=key_id(master),
                                         wrapped_key=seal(master, key, TRACE_KEY_AAD)))
            except IntegrityError:
                # Another node created it meanwhile: theirs is the one.
                row = session.scalar(select(TraceKey).where(TraceKey.name == TRACE_KEY_NAME))
                if row is None:
                    raise
            else:
                # Not remembered yet: if this transaction rolls back, so does the key.
                return key
        self._key = unseal(master, row.wrapped_key, TRACE_KEY_AAD)
        return self._key

    # --- sealing text -----------------------------------------------------------------

    def seal_text(self, session: Session, text: str, purpose: str) -> str:
        key = self._trace_key(session, create=True)
        assert key is not None
        sealed = seal(_derive(key, b"seal"), text.encode("utf-8", "surrogatepass"),
                      purpose.encode())
        return PREFIX + base64.b64encode(sealed).decode()

    def open_text(self, session: Session, value: str, purpose: str) -> str:
        if not isinstance(value, str) or not value.startswith(PREFIX):
            return value  # written before sealing existed
        key = self._trace_key(session, create=False)
        if key is None:
            return UNREADABLE
        try:
            raw = unseal(_derive(key, b"seal"), base64.b64decode(value[len(PREFIX):]),
                         purpose.encode())
        except (DecryptionError, ValueError):
            return UNREADABLE
        return raw.decode("utf-8", "surrogatepass")

    # --- search -----------------------------------------------------------------------

    def _term(self, key: bytes, word: str) -> str:
        return hmac.new(_derive(key, b"search"), word.encode(), hashlib.sha256).hexdigest()[:24]

    def search_terms(self, session: Session, text: str) -> str:
        """The command's searchable terms, space-delimited (``" a b c "``)."""
        key = self._trace_key(session, create=True)
        assert key is not None
        found: dict[str, None] = {}
        for word in words(text):
            found[word] = None
            for end in range(MIN_PREFIX, len(word)):
                found[word[:end]] = None
            if len(found) >= MAX_TERMS:
                break
        terms = [self._term(key, w) for w in list(found)[:MAX_TERMS]]
        return " " + " ".join(terms) + " " if terms else ""

    def query_terms(self, session: Session, query: str) -> list[str] | None:
        """The terms a search must find, each one in a row; None: nothing can match."""
        key = self._trace_key(session, create=False)
        asked = words(query)
        if key is None or not asked:
            return None
        return [self._term(key, w) for w in dict.fromkeys(asked)]

    # --- audit details ----------------------------------------------------------------

    def redact(self, details: Mapping[str, Any], lines: Iterable[str]) -> list[str]:
        """Lines (reasons) with the details' commands and paths taken out: a refusal's
        reason often repeats the path it refuses ("/data/X.pdf refused: ...")."""
        secrets: list[tuple[str, str]] = []
        for name in SEALED_DETAILS:
            value = details.get(name)
            for item in value if isinstance(value, list) else [value]:
                if isinstance(item, str) and len(item) >= REDACT_MIN:
                    secrets.append((item, f"[{name}]"))
        secrets.sort(key=lambda pair: -len(pair[0]))  # the longest first: paths within commands
        out = []
        for line in lines:
            for secret, marker in secrets:
                line = line.replace(secret, marker)
            out.append(line)
        return out

    def seal_details(self, session: Session, details: Mapping[str, Any]) -> dict[str, Any]:
        out = dict(details)
        if isinstance(out.get("reason"), str):
            out["reason"] = self.redact(details, [out["reason"]])[0]
        for name in SEALED_DETAILS:
            value = out.get(name)
            if isinstance(value, str) and value:
                out[name] = self.seal_text(session, value, f"audit:{name}")
            elif isinstance(value, list):
                out[name] = [self.seal_text(session, v, f"audit:{name}") if isinstance(v, str)
                             else v for v in value]
        return out

    def open_details(self, session: Session, details: Mapping[str, Any] | None) -> dict[str, Any]:
        out = dict(details or {})
        for name in SEALED_DETAILS:
            value = out.get(name)
            if isinstance(value, str):
                out[name] = self.open_text(session, value, f"audit:{name}")
            elif isinstance(value, list):
                out[name] = [self.open_text(session, v, f"audit:{name}") for v in value]
        return out

    # --- the command index ------------------------------------------------------------

    def command_text(self, session: Session, row: RecordedCommand) -> str:
        return self.open_text(session, row.text, "command")

    def fill_command(self, session: Session, row: RecordedCommand, text: str) -> None:
        row.text = self.seal_text(session, text, "command")
        row.search_terms = self.search_terms(session, text)


def seal_plaintext_commands(session: Session, sealer: TraceSealer, batch: int = 500) -> int:
    """Seal the command index rows written before sealing existed; returns how many."""
    done = 0
    while True:
        rows = session.scalars(select(RecordedCommand)
                               .where(RecordedCommand.text.not_like(PREFIX + "%"))
                               .order_by(RecordedCommand.id).limit(batch)).all()
        if not rows:
            return done
        for row in rows:
            sealer.fill_command(session, row, row.text)
        session.flush()
        done += len(rows)

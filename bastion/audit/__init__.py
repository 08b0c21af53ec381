"""The audit trail: append-only, hash-chained, signed at checkpoints, verifiable,
exportable, forwarded to a SIEM, purged by retention without losing verifiability."""

from .chain import GENESIS_HASH, ChainBreak, event_hash, verify_chain
from .log import Actor, AuditLog

__all__ = ["GENESIS_HASH", "Actor", "AuditLog", "ChainBreak", "event_hash", "verify_chain"]

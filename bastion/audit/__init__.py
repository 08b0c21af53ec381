"""The audit trail: append-only, hash-chained, verifiable."""

from .chain import GENESIS_HASH, ChainBreak, event_hash, verify_chain
from .log import Actor, AuditLog

__all__ = ["GENESIS_HASH", "Actor", "AuditLog", "ChainBreak", "event_hash", "verify_chain"]

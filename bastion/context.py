"""The core services one bastion process works with, built once from the settings and
passed explicitly to the proxy, the approvals, the CLI and the web console."""

from __future__ import annotations

import socket
from dataclasses import dataclass, field

from .audit import AuditLog
from .audit.signing import keystore_signer
from .config import Settings
from .db import Database
from .keys import KeyStore
from .observability import NodeMetrics, log_decision
from .trace_sealing import TraceSealer


def default_node_name() -> str:
    return socket.gethostname()


@dataclass
class Bastion:
    settings: Settings
    db: Database
    keys: KeyStore
    audit: AuditLog
    node: str = field(default_factory=default_node_name)
    # Fed by the audit events that committed (bastion.observability).
    metrics: NodeMetrics = field(init=False)
    # Seals command text and file paths at rest (bastion.trace_sealing).
    traces: TraceSealer = field(init=False)

    def __post_init__(self) -> None:
        self.traces = TraceSealer(self.keys)
        if self.audit.sealer is None:
            self.audit.sealer = self.traces
        self.metrics = NodeMetrics(self.db)
        self.db.event_observers.append(self.metrics.observe)
        # Several cores may share one database (tests, the CLI): one process line each.
        if log_decision not in self.db.event_observers:
            self.db.event_observers.append(log_decision)

    @classmethod
    def from_settings(cls, settings: Settings, *, node: str | None = None) -> Bastion:
        node = node or settings.node.name or default_node_name()
        keys = KeyStore(settings.keys_dir)
        return cls(
            settings=settings,
            db=Database(settings.database_url, echo=settings.database.echo),
            keys=keys,
            # Signed checkpoints every audit.checkpoint_every events (bastion.audit).
            audit=AuditLog(node, signer=keystore_signer(keys),
                           checkpoint_every=settings.audit.checkpoint_every,
                           checkpoint_seconds=settings.audit.checkpoint_minutes * 60),
            node=node,
        )

    def close(self) -> None:
        if self.metrics.observe in self.db.event_observers:
            self.db.event_observers.remove(self.metrics.observe)
        self.db.dispose()

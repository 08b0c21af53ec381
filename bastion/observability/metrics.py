"""Prometheus metrics of one node.

Counters are fed by committed audit events (``observe``) and by the proxy's recordings
(bytes, errors); gauges that are facts of the shared database (live sessions per node,
pending approvals, the audit chain and the age of its last signed checkpoint) are read at
scrape time, so every node's /metrics tells the same truth about them. Each core has its
own registry: no module-level state."""

from __future__ import annotations

import os
import re
from collections.abc import Iterator
from datetime import datetime

from prometheus_client import CollectorRegistry, Counter, generate_latest
from prometheus_client.core import GaugeMetricFamily, Metric
from prometheus_client.multiprocess import MultiProcessCollector
from prometheus_client.process_collector import ProcessCollector
from prometheus_client.registry import Collector
from sqlalchemy import func, select

from bastion.db import Database
from bastion.models import AccessRequest, AuditEvent, SshSession, utcnow
from bastion.models.audit import AuditCheckpoint

# The decisions an SSH client can be refused with; their first reason labels the refusal.
REFUSALS = ("login.refused", "request.refused", "break_glass.refused", "command.refused",
            "sftp.refused", "forward.refused", "exec.refused")
# Free-text reasons carry numbers and names ("grant 12 ended at ..."); the label keeps the
# words only, and a bounded number of distinct labels, so one hostile client cannot grow
# the time series without end.
MAX_REASON_LABELS = 50


def reason_label(reasons: list[str]) -> str:
    if not reasons:
        return "unspecified"
    words = re.sub(r"[^a-z ]+", " ", str(reasons[0]).lower())
    return " ".join(words.split())[:60] or "unspecified"


class _DatabaseFacts(Collector):
    def __init__(self, db: Database) -> None:
        self.db = db

    def collect(self) -> Iterator[Metric]:
        live = GaugeMetricFamily("bastion_live_sessions", "SSH sessions live now, per node",
                                 labels=["node"])
        pending = GaugeMetricFamily("bastion_approvals_pending",
                                    "Access requests waiting for an approver")
        length = GaugeMetricFamily("bastion_audit_chain_length",
                                   "Id of the newest audit event (the chain's length)")
        age = GaugeMetricFamily("bastion_audit_last_checkpoint_age_seconds",
                                "Seconds since the newest signed audit checkpoint")
        up = GaugeMetricFamily("bastion_database_up", "1 when the database answered the scrape")
        try:
            with self.db.session() as session:
                for node, count in session.execute(
                        select(SshSession.node, func.count()).where(SshSession.status == "live")
                        .group_by(SshSession.node)):
                    live.add_metric([node], count)
                pending.add_metric([], session.scalar(
                    select(func.count()).where(AccessRequest.status == "pending")) or 0)
                length.add_metric([], session.scalar(select(func.max(AuditEvent.id))) or 0)
                newest: datetime | None = session.scalar(select(func.max(AuditCheckpoint.at)))
                if newest is not None:
                    age.add_metric([], (utcnow() - newest).total_seconds())
        except Exception:  # noqa: BLE001 - a scrape reports the outage, it does not fail
            up.add_metric([], 0)
            yield up
            return
        up.add_metric([], 1)
        yield from (live, pending, length, age, up)


class NodeMetrics:
    def __init__(self, db: Database) -> None:
        self.registry = CollectorRegistry(auto_describe=True)
        self.audit_events = Counter(
            "bastion_audit_events", "Committed audit events: every decision, by action and outcome",
            ["action", "outcome"], registry=self.registry)
        self.logins = Counter("bastion_ssh_logins", "SSH logins that opened a session",
                              registry=self.registry)
        self.refusals = Counter("bastion_ssh_refusals", "SSH logins and operations refused, by reason",
                                ["action", "reason"], registry=self.registry)
        self.approvals = Counter("bastion_approvals", "Access requests decided, by outcome",
                                 ["outcome"], registry=self.registry)
        self.recording_bytes = Counter("bastion_recording_bytes",
                                       "Bytes written to session recordings", registry=self.registry)
        self.recording_errors = Counter("bastion_recording_errors",
                                        "Recordings that failed (storage or budget), by kind",
                                        ["kind"], registry=self.registry)
        self._reasons: set[tuple[str, str]] = set()
        self._facts = _DatabaseFacts(db)
        self.registry.register(self._facts)
        ProcessCollector(registry=self.registry)

    def observe(self, event: AuditEvent) -> None:
        self.audit_events.labels(event.action, event.outcome).inc()
        if event.action == "session.opened":
            self.logins.inc()
        elif event.action in ("request.approved", "request.denied"):
            self.approvals.labels(event.action.split(".")[1]).inc()
        if event.action in REFUSALS or (event.action.endswith(".refused")
                                        and event.actor_role == "technician"):
            key = (event.action, reason_label(list(event.reasons or [])))
            if key not in self._reasons and len(self._reasons) >= MAX_REASON_LABELS:
                key = (event.action, "other")
            self._reasons.add(key)
            self.refusals.labels(*key).inc()

    def exposition(self) -> bytes:
        """The node's metrics. Under a supervisor (PROMETHEUS_MULTIPROC_DIR set for every
        child) the counters of all its processes, dead workers' included, are summed."""
        folder = os.environ.get("PROMETHEUS_MULTIPROC_DIR")
        if not folder:
            return generate_latest(self.registry)
        registry = CollectorRegistry()
        MultiProcessCollector(registry, path=folder)
        registry.register(self._facts)
        return generate_latest(registry)

"""What a node tells the hospital's monitoring: Prometheus metrics and one process-log line
per login, refusal, approval and session. Both are fed by the audit events that committed,
so every number and line stands for a decision that really happened (a rolled-back
transaction counts nothing)."""

from .metrics import NodeMetrics
from .process_log import JsonFormatter, log_decision

__all__ = ["JsonFormatter", "NodeMetrics", "log_decision"]

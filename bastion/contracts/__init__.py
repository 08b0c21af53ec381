"""The contracts engine: the single policy decision point.

Every allow or deny anywhere in the bastion comes from :func:`decide` (or the operation
checks built on its constraints) and carries its reasons.
"""

from .checks import CheckReport, Inventory, check_paths, check_texts
from .constraints import CommandRule, Constraints, ScopeError, SftpRules
from .engine import REQUEST, AccessQuery, Decision, TargetFacts, approvers_required, decide, refuse
from .loading import LoadReport, grant_misfit, load_contracts, revoke_grant
from .operations import (
    CommandVerdict,
    OperationVerdict,
    ResolvedPath,
    check_channel,
    check_command,
    check_forward,
    check_sftp,
    check_time,
    check_transfer,
    path_rules_apply,
)
from .parsing import Problem, parse_contract
from .repository import (
    ContractStoreError,
    count_live_sessions,
    current_contract_for_technician,
    current_contract_for_vendor,
    decide_access,
    inventory_snapshot,
    target_facts,
)
from .schema import Contract, export_json_schema
from .transfer_commands import TransferCommand, UncheckableTransfer, parse_transfer

__all__ = [
    "REQUEST",
    "AccessQuery",
    "CheckReport",
    "CommandRule",
    "CommandVerdict",
    "Constraints",
    "Contract",
    "ContractStoreError",
    "Decision",
    "Inventory",
    "LoadReport",
    "OperationVerdict",
    "Problem",
    "ResolvedPath",
    "ScopeError",
    "SftpRules",
    "TargetFacts",
    "TransferCommand",
    "UncheckableTransfer",
    "approvers_required",
    "check_channel",
    "check_command",
    "check_forward",
    "check_paths",
    "check_sftp",
    "check_texts",
    "check_time",
    "check_transfer",
    "count_live_sessions",
    "current_contract_for_technician",
    "current_contract_for_vendor",
    "decide",
    "decide_access",
    "export_json_schema",
    "grant_misfit",
    "inventory_snapshot",
    "load_contracts",
    "parse_contract",
    "parse_transfer",
    "path_rules_apply",
    "refuse",
    "revoke_grant",
    "target_facts",
]

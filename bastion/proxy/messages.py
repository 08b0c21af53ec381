"""What the technician reads: one line, what happened and what to do next."""

from __future__ import annotations

ACCESS_REFUSED = (
    "access refused: unknown technician, target or account, or this key is not registered. "
    "Log in as <technician>+<target>[+<account>] with your registered key."
)
NO_ACTIVE_GRANT = (
    "no active grant for {target}: ask for access in the vendor portal or to the hospital's IT, "
    "then connect again."
)
TARGET_IDENTITY_CHANGED = (
    "the identity of target {target} has changed (its host key is not the one on record): "
    "the session is refused. Tell the hospital's IT; do not retry."
)
TARGET_TIMEOUT = (
    "target {target} did not answer in {seconds} s: try again later or tell the hospital's IT."
)
TARGET_UNREACHABLE = (
    "target {target} cannot be reached ({error}): try again later or tell the hospital's IT."
)
TARGET_REFUSED_LOGIN = (
    "target {target} refused the bastion's login as {account}: tell the hospital's IT "
    "(the target must trust the bastion's target CA)."
)
RECORDING_NOTICE = {
    "fr": "Session enregistrée : {target} ({account}), jusqu'à {until}. "
          "Motif : maintenance sous contrat {contract}.",
    "en": "This session is recorded: {target} ({account}), until {until}. "
          "Purpose: maintenance under contract {contract}.",
}
# Sent as the SSH banner of every login (shown by ssh, scp, sftp and rsync alike, outside the
# data streams), before the session's own notice in the terminal.
RECORDING_BANNER = {
    "fr": "bastion : les sessions vers {target} sont enregistrées et contrôlées "
          "(maintenance sous contrat, traçabilité exigée par l'hôpital).",
    "en": "bastion: sessions to {target} are recorded and checked "
          "(maintenance under contract, the hospital's traceability rules).",
}
EXPIRY_WARNING = "bastion: your access to {target} ends in {minutes} min ({until}); save your work."
SESSION_ENDED = "bastion: session closed: {reason}"
TUNNEL_REFUSED = (
    "sessions must be opened through the bastion: a tunnel to a target's SSH port would hide "
    "the session from the recording"
)
FORWARD_REFUSED = "forwarding to {host}:{port} is not allowed by your contract"
RECORDING_FAILED = (
    "bastion: the session is closed because it can no longer be recorded (the bastion's "
    "recording storage failed); nothing unrecorded was shown. Tell the hospital's IT."
)
# One line, naming what the budget counted and what to do next (docs/operations.md).
BUDGET_SPENT = {
    "connection": "bastion: the session is closed: it reached its output budget of {mb} MB "
                  "for this connection; nothing more was shown. Connect again to continue.",
    "grant": "bastion: the session is closed: it reached its output budget of {mb} MB "
             "for this grant; nothing more was shown. Ask the hospital's IT for a new grant.",
}

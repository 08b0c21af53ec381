"""What the technician reads: one line, what happened and what to do next.

Each line is a message of the bastion catalogue (bastion/translations), marked here and
put into the technician's language (their contract's) where it is sent: ``owner.tr``."""

from __future__ import annotations

from bastion.i18n import N_

ACCESS_REFUSED = N_(
    "access refused: unknown technician, target or account, or this key is not registered. "
    "Log in as <technician>+<target>[+<account>] with your registered key."
)
REFUSED = N_("refused: {reason}")
NO_ACTIVE_GRANT = N_(
    "no active grant for {target}: ask for access in the vendor portal or to the hospital's IT, "
    "then connect again."
)
TARGET_IDENTITY_CHANGED = N_(
    "the identity of target {target} has changed (its host key is not the one on record): "
    "the session is refused. Tell the hospital's IT; do not retry."
)
TARGET_TIMEOUT = N_(
    "target {target} did not answer in {seconds} s: try again later or tell the hospital's IT."
)
TARGET_UNREACHABLE = N_(
    "target {target} cannot be reached ({error}): try again later or tell the hospital's IT."
)
TARGET_REFUSED_LOGIN = N_(
    "target {target} refused the bastion's login as {account}: tell the hospital's IT "
    "(the target must trust the bastion's target CA)."
)
RECORDING_NOTICE = N_(
    "This session is recorded: {target} ({account}), until {until}. "
    "Purpose: maintenance under contract {contract}."
)
# Sent as the SSH banner of every login (shown by ssh, scp, sftp and rsync alike, outside the
# data streams), before the session's own notice in the terminal.
RECORDING_BANNER = N_(
    "bastion: sessions to {target} are recorded and checked "
    "(maintenance under contract, the hospital's traceability rules)."
)
EXPIRY_WARNING = N_("bastion: your access to {target} ends in {minutes} min ({until}); "
                    "save your work.")
SESSION_ENDED = N_("bastion: session closed: {reason}")
WINDOW_ENDED = N_("the access window has ended")
IDLE = N_("idle for more than {minutes} minutes")
SHUTTING_DOWN = N_("the bastion is shutting down")
REVOKED = N_("access revoked by the hospital's IT")
COMMAND_NOT_RECORDED = N_("a command decision could not be recorded; tell the hospital's IT")
TUNNEL_REFUSED = N_(
    "sessions must be opened through the bastion: a tunnel to a target's SSH port would hide "
    "the session from the recording"
)
FORWARD_REFUSED = N_("forwarding to {host}:{port} is not allowed by your contract")
FORWARD_UNREACHABLE = N_("{host}:{port} cannot be reached from the target: {error}")
REMOTE_FORWARD_REFUSED = N_("bastion: remote forwarding ({host}:{port}) is refused: "
                            "the bastion never opens ports towards your side")
RECORDING_FAILED = N_(
    "bastion: the session is closed because it can no longer be recorded (the bastion's "
    "recording storage failed); nothing unrecorded was shown. Tell the hospital's IT."
)
# One line, naming what the budget counted and what to do next (docs/operations.md).
BUDGET_SPENT = {
    "connection": N_("bastion: the session is closed: it reached its output budget of {mb} MB "
                     "for this connection; nothing more was shown. Connect again to continue."),
    "grant": N_("bastion: the session is closed: it reached its output budget of {mb} MB "
                "for this grant; nothing more was shown. Ask the hospital's IT for a new grant."),
}

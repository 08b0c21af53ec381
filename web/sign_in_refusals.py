"""What a refused first sign-in step tells the person, in their language.

A wrong password (local or in the directory) gets the one message that tells a guesser
nothing. The refusals that can only follow a correct password or a valid identity token
say what happened and what to do, since the person proved who they are.
"""

from __future__ import annotations

from flask_babel import gettext

from bastion.approvals import ApprovalError

from . import ceremonies


def _messages() -> dict[str, str]:
    return {
        "directory_unavailable": gettext(
            "The hospital directory cannot be reached. Try again in a moment, or ask IT (a "
            "local administrator account still signs in)."),
        "directory_account_disabled": gettext(
            "Your account is disabled in the hospital directory. Ask IT."),
        "no_role_in_directory": gettext(
            "None of your groups in the hospital directory gives a role on this console. Ask "
            "IT to add you to the right group."),
        "roles_awaiting_confirmation": gettext(
            "Your roles from the hospital directory wait for an administrator's or the DPO's "
            "confirmation with their security key. Try again once they have confirmed."),
        "roles_suspended": gettext(
            "Your roles are suspended until the yearly review of staff roles confirms them. Ask "
            "an administrator or the DPO."),
        "directory_identity_mismatch": gettext(
            "This user name belongs to another account on this console. Ask an administrator."),
        "staff_inactive": gettext("This account was disabled by an administrator. Ask one of them."),
        "local_sign_in_disabled": gettext(
            "Local passwords are kept for administrators here: sign in with your hospital "
            "account."),
        "identity_token_invalid": gettext(
            "The identity provider's answer could not be verified, so you are not signed in. "
            "Start again; if it happens again, tell IT."),
    }


def message(error: ApprovalError) -> str:
    return _messages().get(error.code, ceremonies.failure_message())

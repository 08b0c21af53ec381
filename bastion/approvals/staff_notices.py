"""Telling people about changes to staff accounts: role changes (to the DPO), security keys
added or revoked (to the owner and the DPO), a key suspended as possibly cloned (to the
owner, the admins and the DPO, urgent).

Queued in the outbox in the transaction of the change itself, like a new request's
notifications (``notifications``), and sent by the same delivery worker. Nothing secret
is in a message: who, what, and a link to the console.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping

from sqlalchemy import select
from sqlalchemy.orm import Session

from bastion.context import Bastion
from bastion.i18n import N_
from bastion.i18n.catalogue import Translator, translator
from bastion.models import NotificationOutbox, StaffRole, StaffUser

ROLES_CHANGED = "staff.roles"
KEYS_CHANGED = "staff.security_key"
KEY_SUSPENDED = "staff.key_suspended"  # urgent (bastion.approvals.delivery.URGENT_KINDS)

# event -> (subject, sentence), English msgids of the bastion catalogue; values:
# username, actor, before, after, key, reason, proposer, counter_before, counter_after.
_EVENTS: dict[str, tuple[str, str]] = {
    "role_change_proposed": (
        N_("Role change requested for {username}"),
        N_("{actor} asks to change the roles of {username}: {before} -> {after}. "
           "Another administrator or the DPO must confirm it with their security key.")),
    "role_change_applied": (
        N_("Roles of {username} changed"),
        N_("The roles of {username} went from {before} to {after} "
           "(asked by {proposer}, confirmed by {actor} with their security key).")),
    "role_change_refused": (
        N_("Role change refused for {username}"),
        N_("{actor} refused the role change of {username} ({before} -> {after}): {reason}")),
    "roles_removed": (
        N_("Roles removed from {username}"),
        N_("{actor} removed roles from {username}: {before} -> {after}.")),
    "roles_removed_by_directory": (
        N_("Roles removed from {username} by the directory"),
        N_("The hospital directory no longer puts {username} in the groups of these roles: "
           "{before} -> {after}. {reason}")),
    "disabled_by_directory": (
        N_("Account {username} disabled by the directory"),
        N_("The account {username} is disabled and its console sessions ended: {reason}")),
    "roles_set_locally": (
        N_("Account {username} created from the command line"),
        N_("{actor} created the account {username} with the roles {after} from the "
           "bastion's command line (a local operator, no second person).")),
    "key_added": (
        N_("Security key added to the account {username}"),
        N_("The security key \"{key}\" was added to the account {username}. If this was "
           "not you, tell an administrator at once.")),
    "key_revoked": (
        N_("Security key revoked on the account {username}"),
        N_("The security key \"{key}\" of the account {username} was revoked by {actor}: "
           "{reason}")),
    "key_suspended": (
        N_("[URGENT] Security key of {username} suspended: possible copy"),
        N_("The signature counter of {username}'s key \"{key}\" went from "
           "{counter_before} to {counter_after}: the key may have been copied. It is "
           "suspended; an administrator must revoke it and check the account's latest "
           "actions.")),
}

_FRAME = (N_("[DPI bastion] {subject}"),
          N_("Hello {name},\n\n{sentence}\n\n{url}\n\n"
             "Automatic message from the DPI bastion; it holds no secret.\n"))


def staff_with_role(session: Session, role: str) -> list[StaffUser]:
    return list(session.scalars(
        select(StaffUser).join(StaffRole, StaffRole.staff_id == StaffUser.id)
        .where(StaffRole.role == role, StaffUser.active.is_(True)).order_by(StaffUser.id)))


# Roles as staff read them in a message (the webhook's details keep the codes).
ROLE_NAMES = {"admin": N_("administrator"), "approver": N_("approver"), "dpo": N_("DPO")}
ROLE_LISTS = ("before", "after")


def _roles_read(_: Translator, roles: Iterable[str]) -> str:
    names = _.table(ROLE_NAMES)
    return ", ".join(names.get(role, role) for role in sorted(roles)) or "-"


def enqueue(session: Session, core: Bastion, *, kind: str, event: str,
            recipients: Iterable[StaffUser], path: str, values: Mapping[str, object]) -> int:
    """Queue one e-mail per recipient with an address (each once) and the webhook; returns
    how many messages were queued."""
    text = {key: ((", ".join(sorted(value)) or "-") if isinstance(value, list | tuple | set)
                  else value)
            for key, value in values.items()}
    roles = {key: value for key, value in values.items()
             if key in ROLE_LISTS and isinstance(value, list | tuple | set)}
    url = f"{core.settings.web.public_url}{path}"
    queued = 0
    if core.settings.smtp.host:
        seen: set[int] = set()
        for person in recipients:
            if person.id in seen or not person.email:
                continue
            seen.add(person.id)
            _ = translator(person.language)
            language = _.language
            subject, sentence = (_(message) for message in _EVENTS[event])
            frame_subject, frame_body = (_(message) for message in _FRAME)
            values_here = {"before": "-", "after": "-", "reason": "-", **text,
                           **{key: _roles_read(_, value) for key, value in roles.items()}}
            session.add(NotificationOutbox(
                kind=kind, channel="email", recipient=person.email, language=language,
                subject=frame_subject.format(subject=subject.format(**values_here))[:300],
                body=frame_body.format(name=person.full_name,
                                       sentence=sentence.format(**values_here), url=url)))
            queued += 1
    if core.settings.webhook.url:
        session.add(NotificationOutbox(
            kind=kind, channel="webhook", recipient=core.settings.webhook.url[:500],
            body=json.dumps({"event": f"{kind}.{event}", "source": "dpi-bastion",
                             "node": core.node, "details": text, "url": url},
                            ensure_ascii=False, sort_keys=True, default=str)))
        queued += 1
    session.flush()
    return queued


def roles_changed(session: Session, core: Bastion, *, event: str, subject: StaffUser,
                  actor: str, before: Iterable[str], after: Iterable[str], path: str,
                  proposer: str = "", reason: str = "") -> int:
    """Every role change goes to the DPO (and, while one waits, to the admins who could
    confirm it)."""
    recipients = staff_with_role(session, "dpo")
    if event == "role_change_proposed":
        recipients += staff_with_role(session, "admin")
    return enqueue(session, core, kind=ROLES_CHANGED, event=event, recipients=recipients,
                   path=path, values={"username": subject.username, "actor": actor,
                                      "before": sorted(before), "after": sorted(after),
                                      "proposer": proposer, "reason": reason or "-"})


def key_changed(session: Session, core: Bastion, *, event: str, owner: StaffUser, key: str,
                actor: str, reason: str = "", counter_before: int = 0,
                counter_after: int = 0) -> int:
    """Key added or revoked: the owner and the DPO; key suspended: also every admin."""
    recipients = [owner, *staff_with_role(session, "dpo")]
    if event == "key_suspended":
        recipients += staff_with_role(session, "admin")
    return enqueue(session, core, kind=KEY_SUSPENDED if event == "key_suspended" else KEYS_CHANGED,
                   event=event, recipients=recipients, path="/account/keys",
                   values={"username": owner.username, "key": key, "actor": actor,
                           "reason": reason or "-", "counter_before": counter_before,
                           "counter_after": counter_after})

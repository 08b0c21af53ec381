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
from bastion.models import NotificationOutbox, StaffRole, StaffUser

ROLES_CHANGED = "staff.roles"
KEYS_CHANGED = "staff.security_key"
KEY_SUSPENDED = "staff.key_suspended"  # urgent (bastion.approvals.delivery.URGENT_KINDS)

# event -> language -> (subject, sentence); values: username, actor, before, after, key,
# reason, proposer, counter_before, counter_after.
_EVENTS: dict[str, dict[str, tuple[str, str]]] = {
    "role_change_proposed": {
        "fr": ("Changement de rôles demandé pour {username}",
               "{actor} demande de changer les rôles de {username} : {before} -> {after}. "
               "Un autre administrateur ou le DPO doit le confirmer avec sa clé de sécurité."),
        "en": ("Role change requested for {username}",
               "{actor} asks to change the roles of {username}: {before} -> {after}. "
               "Another administrator or the DPO must confirm it with their security key."),
    },
    "role_change_applied": {
        "fr": ("Rôles de {username} changés",
               "Les rôles de {username} sont passés de {before} à {after} "
               "(demandé par {proposer}, confirmé par {actor} avec sa clé de sécurité)."),
        "en": ("Roles of {username} changed",
               "The roles of {username} went from {before} to {after} "
               "(asked by {proposer}, confirmed by {actor} with their security key)."),
    },
    "role_change_refused": {
        "fr": ("Changement de rôles refusé pour {username}",
               "{actor} a refusé le changement de rôles de {username} ({before} -> {after}) : "
               "{reason}"),
        "en": ("Role change refused for {username}",
               "{actor} refused the role change of {username} ({before} -> {after}): {reason}"),
    },
    "roles_removed": {
        "fr": ("Rôles retirés à {username}",
               "{actor} a retiré des rôles à {username} : {before} -> {after}."),
        "en": ("Roles removed from {username}",
               "{actor} removed roles from {username}: {before} -> {after}."),
    },
    "roles_removed_by_directory": {
        "fr": ("Rôles retirés à {username} par l'annuaire",
               "L'annuaire de l'hôpital ne met plus {username} dans les groupes de ces rôles : "
               "{before} -> {after}. {reason}"),
        "en": ("Roles removed from {username} by the directory",
               "The hospital directory no longer puts {username} in the groups of these roles: "
               "{before} -> {after}. {reason}"),
    },
    "disabled_by_directory": {
        "fr": ("Compte {username} désactivé par l'annuaire",
               "Le compte {username} est désactivé et ses sessions de console fermées : "
               "{reason}"),
        "en": ("Account {username} disabled by the directory",
               "The account {username} is disabled and its console sessions ended: {reason}"),
    },
    "roles_set_locally": {
        "fr": ("Compte {username} créé en ligne de commande",
               "{actor} a créé le compte {username} avec les rôles {after} depuis la ligne de "
               "commande du bastion (opérateur local, sans seconde personne)."),
        "en": ("Account {username} created from the command line",
               "{actor} created the account {username} with the roles {after} from the "
               "bastion's command line (a local operator, no second person)."),
    },
    "key_added": {
        "fr": ("Clé de sécurité ajoutée au compte {username}",
               "La clé de sécurité « {key} » a été ajoutée au compte {username}. Si ce "
               "n'est pas vous, prévenez immédiatement un administrateur."),
        "en": ("Security key added to the account {username}",
               "The security key \"{key}\" was added to the account {username}. If this was "
               "not you, tell an administrator at once."),
    },
    "key_revoked": {
        "fr": ("Clé de sécurité révoquée sur le compte {username}",
               "La clé de sécurité « {key} » du compte {username} a été révoquée par {actor} : "
               "{reason}"),
        "en": ("Security key revoked on the account {username}",
               "The security key \"{key}\" of the account {username} was revoked by {actor}: "
               "{reason}"),
    },
    "key_suspended": {
        "fr": ("[URGENT] Clé de sécurité de {username} suspendue : copie possible",
               "Le compteur de signatures de la clé « {key} » de {username} est passé de "
               "{counter_before} à {counter_after} : la clé a peut-être été copiée. Elle est "
               "suspendue ; un administrateur doit la révoquer et vérifier les dernières "
               "actions du compte."),
        "en": ("[URGENT] Security key of {username} suspended: possible copy",
               "The signature counter of {username}'s key \"{key}\" went from "
               "{counter_before} to {counter_after}: the key may have been copied. It is "
               "suspended; an administrator must revoke it and check the account's latest "
               "actions."),
    },
}

_FRAME = {
    "fr": ("[Bastion DPI] {subject}",
           "Bonjour {name},\n\n{sentence}\n\n{url}\n\n"
           "Message automatique du bastion DPI ; il ne contient aucun secret.\n"),
    "en": ("[DPI bastion] {subject}",
           "Hello {name},\n\n{sentence}\n\n{url}\n\n"
           "Automatic message from the DPI bastion; it holds no secret.\n"),
}


def staff_with_role(session: Session, role: str) -> list[StaffUser]:
    return list(session.scalars(
        select(StaffUser).join(StaffRole, StaffRole.staff_id == StaffUser.id)
        .where(StaffRole.role == role, StaffUser.active.is_(True)).order_by(StaffUser.id)))


def _roles(roles: Iterable[str]) -> str:
    return ", ".join(sorted(roles)) or "-"


def enqueue(session: Session, core: Bastion, *, kind: str, event: str,
            recipients: Iterable[StaffUser], path: str, values: Mapping[str, object]) -> int:
    """Queue one e-mail per recipient with an address (each once) and the webhook; returns
    how many messages were queued."""
    text = {key: (", ".join(sorted(value)) if isinstance(value, list | tuple | set) else value)
            for key, value in values.items()}
    url = f"{core.settings.web.public_url}{path}"
    queued = 0
    if core.settings.smtp.host:
        seen: set[int] = set()
        for person in recipients:
            if person.id in seen or not person.email:
                continue
            seen.add(person.id)
            language = person.language if person.language in _FRAME else "fr"
            subject, sentence = _EVENTS[event][language]
            frame_subject, frame_body = _FRAME[language]
            values_here = {"before": "-", "after": "-", "reason": "-", **text}
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
                                      "before": _roles(before), "after": _roles(after),
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

"""One line per flag for people, in French or English: the console, the CSV export and the
DPO's daily e-mail all say the same thing."""

from __future__ import annotations

from bastion.approvals.notifications import _CATEGORIES as CATEGORY_NAMES

from .facts import (
    ACCESS_REVIEW,
    BREAK_GLASS,
    COMMAND_RULE,
    OFF_HOURS,
    REFUSAL_BURST,
    SENSITIVE_DATA,
    SFTP_VOLUME,
    Flag,
)

KIND_NAMES = {
    "fr": {SENSITIVE_DATA: "Données de santé ou INS", COMMAND_RULE: "Règle de commande",
           SFTP_VOLUME: "Volume téléchargé", OFF_HOURS: "Nuit ou jour férié",
           REFUSAL_BURST: "Refus en rafale", BREAK_GLASS: "Bris de glace",
           ACCESS_REVIEW: "Revue d'accès en retard"},
    "en": {SENSITIVE_DATA: "Health or INS data", COMMAND_RULE: "Command rule",
           SFTP_VOLUME: "Download volume", OFF_HOURS: "Night or public holiday",
           REFUSAL_BURST: "Refusals in a burst", BREAK_GLASS: "Break-glass",
           ACCESS_REVIEW: "Access review overdue"},
}

_TEXT = {
    "fr": {
        SENSITIVE_DATA: "Session sur {target}, qui héberge : {categories}",
        "command_flagged": "Commande signalée ({reason}) : {command}",
        "command_refused": "Commande refusée ({reason}) : {command}",
        SFTP_VOLUME: "{size} téléchargés dans la session ({transfers} transfert(s) par SFTP, "
                     "exec ou redirection ; seuil {threshold}), dont {path} ({via})",
        "night": "Session de nuit (à partir de {local_time})",
        "holiday": "Session un jour férié : {holiday} (à partir de {local_time})",
        REFUSAL_BURST: "{count} refus en moins de {minutes} min depuis {who}",
        BREAK_GLASS: "Bris de glace : {justification} — revue {review}",
        "open": "ouverte", "overdue": "EN RETARD", "closed": "close ({verdict})",
        "justified": "justifié", "unjustified": "injustifié",
        "technician": "le technicien {who}", "address": "l'adresse {who}",
        ACCESS_REVIEW: "Aucune revue d'accès confirmée pour {vendor} depuis {last} : {state}",
        "never": "jamais", "suspended": "accès SUSPENDUS",
        "suspend_on": "suspension des accès le {date}",
        "staff_review": "Rôles de {staff} non confirmés depuis {last} : {state}",
        "staff_suspended": "rôles SUSPENDUS", "staff_suspend_on": "suspension des rôles le {date}",
    },
    "en": {
        SENSITIVE_DATA: "Session on {target}, which holds: {categories}",
        "command_flagged": "Command flagged ({reason}): {command}",
        "command_refused": "Command refused ({reason}): {command}",
        SFTP_VOLUME: "{size} downloaded in the session ({transfers} transfer(s) by SFTP, "
                     "exec or forward; threshold {threshold}), including {path} ({via})",
        "night": "Session at night (from {local_time})",
        "holiday": "Session on a public holiday: {holiday} (from {local_time})",
        REFUSAL_BURST: "{count} refusals within {minutes} min from {who}",
        BREAK_GLASS: "Break-glass: {justification} — review {review}",
        "open": "open", "overdue": "OVERDUE", "closed": "closed ({verdict})",
        "justified": "justified", "unjustified": "unjustified",
        "technician": "technician {who}", "address": "address {who}",
        ACCESS_REVIEW: "No access review confirmed for {vendor} since {last}: {state}",
        "never": "never", "suspended": "accesses SUSPENDED",
        "suspend_on": "accesses suspended on {date}",
        "staff_review": "Roles of {staff} not confirmed since {last}: {state}",
        "staff_suspended": "roles SUSPENDED", "staff_suspend_on": "roles suspended on {date}",
    },
}


def size(value: int) -> str:
    """Bytes in the largest unit that keeps a number >= 1 (decimal units, as disks say)."""
    amount = float(value)
    for unit in ("B", "kB", "MB", "GB"):
        if amount < 1000 or unit == "GB":
            return f"{amount:.0f} {unit}" if unit == "B" else f"{amount:.1f} {unit}"
        amount /= 1000
    raise AssertionError("unreachable")


def kind_name(kind: str, language: str) -> str:
    return KIND_NAMES.get(language, KIND_NAMES["fr"]).get(kind, kind)


def describe(flag: Flag, language: str = "fr") -> str:
    text = _TEXT.get(language, _TEXT["fr"])
    d = flag.details
    if flag.kind == SENSITIVE_DATA:
        names = CATEGORY_NAMES.get(language, CATEGORY_NAMES["fr"])
        return text[SENSITIVE_DATA].format(
            target=flag.target, categories=", ".join(names.get(c, c) for c in d["categories"]))
    if flag.kind == COMMAND_RULE:
        key = "command_refused" if d.get("refused") else "command_flagged"
        return text[key].format(reason=d.get("reason") or d.get("rule"), command=d.get("command"))
    if flag.kind == SFTP_VOLUME:
        return text[SFTP_VOLUME].format(size=size(d["bytes"]),
                                        transfers=d.get("transfers", d.get("files")),
                                        threshold=size(d["threshold"]), path=d.get("path"),
                                        via=d.get("via", "sftp"))
    if flag.kind == OFF_HOURS:
        return text[d["reason"]].format(**d)
    if flag.kind == REFUSAL_BURST:
        who = text[d["by"]].format(who=d["who"])
        return text[REFUSAL_BURST].format(count=d["count"], minutes=d["minutes"], who=who)
    if flag.kind == BREAK_GLASS:
        review = text[d["review"]].format(verdict=text.get(d.get("verdict") or "", ""))
        return text[BREAK_GLASS].format(justification=d["justification"], review=review)
    if flag.kind == ACCESS_REVIEW and d.get("staff"):
        state = (text["staff_suspended"] if d["suspended"]
                 else text["staff_suspend_on"].format(date=d["suspend_at"]))
        return text["staff_review"].format(staff=d["staff"], last=d["last_review"] or text["never"],
                                           state=state)
    if flag.kind == ACCESS_REVIEW:
        state = (text["suspended"] if d["suspended"]
                 else text["suspend_on"].format(date=d["suspend_at"]))
        return text[ACCESS_REVIEW].format(vendor=flag.vendor, last=d["last_review"] or text["never"],
                                          state=state)
    return flag.kind

"""One line per flag for people, from the bastion catalogue: the console, the CSV export and
the DPO's daily e-mail all say the same thing."""

from __future__ import annotations

from bastion.approvals.notifications import _CATEGORIES as CATEGORY_NAMES
from bastion.i18n import N_
from bastion.i18n.catalogue import translator

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
    SENSITIVE_DATA: N_("Health or INS data"),
    COMMAND_RULE: N_("Command rule"),
    SFTP_VOLUME: N_("Download volume"),
    OFF_HOURS: N_("Night or public holiday"),
    REFUSAL_BURST: N_("Refusals in a burst"),
    BREAK_GLASS: N_("Break-glass"),
    ACCESS_REVIEW: N_("Access review overdue"),
}

_TEXT = {
    SENSITIVE_DATA: N_("Session on {target}, which holds: {categories}"),
    "command_flagged": N_("Command flagged ({reason}): {command}"),
    "command_refused": N_("Command refused ({reason}): {command}"),
    SFTP_VOLUME: N_("{size} downloaded in the session ({transfers} transfer(s) by SFTP, "
                    "exec or forward; threshold {threshold}), including {path} ({via})"),
    "night": N_("Session at night (from {local_time})"),
    "holiday": N_("Session on a public holiday: {holiday} (from {local_time})"),
    REFUSAL_BURST: N_("{count} refusals within {minutes} min from {who}"),
    BREAK_GLASS: N_("Break-glass: {justification} — review {review}"),
    "open": N_("open"),
    "overdue": N_("OVERDUE"),
    "closed": N_("closed ({verdict})"),
    "justified": N_("justified"),
    "unjustified": N_("unjustified"),
    "technician": N_("technician {who}"),
    "address": N_("address {who}"),
    ACCESS_REVIEW: N_("No access review confirmed for {vendor} since {last}: {state}"),
    "never": N_("never"),
    "suspended": N_("accesses SUSPENDED"),
    "suspend_on": N_("accesses suspended on {date}"),
    "staff_review": N_("Roles of {staff} not confirmed since {last}: {state}"),
    "staff_suspended": N_("roles SUSPENDED"),
    "staff_suspend_on": N_("roles suspended on {date}"),
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
    return translator(language).table(KIND_NAMES).get(kind, kind)


def describe(flag: Flag, language: str = "fr") -> str:
    text = translator(language).table(_TEXT)
    d = flag.details
    if flag.kind == SENSITIVE_DATA:
        names = translator(language).table(CATEGORY_NAMES)
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

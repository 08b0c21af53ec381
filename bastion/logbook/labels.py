"""The logbook's words in French and English: the printable page, the CSV's flag column
and the console say the same thing (the console passes its language)."""

from __future__ import annotations

from .entries import FlagLine

LANGUAGES = ("fr", "en")

WORDS = {
    "fr": {
        "title": "Main courante des interventions", "vendor": "Prestataire",
        "all_vendors": "tous les prestataires", "period": "Période", "target": "Cible",
        "from": "du", "to": "au", "since": "depuis le", "until": "jusqu'au",
        "whole_history": "tout l'historique", "generated": "Édité le",
        "times_in": "Heures exprimées dans le fuseau {zone}.",
        "count": "{n} intervention(s)", "request": "Demande {id}", "grant": "autorisation {id}",
        "technicians": "Intervenant(s)", "targets": "Cible(s)", "when": "Date et heure",
        "window": "Fenêtre autorisée", "reason": "Motif", "ticket": "Ticket",
        "approvers": "Approuvé par", "declared_by": "Déclaré par", "done": "Ce qui a été fait",
        "commands": "Commandes", "transfers": "Transferts de fichiers", "flags": "Signalements",
        "recordings": "Enregistrements", "none": "aucun", "times": "×{n}",
        "session": "Session {id}", "still_open": "en cours", "bytes": "{n} octets",
        "incomplete": "incomplet", "emergency": "Bris de glace",
        "state_unused": "autorisée, non utilisée", "state_in_progress": "en cours",
        "state_done": "terminée", "upload": "dépôt", "download": "récupération",
        "empty": "Aucune intervention sur cette période.",
        "signature": "Visa du prestataire", "signature_hospital": "Visa de l'établissement",
        "back": "Retour à la main courante (utilisez la fonction Imprimer du navigateur)",
    },
    "en": {
        "title": "Intervention logbook", "vendor": "Vendor", "all_vendors": "all vendors",
        "period": "Period", "target": "Target", "from": "from", "to": "to",
        "since": "since", "until": "until", "whole_history": "whole history",
        "generated": "Generated on", "times_in": "Times are in the {zone} time zone.",
        "count": "{n} intervention(s)", "request": "Request {id}", "grant": "grant {id}",
        "technicians": "Technician(s)", "targets": "Target(s)", "when": "Date and time",
        "window": "Authorised window", "reason": "Reason", "ticket": "Ticket",
        "approvers": "Approved by", "declared_by": "Declared by", "done": "What was done",
        "commands": "Commands", "transfers": "File transfers", "flags": "Flags",
        "recordings": "Recordings", "none": "none", "times": "×{n}",
        "session": "Session {id}", "still_open": "in progress", "bytes": "{n} bytes",
        "incomplete": "incomplete", "emergency": "Break-glass",
        "state_unused": "granted, not used", "state_in_progress": "in progress",
        "state_done": "done", "upload": "upload", "download": "download",
        "empty": "No intervention in this period.",
        "signature": "Vendor's signature", "signature_hospital": "Hospital's signature",
        "back": "Back to the logbook (use the browser's Print command)",
    },
}

FLAGS = {
    "fr": {
        "break_glass": "Bris de glace : {justification} (revue : {review})",
        "command_flagged": "Commande signalée ({reason}) : {command}",
        "command_refused": "Commande refusée ({reason}) : {command}",
        "session_terminated": "Session {session} fermée par le personnel ou par révocation : {reason}",
        "session_interrupted": "Session {session} interrompue : {reason}",
        "grant_revoked": "Autorisation révoquée par {by} : {reason}",
        "open": "en attente", "justified": "justifié", "unjustified": "injustifié",
    },
    "en": {
        "break_glass": "Break-glass: {justification} (review: {review})",
        "command_flagged": "Command flagged ({reason}): {command}",
        "command_refused": "Command refused ({reason}): {command}",
        "session_terminated": "Session {session} closed by staff or by a revocation: {reason}",
        "session_interrupted": "Session {session} interrupted: {reason}",
        "grant_revoked": "Grant revoked by {by}: {reason}",
        "open": "open", "justified": "justified", "unjustified": "unjustified",
    },
}


def words(language: str) -> dict[str, str]:
    return WORDS.get(language, WORDS["fr"])


def describe_flag(flag: FlagLine, language: str = "fr") -> str:
    text = FLAGS.get(language, FLAGS["fr"])
    detail = dict(flag.detail)
    if flag.code == "break_glass":
        detail["review"] = text.get(detail.get("review", "open"), detail.get("review", ""))
    template = text.get(flag.code)
    if template is None:
        return flag.code
    return template.format_map({"session": flag.session_id or "", "reason": "", "by": "",
                                "command": "", "justification": "", **detail})

"""The contract check's verdict (``access_requests.verdict``) in the reader's words: the
engine stored its one line and each detailed reason as phrases; older verdicts only have
the English summary and reasons, shown as they are."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import tzinfo
from typing import Any

from .catalogue import Translator
from .marker import N_, Phrase, phrase_from_dict

ALLOWED = N_("allowed: {line}")
REFUSED = N_("refused: {line}")


def _zone(verdict: Mapping[str, Any]) -> str:
    return str((verdict.get("constraints") or {}).get("time_zone") or "Europe/Paris")


def _phrase(stored: object) -> Phrase | None:
    if not isinstance(stored, dict):
        return None
    try:
        return phrase_from_dict(stored)
    except (KeyError, TypeError, ValueError):
        return None


def verdict_summary(verdict: Mapping[str, Any], _: Translator,
                    zone: str | tzinfo | None = None) -> str:
    """``zone``: the reader's, for the times the line names (else the contract's)."""
    phrase = _phrase(verdict.get("phrase"))
    if phrase is None:
        return str(verdict.get("summary") or "")
    return _(ALLOWED if verdict.get("allowed") else REFUSED,
             line=_.phrase(phrase, zone or _zone(verdict)))


def verdict_reasons(verdict: Mapping[str, Any], _: Translator,
                    zone: str | tzinfo | None = None) -> list[str]:
    """Every detailed reason, in the reader's language where the engine stored it as a
    phrase (its times in ``zone``, the reader's, else the contract's, zone named); in
    English, as the audit trail has it, where it did not (an older verdict, a list that no
    longer matches the reasons)."""
    reasons = [str(reason) for reason in verdict.get("reasons") or []]
    details = verdict.get("details")
    if not isinstance(details, list) or len(details) != len(reasons):
        return reasons
    zone = zone or _zone(verdict)
    out = []
    for reason, stored in zip(reasons, details, strict=True):
        phrase = _phrase(stored)
        out.append(reason if phrase is None else _.phrase(phrase, zone))
    return out

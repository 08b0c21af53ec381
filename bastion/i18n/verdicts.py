"""The contract check's verdict (``access_requests.verdict``) in the reader's words: the
engine stored its one line as a phrase; older verdicts only have the English summary."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from .catalogue import Translator
from .marker import N_, phrase_from_dict

ALLOWED = N_("allowed: {line}")
REFUSED = N_("refused: {line}")


def verdict_summary(verdict: Mapping[str, Any], _: Translator) -> str:
    stored = verdict.get("phrase")
    if not isinstance(stored, dict):
        return str(verdict.get("summary") or "")
    try:
        phrase = phrase_from_dict(stored)
    except (KeyError, TypeError, ValueError):
        return str(verdict.get("summary") or "")
    zone = str((verdict.get("constraints") or {}).get("time_zone") or "Europe/Paris")
    return _(ALLOWED if verdict.get("allowed") else REFUSED, line=_.phrase(phrase, zone))

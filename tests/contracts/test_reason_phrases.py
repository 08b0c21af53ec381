"""Every detailed reason of the engine, refusal or check, is a catalogue phrase whose English
is the audit trail's reason word for word, and which French readers get in French (the
stored verdict keeps both, in the same order)."""

from __future__ import annotations

import json
from typing import Any

import pytest

from bastion.i18n.catalogue import translator
from bastion.i18n.marker import Phrase, phrase_from_dict

from .conftest import contract
from .test_engine import CASES, SATURDAY_10H, ask


def messages(phrase: Phrase) -> list[str]:
    """The phrase's message and those of the phrases inside it."""
    inner = [m for _, value in phrase.params if isinstance(value, Phrase) for m in messages(value)]
    return [phrase.message, *inner]


@pytest.mark.parametrize(("changes", "query", "codes"), [c[1:] for c in CASES],
                         ids=[c[0] for c in CASES])
def test_each_reason_is_a_phrase_with_the_same_english(changes: dict[str, Any],
                                                       query: dict[str, Any],
                                                       codes: tuple[str, ...]) -> None:
    decision = ask(contract(changes), **query)
    assert len(decision.details) == len(decision.reasons) > 0
    french = translator("fr")
    for reason, detail in zip(decision.reasons, decision.details, strict=True):
        assert detail is not None, reason
        assert detail.english() == reason
        for message in messages(detail):
            assert french(message) != message, f"no French for {message!r}"
    stored = json.loads(json.dumps(decision.to_dict()))
    assert stored["reasons"] == list(decision.reasons)
    # Stored as JSON, each reads the same as the engine's phrase (times stay instants).
    assert [french.phrase(phrase_from_dict(d), "Europe/Paris") for d in stored["details"]] == [
        french.phrase(d, "Europe/Paris") for d in decision.details if d is not None]


def test_a_time_in_a_reason_is_put_in_the_readers_zone_and_language() -> None:
    decision = ask(contract(), at=SATURDAY_10H)
    [detail] = decision.details
    assert detail is not None
    assert decision.reasons[0].startswith("2027-03-06 10:00 CET is outside contract ACME-1's")
    stored = phrase_from_dict(json.loads(json.dumps(decision.to_dict()))["details"][0])
    assert translator("fr").phrase(stored, "Europe/Paris") == (
        "06/03/2027 10:00 CET est hors des fenêtres de maintenance du contrat ACME-1 ; "
        "la prochaine fenêtre s'ouvre le 08/03/2027 08:00 CET")
    assert translator("en").phrase(stored, "America/Cayenne").startswith(
        "06/03/2027, 06:00 UTC-03 is outside contract ACME-1's maintenance windows")

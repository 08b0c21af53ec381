"""Marking a message for the catalogue without translating it yet (pure: no catalogue is
read here, so the contracts engine may use it).

A ``Phrase`` is a message and its parameters, decided where the facts are (the engine,
say) and put into words at the edge, in the reader's language (``Translator.phrase``)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime
from typing import Any


def N_(message: str) -> str:  # noqa: N802 - gettext's conventional name for "mark only"
    """The message, unchanged; ``pybabel extract`` collects it."""
    return message


def NC_(context: str, message: str) -> tuple[str, str]:  # noqa: N802 - as N_, with a context
    """A message whose English word means different things (a review "open" vs a request
    "open"): the context tells the translator which."""
    return context, message


@dataclass(frozen=True)
class Phrase:
    message: str  # an English msgid of the bastion catalogue, marked with N_
    params: tuple[tuple[str, Any], ...] = ()  # hashable: a phrase may key a dict

    @classmethod
    def of(cls, message: str, **params: Any) -> Phrase:
        return cls(message, tuple(sorted(params.items())))

    def english(self) -> str:
        """The source text with its parameters, for the audit trail and the logs."""
        return self.message.format(**{k: _english(v) for k, v in self.params})


def _english(value: Any) -> Any:
    if isinstance(value, Phrase):
        return value.english()
    if isinstance(value, datetime):
        return value.strftime("%Y-%m-%d %H:%M %Z")
    return value


def phrase_to_dict(phrase: Phrase) -> dict[str, object]:
    """JSON form of a phrase, e.g. in ``access_requests.verdict`` (instants and days tagged,
    so they come back as such and are shown in the reader's zone and language)."""
    def value(item: object) -> object:
        if isinstance(item, Phrase):
            return {"phrase": phrase_to_dict(item)}
        if isinstance(item, datetime):
            return {"instant": item.isoformat()}
        if isinstance(item, date):
            return {"day": item.isoformat()}
        return item
    return {"message": phrase.message, "params": {k: value(v) for k, v in phrase.params}}


def phrase_from_dict(data: dict[str, Any]) -> Phrase:
    """The phrase ``phrase_to_dict`` wrote (a ValueError or KeyError when it is not one)."""
    def value(item: Any) -> Any:
        if isinstance(item, dict):
            if "phrase" in item:
                return phrase_from_dict(item["phrase"])
            if "instant" in item:
                return datetime.fromisoformat(item["instant"])
            if "day" in item:
                return date.fromisoformat(item["day"])
        return item
    return Phrase.of(str(data["message"]), **{str(k): value(v)
                                             for k, v in dict(data["params"]).items()})

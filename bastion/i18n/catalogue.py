"""The bastion's catalogue, read once per language when this module is imported (never on
the SSH event loop): a missing or unreadable catalogue fails at start, not mid-session."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import date, datetime, tzinfo
from pathlib import Path
from typing import Any

from babel.support import NullTranslations, Translations

from .marker import Phrase
from .moments import moment, moment_date

DOMAIN = "bastion"
DIRECTORY = Path(__file__).resolve().parents[1] / "translations"
LANGUAGES = {"fr": "Français", "en": "English"}
SOURCE = "en"


def _load(language: str) -> NullTranslations:
    if language == SOURCE:
        return NullTranslations()
    found = Translations.load(str(DIRECTORY), [language], DOMAIN)
    if not isinstance(found, Translations):
        raise RuntimeError(f"the {language} catalogue is missing from {DIRECTORY}: "
                           f"run pybabel compile -D {DOMAIN} -d bastion/translations")
    return found


_CATALOGUES = {language: _load(language) for language in LANGUAGES}


def language_or_default(language: str | None, default: str = "fr") -> str:
    return language if language in LANGUAGES else default


class Translator:
    """``_ = translator("fr")``; ``_("target {target} is down", target=name)``."""

    def __init__(self, language: str) -> None:
        self.language = language_or_default(language)
        self._catalogue = _CATALOGUES[self.language]

    def __call__(self, message: str, **params: Any) -> str:
        text = self._catalogue.gettext(message)
        return text.format(**params) if params else text

    def table(self, messages: Mapping[str, str | tuple[str, str]]) -> dict[str, str]:
        """A table of marked messages (``N_`` or ``NC_``), translated but not formatted:
        the caller fills the placeholders."""
        return {key: (self._catalogue.pgettext(*message) if isinstance(message, tuple)
                      else self._catalogue.gettext(message))
                for key, message in messages.items()}

    def plural(self, singular: str, plural: str, n: int, **params: Any) -> str:
        return self._catalogue.ngettext(singular, plural, n).format(n=n, **params)

    def phrase(self, phrase: Phrase, zone: str | tzinfo = "UTC") -> str:
        """A phrase decided elsewhere, its parameters put into words here too."""
        return self(phrase.message, **{k: self.value(v, zone) for k, v in phrase.params})

    def refusal(self, error: Any, zone: str | tzinfo = "UTC") -> str:
        """A refusal (ApprovalError, BreakGlassError) in these words when it carries a
        phrase; errors not in the catalogue keep their English message."""
        phrase = getattr(error, "phrase", None)
        return str(getattr(error, "message", error)) if phrase is None else self.phrase(phrase, zone)

    def value(self, value: Any, zone: str | tzinfo = "UTC") -> Any:
        if isinstance(value, Phrase):
            return self.phrase(value, zone)
        if isinstance(value, datetime):
            return self.when(value, zone)
        if isinstance(value, date):
            return moment_date(value, self.language)
        return value

    def when(self, value: datetime | None, zone: str | tzinfo, style: str = "short") -> str:
        return moment(value, self.language, zone, style)


_TRANSLATORS = {language: Translator(language) for language in LANGUAGES}


def translator(language: str | None) -> Translator:
    """French for an unknown or missing language (the hospital's default)."""
    return _TRANSLATORS[language_or_default(language)]

"""One way to write a date for people, on SSH, in e-mails and on the console: Babel's
format for the language, in the zone asked for, the zone always named."""

from __future__ import annotations

from datetime import UTC, date, datetime

from bastion.i18n import N_, Phrase, moment
from bastion.i18n.catalogue import translator
from bastion.i18n.marker import phrase_from_dict, phrase_to_dict

WINTER = datetime(2026, 3, 2, 4, 56, tzinfo=UTC)
SUMMER = datetime(2026, 7, 2, 3, 56, tzinfo=UTC)


def test_a_moment_is_in_the_hospital_zone_with_the_zone_named() -> None:
    assert moment(WINTER, "fr", "Europe/Paris") == "02/03/2026 05:56 CET"
    assert moment(SUMMER, "fr", "Europe/Paris") == "02/07/2026 05:56 CEST"
    # English as written in Europe: day first, 24-hour clock (en_GB), never 3/2/26.
    assert moment(WINTER, "en", "Europe/Paris") == "02/03/2026, 05:56 CET"
    assert moment(WINTER, "fr", "Europe/Paris", "time") == "05:56 CET"
    assert moment(WINTER, "fr", "UTC", "time") == "04:56 UTC"
    assert moment(None, "fr", "Europe/Paris") == ""


def test_a_phrase_is_put_into_words_in_each_language() -> None:
    line = Phrase.of(N_("contract {contract} expired on {day}"), contract="ACME-1",
                     day=date(2026, 1, 31))
    assert line.english() == "contract ACME-1 expired on 2026-01-31"
    assert translator("fr").phrase(line) == "le contrat ACME-1 a expiré le 31/01/2026"
    assert translator("en").phrase(line) == "contract ACME-1 expired on 31/01/2026"
    nested = Phrase.of(N_("outside the maintenance windows of contract {contract}; {when}"),
                       contract="ACME-1",
                       when=Phrase.of(N_("the next window opens {at}"), at=WINTER))
    assert translator("fr").phrase(nested, "Europe/Paris") == (
        "hors des fenêtres de maintenance du contrat ACME-1 ; la prochaine fenêtre s'ouvre "
        "le 02/03/2026 05:56 CET")
    assert phrase_from_dict(phrase_to_dict(nested)) == nested


def test_an_unknown_language_is_french_the_hospital_default() -> None:
    assert translator("de").language == "fr" and translator(None).language == "fr"

"""The technician reads one language, their contract's: the login banner, the session's
notice, the prompts, refusals and warnings all in French (the default) or all in English,
and times in the hospital's zone with the zone named (as on the console)."""

from __future__ import annotations

import re
from datetime import timedelta

from bastion.models import Grant, utcnow
from tests.proxy.conftest import Scenario
from tests.proxy.test_approval_flow import KBDINT

# Sentences of the English catalogue that must never reach a French-speaking technician.
ENGLISH = ("no active grant", "sessions to", "This session is recorded", "ends in",
           "session closed", "answer the questions", "refused:")


def test_a_french_contract_speaks_french_from_banner_to_close(scenario: Scenario, tmux) -> None:  # type: ignore[no-untyped-def]
    scenario.speak("fr")
    refused = scenario.ssh("true", extra=["-o", "LogLevel=INFO"]).stderr.decode()
    assert ("bastion : aucune autorisation en cours pour dpi-app-01 : répondez aux questions "
            "qui suivent") in refused, refused
    grant_id = scenario.grant()
    banner = scenario.ssh("true", extra=["-o", "LogLevel=INFO"]).stderr.decode()
    assert "bastion : les sessions vers dpi-app-01 sont enregistrées" in banner, banner
    with scenario.core.db.session() as s:
        s.get(Grant, grant_id).not_after = utcnow() + timedelta(seconds=4)
    tmux.start(scenario.client.ssh_argv(scenario.user, "127.0.0.1", scenario.proxy.port,
                                        extra=["-t", "-o", "LogLevel=INFO"]), width=200)
    # Babel's French date, in the hospital's zone (web.time_zone, Paris), zone named.
    tmux.wait_for(r"Session enregistrée : dpi-app-01 \(maint\), jusqu'à "
                  r"\d\d/\d\d/\d{4} \d\d:\d\d CES?T\.")
    tmux.wait_for(r"bastion : votre accès à dpi-app-01 se termine dans 1 min "
                  r"\(\d\d:\d\d CES?T\) ; enregistrez votre travail\.")
    tmux.wait_for(r"bastion : session fermée : le créneau d'accès est terminé", timeout=10)
    screen = tmux.screen() + refused + banner
    assert not [s for s in ENGLISH if s in screen], screen


def test_the_questions_of_a_request_are_asked_in_french(scenario: Scenario, tmux) -> None:  # type: ignore[no-untyped-def]
    scenario.speak("fr")
    tmux.start(scenario.client.ssh_argv(scenario.user, "127.0.0.1", scenario.proxy.port,
                                        extra=[*KBDINT, "-t"]), width=200)
    # OpenSSH escapes non-ASCII in keyboard-interactive instructions: those lines are
    # written without accents; prompts and banners keep them.
    tmux.wait_for(r"Votre demande part pour approbation a l'informatique de l'hopital\.")
    tmux.wait_for(r"Motif de cet accès : $")
    tmux.type("mise à jour du module\n")
    tmux.wait_for(r"Référence du ticket \(facultatif\) : $")
    tmux.type("\n")
    tmux.wait_for(r"bastion : la demande \d+ attend l'approbation de l'informatique de "
                  r"l'hôpital \(jusqu'à \d+ min ; Ctrl-C l'annule\)\.")


def test_an_english_contract_speaks_english(scenario: Scenario) -> None:
    scenario.speak("en")
    refused = scenario.ssh("true", extra=["-o", "LogLevel=INFO"]).stderr.decode()
    assert "bastion: no active grant for dpi-app-01: answer the questions" in refused
    scenario.grant()
    result = scenario.ssh("true", extra=["-o", "LogLevel=INFO"])
    banner = result.stderr.decode()
    assert "bastion: sessions to dpi-app-01 are recorded and checked" in banner, banner
    assert not re.search(r"[àéè]", banner), banner

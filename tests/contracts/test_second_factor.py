"""The second-factor rule, table by table (pure: no I/O)."""

from __future__ import annotations

from datetime import date

import pytest

from bastion.contracts import Contract
from bastion.contracts.second_factor import (
    SecondFactorPolicy,
    SecondFactorRule,
    judge_second_factor,
    second_factor_policy,
)

from .conftest import base_document

SK = "sk-ssh-ed25519@openssh.com"
ED = "ssh-ed25519"
BOTH = frozenset({"security_key", "totp"})


@pytest.mark.parametrize(("policy", "algorithm", "flags", "totp", "outcome", "fragment"), [
    (SecondFactorPolicy(False, BOTH, False), ED, None, False, "satisfied", "no second factor"),
    (SecondFactorPolicy(True, BOTH, False), SK, 0x01, False, "satisfied", "touch"),
    (SecondFactorPolicy(True, BOTH, False), SK, 0x05, False, "satisfied", "user verification"),
    (SecondFactorPolicy(True, BOTH, True), SK, 0x01, False, "refused", "did not verify you"),
    (SecondFactorPolicy(True, BOTH, True), SK, 0x05, False, "satisfied", "user verification"),
    (SecondFactorPolicy(True, BOTH, False), SK, 0x00, False, "refused", "not touched"),
    (SecondFactorPolicy(True, BOTH, False), ED, None, True, "ask_totp", "one-time code"),
    (SecondFactorPolicy(True, BOTH, False), ED, None, False, "refused", "ed25519-sk) or a one-time"),
    (SecondFactorPolicy(True, frozenset({"totp"}), False), SK, 0x05, True, "ask_totp", "one-time"),
    (SecondFactorPolicy(True, frozenset({"security_key"}), True), ED, None, True, "refused",
     "-O verify-required"),
])
def test_judgement(policy, algorithm, flags, totp, outcome, fragment) -> None:  # type: ignore[no-untyped-def]
    verdict = judge_second_factor(policy, key_algorithm=algorithm, sk_flags=flags,
                                  totp_enrolled=totp)
    assert verdict.outcome == outcome
    assert fragment in verdict.reason


def test_contract_overrides_the_bastion_setting() -> None:
    assert second_factor_policy(None, "required").required
    assert not second_factor_policy(None, "off").required


@pytest.mark.parametrize(("setting", "reason", "until", "today", "required"), [
    ("required", None, None, date(2027, 1, 1), True),
    ("off", "keys on order", date(2027, 1, 31), date(2027, 1, 31), False),  # last day included
    ("off", "keys on order", date(2027, 1, 31), date(2027, 2, 1), True),  # past it: required
    ("off", None, date(2027, 1, 31), date(2027, 1, 1), True),  # no reason: no exception
    ("off", "keys on order", None, date(2027, 1, 1), True),  # no last day: no exception
])
def test_off_is_an_exception_with_a_reason_and_a_last_day(setting, reason, until, today,  # type: ignore[no-untyped-def]
                                                          required) -> None:
    rule = SecondFactorRule(setting, reason, until)
    assert second_factor_policy(None, rule, today).required is required


def test_a_contract_exception_ends_on_its_last_day() -> None:
    document = base_document()
    document["authentication"] = {"second_factor": "off",
                                  "exception": {"reason": "keys on order", "until": "2027-01-31"}}
    contract = Contract.model_validate(document)
    assert not second_factor_policy(contract, "required", date(2027, 1, 31)).required
    assert second_factor_policy(contract, "required", date(2027, 2, 1)).required

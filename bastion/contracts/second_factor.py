"""The technicians' second factor: what the contract (or the bastion's setting) demands, and
whether what the technician presented satisfies it. Pure: the proxy supplies the facts."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from typing import Any, Literal

from bastion.i18n.marker import N_, Phrase

from .schema import Contract

SK_USER_PRESENCE = 0x01
SK_USER_VERIFICATION = 0x04
SECURITY_KEY_ALGORITHMS = ("sk-ssh-ed25519@openssh.com", "sk-ecdsa-sha2-nistp256@openssh.com")


@dataclass(frozen=True)
class SecondFactorPolicy:
    required: bool
    methods: frozenset[str]
    verify_required: bool


@dataclass(frozen=True)
class SecondFactorRule:
    """``required``, or ``off`` as an exception: why, and the last day it holds. An ``off``
    without both, or past its last day, counts as ``required`` (fail closed)."""

    setting: str
    reason: str | None = None
    until: date | None = None

    def off_on(self, today: date) -> bool:
        return (self.setting == "off" and bool(self.reason) and self.until is not None
                and today <= self.until)


def setting_rule(ssh: Any) -> SecondFactorRule:
    """The bastion's own rule, from its ``[ssh]`` settings."""
    return SecondFactorRule(ssh.second_factor, ssh.second_factor_off_reason,
                            ssh.second_factor_off_until)


def contract_rule(contract: Contract | None) -> SecondFactorRule | None:
    """The contract's own rule, or None when it follows the bastion's setting."""
    section = contract.authentication if contract is not None else None
    if section is None or section.second_factor is None:
        return None
    exception = section.exception
    return SecondFactorRule(section.second_factor, exception.reason if exception else None,
                            exception.until if exception else None)


def second_factor_policy(contract: Contract | None, default: SecondFactorRule | str,
                         today: date | None = None) -> SecondFactorPolicy:
    """The contract's rule, or the bastion's setting when the contract says nothing. An
    exception (``off``) holds only with its reason and until its last day: ``today``
    None means the caller has already checked the date (tables in tests)."""
    section = contract.authentication if contract is not None else None
    rule = contract_rule(contract) or (
        default if isinstance(default, SecondFactorRule) else SecondFactorRule(default))
    off = rule.setting == "off" if today is None else rule.off_on(today)
    return SecondFactorPolicy(
        required=not off,
        methods=frozenset(section.methods if section else ("security_key", "totp")),
        verify_required=bool(section and section.security_key_verify_required),
    )


@dataclass(frozen=True)
class SecondFactorVerdict:
    outcome: Literal["satisfied", "ask_totp", "refused"]
    reason: str  # English, for the audit trail
    phrase: Phrase | None = None  # a refusal's line for the technician, translated at the edge

    @classmethod
    def refused(cls, phrase: Phrase) -> SecondFactorVerdict:
        return cls("refused", phrase.english(), phrase)


def judge_second_factor(policy: SecondFactorPolicy, *, key_algorithm: str,
                        sk_flags: int | None, totp_enrolled: bool) -> SecondFactorVerdict:
    """After the registered key (or security key) has signed: is that enough, should a
    one-time code be asked, or must the login be refused?"""
    if not policy.required:
        return SecondFactorVerdict("satisfied", "no second factor required")
    if key_algorithm in SECURITY_KEY_ALGORITHMS and "security_key" in policy.methods:
        flags = sk_flags or 0
        if not flags & SK_USER_PRESENCE:
            return SecondFactorVerdict.refused(Phrase(N_("the security key was not touched")))
        if policy.verify_required and not flags & SK_USER_VERIFICATION:
            return SecondFactorVerdict.refused(Phrase(N_(
                "the security key did not verify you (PIN or biometrics): the contract "
                "requires a key created with 'ssh-keygen -O verify-required'")))
        return SecondFactorVerdict("satisfied", "security key with "
                                   + ("user verification" if flags & SK_USER_VERIFICATION
                                      else "touch"))
    if "totp" in policy.methods and totp_enrolled:
        return SecondFactorVerdict("ask_totp", "registered key, then a one-time code")
    wanted: list[Phrase] = []
    if "security_key" in policy.methods:
        wanted.append(Phrase.of(N_("a security-key SSH key ({command})"),
                                command="ssh-keygen -t ed25519-sk"
                                + (" -O verify-required" if policy.verify_required else "")))
    if "totp" in policy.methods:
        wanted.append(Phrase(N_("a one-time code (TOTP)")))
    what = (Phrase.of(N_("{first} or {second}"), first=wanted[0], second=wanted[1])
            if len(wanted) == 2 else wanted[0] if wanted else Phrase(N_("a second factor")))
    return SecondFactorVerdict.refused(Phrase.of(
        N_("a second factor is required: enrol {what} with the hospital's IT"), what=what))

"""The technicians' second factor: what the contract (or the bastion's setting) demands, and
whether what the technician presented satisfies it. Pure: the proxy supplies the facts."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from .schema import Contract

SK_USER_PRESENCE = 0x01
SK_USER_VERIFICATION = 0x04
SECURITY_KEY_ALGORITHMS = ("sk-ssh-ed25519@openssh.com", "sk-ecdsa-sha2-nistp256@openssh.com")


@dataclass(frozen=True)
class SecondFactorPolicy:
    required: bool
    methods: frozenset[str]
    verify_required: bool


def second_factor_policy(contract: Contract | None, default: str) -> SecondFactorPolicy:
    """The contract's rule, or the bastion's setting when the contract says nothing."""
    section = contract.authentication if contract is not None else None
    required = (section.second_factor if section and section.second_factor else default)
    return SecondFactorPolicy(
        required=required == "required",
        methods=frozenset(section.methods if section else ("security_key", "totp")),
        verify_required=bool(section and section.security_key_verify_required),
    )


@dataclass(frozen=True)
class SecondFactorVerdict:
    outcome: Literal["satisfied", "ask_totp", "refused"]
    reason: str


def judge_second_factor(policy: SecondFactorPolicy, *, key_algorithm: str,
                        sk_flags: int | None, totp_enrolled: bool) -> SecondFactorVerdict:
    """After the registered key (or security key) has signed: is that enough, should a
    one-time code be asked, or must the login be refused?"""
    if not policy.required:
        return SecondFactorVerdict("satisfied", "no second factor required")
    if key_algorithm in SECURITY_KEY_ALGORITHMS and "security_key" in policy.methods:
        flags = sk_flags or 0
        if not flags & SK_USER_PRESENCE:
            return SecondFactorVerdict("refused", "the security key was not touched")
        if policy.verify_required and not flags & SK_USER_VERIFICATION:
            return SecondFactorVerdict(
                "refused", "the security key did not verify you (PIN or biometrics): the "
                           "contract requires a key created with 'ssh-keygen -O verify-required'")
        return SecondFactorVerdict("satisfied", "security key with "
                                   + ("user verification" if flags & SK_USER_VERIFICATION
                                      else "touch"))
    if "totp" in policy.methods and totp_enrolled:
        return SecondFactorVerdict("ask_totp", "registered key, then a one-time code")
    wanted = []
    if "security_key" in policy.methods:
        wanted.append("a security-key SSH key (ssh-keygen -t ed25519-sk"
                      + (" -O verify-required" if policy.verify_required else "") + ")")
    if "totp" in policy.methods:
        wanted.append("a one-time code (TOTP)")
    return SecondFactorVerdict(
        "refused", "a second factor is required: enrol " + " or ".join(wanted)
                   + " with the hospital's IT")

"""The vendor contract, as IT and the DPO write it in YAML (one file per vendor).

Every model forbids unknown fields: a misspelt field would otherwise be silently ignored,
and in a contract that usually means a restriction the writer believes is in force is not.
Field descriptions end up in ``contracts/schema.json`` for editors that read JSON Schema.
"""

from __future__ import annotations

import json
import re
from datetime import date
from typing import Annotated, Literal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import asyncssh
from pydantic import (
    AfterValidator,
    BaseModel,
    ConfigDict,
    Field,
    ValidationInfo,
    field_validator,
    model_validator,
)

from bastion.models import DATA_CATEGORIES

DAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
CHANNELS = ("shell", "exec", "sftp", "forward")
SFTP_ACCESS = ("none", "read", "read-write")

_SLUG = re.compile(r"^[a-z0-9][a-z0-9-]{0,63}$")
# No '+': it separates technician, target and account in the SSH routing user name.
_IDENT = re.compile(r"^[a-z][a-z0-9._-]{0,63}$")
_TARGET = re.compile(r"^[a-z0-9][a-z0-9.-]{0,99}$")
_ACCOUNT = re.compile(r"^[a-z_][a-z0-9_.-]{0,63}$")
_LABEL_KEY = re.compile(r"^[a-z0-9][a-z0-9._/-]{0,62}$")
_EMAIL = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")
_CLOCK = re.compile(r"^([01]\d|2[0-3]):[0-5]\d$")
_HOST = re.compile(r"^[A-Za-z0-9]([A-Za-z0-9.-]{0,252})$|^\[?[0-9a-fA-F:]+\]?$")


def _matching(pattern: re.Pattern[str], what: str, hint: str) -> AfterValidator:
    def check(value: str) -> str:
        if not pattern.match(value):
            raise ValueError(f"{value!r} is not a valid {what}: {hint}")
        return value

    return AfterValidator(check)


def _data_category(value: str) -> str:
    if value not in DATA_CATEGORIES:
        raise ValueError(f"unknown data category {value!r}: use {', '.join(DATA_CATEGORIES)}")
    return value


def _day(value: str) -> str:
    if value not in DAYS:
        raise ValueError(f"unknown day {value!r}: use {', '.join(DAYS)}")
    return value


def _clock(value: str) -> str:
    if not _CLOCK.match(value):
        raise ValueError(f"{value!r} is not a time of day: write it HH:MM in quotes, e.g. '07:30'")
    return value


def _end_clock(value: str) -> str:
    return value if value == "24:00" else _clock(value)


def _time_zone(value: str) -> str:
    try:
        ZoneInfo(value)
    except (ZoneInfoNotFoundError, ValueError):
        raise ValueError(f"unknown time zone {value!r}: use e.g. 'Europe/Paris'") from None
    return value


def _public_key(value: str) -> str:
    line = " ".join(value.split())
    try:
        asyncssh.import_public_key(line)
    except (asyncssh.KeyImportError, ValueError, IndexError) as exc:
        raise ValueError(f"not an OpenSSH public key line ({exc})") from None
    return line


def _regex(value: str) -> str:
    try:
        re.compile(value)
    except re.error as exc:
        raise ValueError(f"regex {value!r} does not compile: {exc}") from None
    return value


# What people type when they do not have the reference: not evidence of an art. 28 agreement.
_PLACEHOLDERS = {"na", "n/a", "nd", "n/d", "none", "nil", "null", "tbd", "tbc", "todo", "xxx",
                 "unknown", "pending", "aucun", "aucune", "néant", "neant", "inconnu",
                 "à venir", "a venir", "en cours", "nc", "sans objet", "so"}


def _reference(value: str) -> str:
    squeezed = " ".join(value.lower().replace(".", "").split())
    if (squeezed in _PLACEHOLDERS or squeezed.strip("-_?x* ") == ""
            or not any(ch.isalnum() for ch in value)):
        raise ValueError(f"{value!r} is a placeholder, not a reference: write the signed "
                         "agreement's reference (no contract without its article 28 agreement)")
    return value


# EU member states and the other EEA states, where the GDPR applies (no transfer).
EEA_COUNTRIES = ("AT", "BE", "BG", "HR", "CY", "CZ", "DK", "EE", "FI", "FR", "DE", "GR", "HU",
                 "IE", "IT", "LV", "LT", "LU", "MT", "NL", "PL", "PT", "RO", "SK", "SI", "ES",
                 "SE", "IS", "LI", "NO")
TRANSFER_BASES = ("adequacy-decision", "standard-contractual-clauses",
                  "binding-corporate-rules")
# Categories whose hosting or access needs an HDS-certified vendor (code de la santé
# publique, art. L.1111-8).
HEALTH_DATA = ("health", "ins")


def _country(value: str) -> str:
    if not re.fullmatch(r"[A-Z]{2}", value):
        raise ValueError(f"{value!r} is not a country code: two capital letters (ISO 3166), "
                         "e.g. FR")
    return value


def _path_glob(value: str) -> str:
    if not value.startswith("/"):
        raise ValueError(f"path pattern {value!r} must be absolute (start with '/')")
    if "\x00" in value:
        raise ValueError("path pattern contains a NUL character")
    return value


def _host_port(value: str) -> str:
    host, sep, port = value.rpartition(":")
    if not sep or not host or not port.isdigit() or not 1 <= int(port) <= 65535:
        raise ValueError(f"{value!r} is not host:port, e.g. '127.0.0.1:5432'")
    if not _HOST.match(host):
        raise ValueError(f"{host!r} is not a host name or address")
    return value


Slug = Annotated[str, _matching(_SLUG, "vendor id", "lower-case letters, digits and '-'")]
Ident = Annotated[str, _matching(_IDENT, "technician id",
                                 "lower-case letters, digits, '.', '_' and '-', no '+'")]
StaffName = Annotated[str, _matching(re.compile(r"^[a-z][a-z0-9._-]{1,63}$"), "staff user name",
                                     "a console user name, as in 'bastion staff add'")]
TargetName = Annotated[str, _matching(_TARGET, "target name",
                                      "lower-case letters, digits, '.' and '-'")]
AccountName = Annotated[str, _matching(_ACCOUNT, "account name", "a Unix user name")]
LabelKey = Annotated[str, _matching(_LABEL_KEY, "label name",
                                    "lower-case letters, digits, '.', '_', '/' and '-'")]
Email = Annotated[str, _matching(_EMAIL, "e-mail address", "write it name@domain")]
DataCategory = Annotated[str, AfterValidator(_data_category),
                         Field(json_schema_extra={"enum": list(DATA_CATEGORIES)})]
Day = Annotated[str, AfterValidator(_day), Field(json_schema_extra={"enum": list(DAYS)})]
Clock = Annotated[str, AfterValidator(_clock),
                  Field(json_schema_extra={"pattern": _CLOCK.pattern})]
EndClock = Annotated[str, AfterValidator(_end_clock),
                     Field(json_schema_extra={"pattern": r"^(([01]\d|2[0-3]):[0-5]\d|24:00)$"})]
TimeZone = Annotated[str, AfterValidator(_time_zone)]
PublicKeyLine = Annotated[str, AfterValidator(_public_key)]
Regex = Annotated[str, AfterValidator(_regex)]
PathGlob = Annotated[str, AfterValidator(_path_glob)]
HostPort = Annotated[str, AfterValidator(_host_port)]
Text = Annotated[str, Field(min_length=1, max_length=500)]
ShortText = Annotated[str, Field(min_length=1, max_length=200)]
Reference = Annotated[str, Field(min_length=1, max_length=200), AfterValidator(_reference)]
Country = Annotated[str, AfterValidator(_country)]
Approvers = Annotated[int, Field(ge=1, le=3)]


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class VendorInfo(_Strict):
    id: Slug = Field(description="Short identifier of the vendor in the bastion, e.g. 'medilogic'.")
    name: ShortText = Field(description="Legal name of the vendor company.")
    contract_owner_email: Email | None = Field(
        None, description="The vendor's contract owner, told when the DPO judges one of its "
                          "technicians' emergency accesses unjustified.")


class HdsCertificate(_Strict):
    """The vendor's HDS certificate (hébergeur de données de santé)."""

    number: Reference = Field(description="The certificate's number.")
    valid_until: date = Field(description="Last day (included) of the certificate.")


class DataLocation(_Strict):
    """Where the vendor processes the hospital's data (its staff working on the servers
    included), and the legal basis of any transfer outside the EU/EEA (GDPR chapter V)."""

    countries: list[Country] = Field(
        min_length=1, description="ISO 3166 codes of the countries, e.g. [FR] or [FR, MA].")
    transfer_basis: Literal[
        "adequacy-decision", "standard-contractual-clauses", "binding-corporate-rules"] | None = \
        Field(None, description="Required when a country is outside the EU/EEA.")
    transfer_reference: Reference | None = Field(
        None, description="The decision or the signed clauses, e.g. 'SCC 2021/914 module 3, "
                          "annexe 4 of the DPA'.")

    @model_validator(mode="after")
    def _transfers_have_a_basis(self) -> DataLocation:
        outside = sorted(set(self.countries) - set(EEA_COUNTRIES))
        if outside and (self.transfer_basis is None or self.transfer_reference is None):
            raise ValueError(
                f"{', '.join(outside)} {'is' if len(outside) == 1 else 'are'} outside the EU/EEA: "
                "a transfer needs transfer_basis (adequacy-decision, "
                "standard-contractual-clauses or binding-corporate-rules) and transfer_reference")
        return self


class ContractInfo(_Strict):
    reference: ShortText = Field(description="The signed contract's reference.")
    dpa_reference: Reference = Field(
        description="Reference of the GDPR article 28 data processing agreement.")
    valid_from: date = Field(description="First day the contract allows access.")
    valid_until: date = Field(description="Last day (included) the contract allows access.")
    hds_certificate: HdsCertificate | None = Field(
        None, description="Required when scope.data_categories include health or ins.")
    data_location: DataLocation | None = Field(
        None, description="Where the vendor processes the data; outside the EU/EEA only with "
                          "a legal basis.")

    @field_validator("valid_until")
    @classmethod
    def _ordered(cls, value: date, info: ValidationInfo) -> date:
        start = info.data.get("valid_from")
        if start is not None and value < start:
            raise ValueError(f"{value} is before valid_from {start}")
        return value


class Subprocessor(_Strict):
    name: ShortText = Field(description="Legal name, as written in technicians' 'employer'.")
    dpa_reference: Reference = Field(
        description="Reference of the article 28 agreement binding this subprocessor.")
    location: ShortText | None = Field(None, description="Where its staff work from.")


class TechnicianEntry(_Strict):
    id: Ident = Field(description="Personal login at the bastion, e.g. 'jdupont'. Never shared.")
    full_name: ShortText
    email: Email
    employer: ShortText = Field(
        description="The vendor's name, or the name of one of its declared subprocessors.")
    valid_until: date | None = Field(
        None, description="Last day (included) this person may connect, if before the contract's.")
    keys: list[PublicKeyLine] = Field(
        default_factory=list, description="SSH public keys, one OpenSSH line each.")


class TargetRule(_Strict):
    name: TargetName | None = Field(None, description="One target, by its inventory name.")
    labels: dict[LabelKey, ShortText] | None = Field(
        None, description="Every target carrying all these labels.")
    accounts: list[AccountName] = Field(
        min_length=1, description="Accounts the vendor may open on these targets.")

    @model_validator(mode="after")
    def _one_selector(self) -> TargetRule:
        if (self.name is None) == (self.labels is None):
            raise ValueError("give exactly one of 'name' or 'labels'")
        if self.labels is not None and not self.labels:
            raise ValueError("'labels' must name at least one label")
        return self


class Window(_Strict):
    days: list[Day] = Field(description="Days the window opens (mon ... sun).")
    start: Clock = Field(description="Opening time, 'HH:MM'.")
    end: EndClock = Field(
        description="Closing time, 'HH:MM' ('24:00' for midnight); before 'start' means the "
                    "window runs past midnight into the next day.")


class Scope(_Strict):
    targets: list[TargetRule] = Field(min_length=1)
    data_categories: list[DataCategory] = Field(
        description="Kinds of data the vendor may reach; targets holding any other kind are "
                    "out of scope.")
    windows: list[Window] = Field(description="Maintenance windows, in the contract's time zone.")
    max_session_minutes: int = Field(ge=1, le=24 * 60)
    max_concurrent_sessions: int = Field(1, ge=1, le=50)
    concurrency: Literal["technician", "vendor"] = Field(
        "technician", description="Whether max_concurrent_sessions counts per person or for the "
                                  "whole vendor.")
    idle_timeout_minutes: int | None = Field(None, ge=1, le=24 * 60)


class SftpPolicy(_Strict):
    access: Literal["none", "read", "read-write"] = "none"
    allow: list[PathGlob] = Field(default_factory=list, description="Paths the vendor may reach.")
    deny: list[PathGlob] = Field(default_factory=list, description="Exceptions to 'allow'.")
    case_insensitive: bool = Field(
        False, description="The targets' file names ignore case (e.g. Windows): patterns then "
                           "ignore case too. Extensions ('*.pem') always ignore case.")


class Channels(_Strict):
    shell: bool = False
    exec: bool = False
    sftp: SftpPolicy = SftpPolicy()
    forwards: list[HostPort] = Field(
        default_factory=list, description="host:port the vendor may reach, seen from the target.")


class CommandRuleEntry(_Strict):
    pattern: Regex = Field(description="Regular expression searched in each command.")
    action: Literal["deny", "flag"]
    reason: Text = Field(description="Shown to the technician and in the audit.")
    case_sensitive: bool = False


class BreakGlass(_Strict):
    allowed: bool = False
    max_minutes: int = Field(60, ge=5, le=240)
    outside_windows: bool = Field(
        False, description="Whether an emergency may open outside the maintenance windows.")
    on_sensitive: Literal["read_only", "acknowledged"] = Field(
        "read_only", description="On servers holding health or INS data: 'read_only' (the "
                                 "emergency opens at once, SFTP read only) or 'acknowledged' "
                                 "(it opens fully once one on-call approver acknowledges it "
                                 "with a security key; until then the technician waits).")
    on_call: list[StaffName] = Field(
        default_factory=list, description="Console user names of the approvers on call for "
                                          "this vendor's emergencies (required with "
                                          "on_sensitive: acknowledged).")
    acknowledgement_minutes: int = Field(
        15, ge=2, le=60, description="How long the technician waits for an acknowledgement "
                                     "before the emergency is refused.")

    @model_validator(mode="after")
    def _on_call_named(self) -> BreakGlass:
        if self.on_sensitive == "acknowledged" and not self.on_call:
            raise ValueError("on_sensitive: acknowledged needs 'on_call': the user names of "
                             "the approvers who may acknowledge an emergency")
        if len(set(self.on_call)) != len(self.on_call):
            raise ValueError("'on_call' names someone twice")
        return self


class Approval(_Strict):
    approvers: Approvers = 1
    approvers_by_data_category: dict[DataCategory, Approvers] = Field(
        default_factory=dict,
        description="More approvers when the target holds these data, e.g. {health: 2}.")
    break_glass: BreakGlass = BreakGlass()


SecondFactorMethod = Literal["security_key", "totp"]


class SecondFactorException(_Strict):
    """Why this vendor's technicians may sign in with one factor, and until when."""

    reason: Text = Field(description="Why the second factor is switched off (shown to the DPO).")
    until: date = Field(description="Last day (included) of the exception; from the next day "
                                    "the second factor is required again.")


class Authentication(_Strict):
    """The technicians' second factor (ANS rules for remote access to health systems)."""

    second_factor: Literal["required", "off"] | None = Field(
        None, description="'required' (the rule from 2026), 'off' (an exception: give "
                          "'exception' with its reason and last day), or absent to follow "
                          "the bastion's setting.")
    exception: SecondFactorException | None = Field(
        None, description="Required with second_factor: off.")
    methods: list[SecondFactorMethod] = Field(
        default_factory=lambda: ["security_key", "totp"], min_length=1,
        description="Second factors accepted: a FIDO2 security-key SSH key (sk-ssh-ed25519, "
                    "sk-ecdsa) and/or a one-time code (TOTP) after the registered key.")
    security_key_verify_required: bool = Field(
        False, description="Security keys must verify the person (PIN or biometrics), not "
                           "just be touched: keys created with 'ssh-keygen -O verify-required'.")

    @model_validator(mode="after")
    def _off_is_an_exception(self) -> Authentication:
        if self.second_factor == "off" and self.exception is None:
            raise ValueError("second_factor: off is only accepted as an exception: add "
                             "'exception:' with its 'reason' and its last day 'until'")
        if self.second_factor != "off" and self.exception is not None:
            raise ValueError("'exception' only goes with second_factor: off")
        return self


class Contract(_Strict):
    time_zone: TimeZone = Field(
        "Europe/Paris", description="Time zone of every date and window in this contract.")
    language: Literal["fr", "en"] = Field(
        "fr", description="Language of what the bastion tells this vendor's technicians "
                          "(SSH lines, refusals, e-mails): fr or en.")
    vendor: VendorInfo
    contract: ContractInfo
    subprocessors: list[Subprocessor] = Field(default_factory=list)
    technicians: list[TechnicianEntry] = Field(default_factory=list)
    scope: Scope
    channels: Channels = Channels()
    command_rules: list[CommandRuleEntry] = Field(default_factory=list)
    approval: Approval = Approval()
    authentication: Authentication = Field(default_factory=Authentication)

    @property
    def reference(self) -> str:
        return self.contract.reference

    @property
    def zone(self) -> ZoneInfo:
        return ZoneInfo(self.time_zone)

    def technician(self, ident: str) -> TechnicianEntry | None:
        return next((t for t in self.technicians if t.id == ident), None)

    def employers(self) -> set[str]:
        return {self.vendor.name, *(s.name for s in self.subprocessors)}

    def allowed_channels(self) -> frozenset[str]:
        channels = {name for name in ("shell", "exec") if getattr(self.channels, name)}
        if self.channels.sftp.access != "none":
            channels.add("sftp")
        if self.channels.forwards:
            channels.add("forward")
        return frozenset(channels)


def export_json_schema() -> str:
    """The JSON Schema committed as ``contracts/schema.json``."""
    schema = Contract.model_json_schema()
    schema["$id"] = "https://dpi-bastion.invalid/contracts/schema.json"
    schema["title"] = "Vendor maintenance contract"
    return json.dumps(schema, indent=2, ensure_ascii=False, sort_keys=True) + "\n"


if __name__ == "__main__":
    print(export_json_schema(), end="")

"""The policy decision point: may this technician reach this target now, and within what?

Pure: no I/O, no database, no clock. Every caller passes the time and an inventory
snapshot, so the same question always gets the same answer, and tests can ask any
question at any instant. Every failure is collected (not just the first), so the audit
event says everything that was wrong; the technician gets one line.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from bastion.i18n.marker import N_, Phrase, phrase_to_dict

from .constraints import CommandRule, Constraints, SftpRules, parse_host_port
from .schema import HEALTH_DATA, Contract, TargetRule
from .windows import day_end, day_start, next_opening, open_until

REQUEST = "request"
# A target whose file names ignore case carries this label (value "insensitive"); its path
# patterns then ignore case, as if the contract said channels.sftp.case_insensitive.
PATH_CASE_LABEL = "path-case"
QUERY_CHANNELS = ("shell", "exec", "sftp", "forward", REQUEST)


@dataclass(frozen=True)
class TargetFacts:
    """What the inventory says about one target, when the question is asked."""

    name: str
    labels: Mapping[str, str]
    data_categories: frozenset[str]
    accounts: tuple[str, ...]


@dataclass(frozen=True)
class AccessQuery:
    technician: str
    target: TargetFacts
    account: str | None  # None: the contract's only account on that target
    channel: str  # shell | exec | sftp | forward | request (a request for a window)
    at: datetime
    window_end: datetime | None = None  # the requested end, for requests
    active_sessions: int = 0  # live sessions, counted as the contract's 'concurrency' says
    break_glass: bool = False
    # The window is granted as asked or refused, never shortened: what an approver signs
    # is what the technician gets. False: the end is capped at the ceiling (break-glass's
    # fixed duration, re-checking a grant against a new contract version).
    whole_window: bool = False
    # An emergency an on-call approver acknowledged (on_sensitive: acknowledged): it opens
    # fully, as the contract's channels allow.
    acknowledged: bool = False


@dataclass(frozen=True)
class Decision:
    allowed: bool
    reasons: tuple[str, ...]
    constraints: Constraints | None
    contract_reference: str
    codes: tuple[str, ...] = ()  # machine-readable failure codes, in the order of reasons
    headline: str = ""  # the technician's one line (no list of what exists or is allowed)
    # The same line as a catalogue message and its parameters, put into the reader's
    # language at the edge (bastion.i18n); the contract says the technician's language.
    phrase: Phrase | None = None
    language: str = "fr"
    time_zone: str = "Europe/Paris"
    # Each reason as a catalogue phrase, in the order of ``reasons`` (None where there is
    # none): approvers read them in their language, the audit keeps the English.
    details: tuple[Phrase | None, ...] = ()

    def summary(self) -> str:
        if self.allowed:
            return f"allowed: {self.headline}"
        return f"refused: {self.headline}"

    def to_dict(self) -> dict[str, object]:
        """JSON form, e.g. for ``access_requests.verdict``."""
        return {
            "allowed": self.allowed,
            "reasons": list(self.reasons),
            "details": [phrase_to_dict(p) if p else None for p in self.details],
            "codes": list(self.codes),
            "summary": self.summary(),
            "phrase": phrase_to_dict(self.phrase) if self.phrase else None,
            "contract_reference": self.contract_reference,
            "constraints": self.constraints.to_dict() if self.constraints else None,
        }


@dataclass
class _Findings:
    failures: list[tuple[str, Phrase, Phrase]] = field(default_factory=list)  # code, detail, line
    checked: list[Phrase] = field(default_factory=list)

    def fail(self, code: str, detail: Phrase, headline: Phrase | None = None) -> None:
        """``detail`` is everything that is wrong: its English is the audit trail's reason,
        approvers read it in their language. ``headline`` is the technician's line (the
        detail itself when they may read all of it); both are translated at the edge."""
        self.failures.append((code, detail, headline or detail))

    def check(self, message: str, **params: object) -> None:
        self.checked.append(Phrase.of(message, **params))


def refuse(reference: str, code: str, reason: str, headline: Phrase,
           language: str = "fr", detail: Phrase | None = None) -> Decision:
    """A denial decided before a contract could be consulted (e.g. none is current).
    ``detail``: the reason as a catalogue phrase, when its English is ``reason``."""
    return Decision(False, (reason,), None, reference, (code,), headline.english(), headline,
                    language, details=(detail,))


def matching_rules(contract: Contract, target: TargetFacts) -> list[TargetRule]:
    return [rule for rule in contract.scope.targets if rule_matches(rule, target)]


def rule_matches(rule: TargetRule, target: TargetFacts) -> bool:
    if rule.name is not None:
        return rule.name == target.name
    labels = rule.labels or {}
    return all(target.labels.get(key) == value for key, value in labels.items())


def approvers_required(contract: Contract, target: TargetFacts) -> int:
    extra = contract.approval.approvers_by_data_category
    return max([contract.approval.approvers,
                *(extra[c] for c in target.data_categories if c in extra)])


def decide(contract: Contract, query: AccessQuery) -> Decision:
    """Allowed or not, with every reason and, for an allow, the constraints."""
    try:
        return _decide(contract, query)
    except Exception as exc:  # noqa: BLE001 - invariant 2: an error in policy denies
        detail = Phrase.of(N_("policy error: {error}"), error=repr(exc))
        return refuse(contract.reference, "policy_error", detail.english(),
                      Phrase(N_("internal error: access refused; contact the hospital's IT")),
                      contract.language, detail)


def _decide(contract: Contract, query: AccessQuery) -> Decision:
    if query.at.tzinfo is None or (query.window_end and query.window_end.tzinfo is None):
        # A naive time here would be read in the server's zone: refuse rather than guess.
        detail = Phrase(N_("the time asked about has no time zone"))
        return refuse(contract.reference, "naive_time", detail.english(),
                      Phrase(N_("internal error: the bastion could not tell the time; try again")),
                      contract.language, detail)
    found = _Findings()
    ref = contract.reference
    zone = contract.zone
    at = query.at
    ends: dict[Phrase, datetime] = {}

    info = contract.contract
    if at < day_start(info.valid_from, zone):
        found.fail("contract_not_yet_valid",
                   Phrase.of(N_("contract {contract} is valid only from {day}"), contract=ref,
                             day=info.valid_from))
    elif at >= day_end(info.valid_until, zone):
        found.fail("contract_expired",
                   Phrase.of(N_("contract {contract} expired on {day}"), contract=ref,
                             day=info.valid_until))
    else:
        ends[Phrase(N_("the contract's end"))] = day_end(info.valid_until, zone)
        found.check(N_("contract {contract} valid {start} to {end}"), contract=ref,
                    start=info.valid_from, end=info.valid_until)

    _check_technician(contract, query, found, ends)
    _check_hds(contract, query, found, ends)
    target = query.target
    rules = matching_rules(contract, target)
    if not rules:
        found.fail("target_out_of_scope",
                   Phrase.of(N_("target {target} matches no target rule of contract {contract}"),
                             target=target.name, contract=ref),
                   Phrase.of(N_("target {target} is outside contract {contract}'s scope"),
                             target=target.name, contract=ref))
    else:
        found.check(N_("target {target} in scope"), target=target.name)
    _check_data(contract, target, found)
    account = _check_account(contract, query, rules, found)
    if query.break_glass:
        _check_break_glass(contract, query, found, ends)
    if not (query.break_glass and contract.approval.break_glass.outside_windows):
        _check_window(contract, query, found, ends)
    _check_channel(contract, query, found)
    _check_concurrency(contract, query, found)

    ends[Phrase.of(N_("the maximum session length, {minutes} min"),
                   minutes=contract.scope.max_session_minutes)] = (
        at + timedelta(minutes=contract.scope.max_session_minutes))
    if query.window_end is not None:
        if query.window_end <= at:
            found.fail("empty_request",
                       Phrase(N_("the requested end is not after the requested start")))
        if query.whole_window:
            _check_whole_window(contract, query.window_end, ends, found)
        ends[Phrase(N_("the requested end"))] = query.window_end

    if found.failures:
        codes, details, headlines = zip(*found.failures, strict=True)
        return Decision(False, tuple(d.english() for d in details), None, ref, tuple(codes),
                        headlines[0].english(), headlines[0], contract.language,
                        contract.time_zone, tuple(details))

    if account is None:  # unreachable without a failure above; fail closed regardless
        line = Phrase.of(N_("no account settled on {target}"), target=target.name)
        return refuse(ref, "account_none", line.english(), line, contract.language, line)
    bound = min(ends, key=lambda name: ends[name])
    latest_end = ends[bound]
    found.check(N_("access ends {end} ({bound})"), end=latest_end.astimezone(contract.zone),
                bound=bound)
    constraints = _constraints(contract, query, account, latest_end)
    headline = Phrase.of(N_("{account}@{target} until {until} under contract {contract}"),
                         account=account, target=target.name,
                         until=latest_end.astimezone(contract.zone), contract=ref)
    return Decision(True, tuple(p.english() for p in found.checked), constraints, ref, (),
                    headline.english(), headline, contract.language, contract.time_zone,
                    tuple(found.checked))


def _check_whole_window(contract: Contract, end: datetime, ends: dict[Phrase, datetime],
                        found: _Findings) -> None:
    """A window that ends after the contract's ceiling is refused, naming the ceiling."""
    bound = min(ends, key=lambda name: ends[name])
    if end > ends[bound]:
        found.fail("window_too_long",
                   Phrase.of(N_("the requested end {end} is after {bound} ({latest}): ask for "
                                "an end no later than {latest}"),
                             end=end.astimezone(contract.zone), bound=bound,
                             latest=ends[bound].astimezone(contract.zone)),
                   Phrase.of(N_("the window asked for ends after {bound}: ask for an end no "
                                "later than {latest}"),
                             bound=bound, latest=ends[bound].astimezone(contract.zone)))


def _check_technician(contract: Contract, query: AccessQuery, found: _Findings,
                      ends: dict[Phrase, datetime]) -> None:
    ref = contract.reference
    entry = contract.technician(query.technician)
    if entry is None:
        found.fail("technician_not_named",
                   Phrase.of(N_("technician {technician} is not named in contract {contract}"),
                             technician=query.technician, contract=ref))
        return
    if entry.employer not in contract.employers():
        found.fail("employer_not_declared",
                   Phrase.of(N_("technician {technician}'s employer {employer} is neither the "
                                "vendor nor a declared subprocessor of contract {contract}"),
                             technician=entry.id, employer=repr(entry.employer), contract=ref),
                   Phrase.of(N_("your employer is not declared in contract {contract}"),
                             contract=ref))
    if entry.valid_until is not None:
        end = day_end(entry.valid_until, contract.zone)
        if query.at >= end:
            found.fail("technician_expired",
                       Phrase.of(N_("technician {technician}'s authorisation under contract "
                                    "{contract} ended on {day}"),
                                 technician=entry.id, contract=ref, day=entry.valid_until),
                       Phrase.of(N_("your authorisation under contract {contract} ended on "
                                    "{day}"), contract=ref, day=entry.valid_until))
            return
        ends[Phrase(N_("the technician's own end date"))] = end
    found.check(N_("technician {technician} named, employed by {employer}"),
                technician=entry.id, employer=entry.employer)


def _check_hds(contract: Contract, query: AccessQuery, found: _Findings,
               ends: dict[Phrase, datetime]) -> None:
    """Health or INS data are reached only while the vendor's HDS certificate holds."""
    # Health data outside the contract's scope are refused as such (data_out_of_scope).
    health = sorted(set(query.target.data_categories) & set(HEALTH_DATA)
                    & set(contract.scope.data_categories))
    if not health:
        return
    certificate = contract.contract.hds_certificate
    if certificate is None:
        found.fail("hds_certificate_missing",
                   Phrase.of(N_("contract {contract} records no HDS certificate, and target "
                                "{target} holds {categories} data"),
                             contract=contract.reference, target=query.target.name,
                             categories=", ".join(health)),
                   Phrase.of(N_("contract {contract} has no HDS certificate for health data; "
                                "the hospital's IT must record it"),
                             contract=contract.reference))
    elif query.at >= day_end(certificate.valid_until, contract.zone):
        found.fail("hds_certificate_expired",
                   Phrase.of(N_("the vendor's HDS certificate {number} expired on {day}; "
                                "target {target} holds {categories} data"),
                             number=certificate.number, day=certificate.valid_until,
                             target=query.target.name, categories=", ".join(health)),
                   Phrase.of(N_("the vendor's HDS certificate expired on {day}: no access to "
                                "health data until the contract records a valid one"),
                             day=certificate.valid_until))
    else:
        ends[Phrase(N_("the HDS certificate's end"))] = day_end(certificate.valid_until, contract.zone)
        found.check(N_("HDS certificate {number} valid until {day}"),
                    number=certificate.number, day=certificate.valid_until)


def _check_data(contract: Contract, target: TargetFacts, found: _Findings) -> None:
    allowed = set(contract.scope.data_categories)
    if not set(target.data_categories):
        # Nothing says what the server holds, so nothing says the contract covers it:
        # no contract opens an unclassified target (fail closed).
        found.fail("target_unclassified",
                   Phrase.of(N_("target {target} has no data category, so no contract can "
                                "cover it; an admin must classify it (bastion targets "
                                "reclassify {target} --data ...)"), target=target.name),
                   Phrase.of(N_("target {target} is not classified yet; ask the hospital's IT "
                                "to classify it"), target=target.name))
        return
    extra = sorted(set(target.data_categories) - allowed)
    if extra:
        listed = ", ".join(extra)
        found.fail("data_out_of_scope",
                   Phrase.of(N_("target {target} holds {categories} data, outside contract "
                                "{contract}'s data scope ({allowed})") if allowed else
                             N_("target {target} holds {categories} data, outside contract "
                                "{contract}'s data scope (none)"),
                             target=target.name, categories=listed, contract=contract.reference,
                             allowed=", ".join(sorted(allowed))),
                   Phrase.of(N_("target {target} holds {categories} data, outside contract "
                                "{contract}'s scope"),
                             target=target.name, categories=listed, contract=contract.reference))
    else:
        found.check(N_("data categories held ({categories}) within the contract's scope"),
                    categories=", ".join(sorted(target.data_categories)))


def _check_account(contract: Contract, query: AccessQuery, rules: list[TargetRule],
                   found: _Findings) -> str | None:
    ref, target = contract.reference, query.target
    allowed = [a for a in dict.fromkeys(a for rule in rules for a in rule.accounts)
               if a in target.accounts]
    if query.account is not None:
        if query.account not in target.accounts:
            found.fail("account_unknown",
                       Phrase.of(N_("target {target} has no account {account}"),
                                 target=target.name, account=query.account))
        elif query.account not in allowed:
            found.fail("account_not_allowed",
                       Phrase.of(N_("account {account} on {target} is not allowed by contract "
                                    "{contract} (allowed there: {allowed})") if allowed else
                                 N_("account {account} on {target} is not allowed by contract "
                                    "{contract} (allowed there: none)"),
                                 account=query.account, target=target.name, contract=ref,
                                 allowed=", ".join(allowed)),
                       Phrase.of(N_("account {account} on {target} is not allowed by contract "
                                    "{contract}"),
                                 account=query.account, target=target.name, contract=ref))
        else:
            found.check(N_("account {account} allowed"), account=query.account)
            return query.account
        return None
    if not rules:
        return None  # already refused as out of scope; no account to settle
    if len(allowed) == 1:
        found.check(N_("account {account} (the only one allowed on {target})"),
                    account=allowed[0], target=target.name)
        return allowed[0]
    if not allowed:
        found.fail("account_none",
                   Phrase.of(N_("contract {contract} allows no account that exists on {target}"),
                             contract=ref, target=target.name))
    else:
        found.fail("account_ambiguous",
                   Phrase.of(N_("contract {contract} allows several accounts on {target} "
                                "({accounts}) and none was named"),
                             contract=ref, target=target.name, accounts=", ".join(allowed)),
                   Phrase.of(N_("several accounts are possible on {target}: name one, as "
                                "{technician}+{target}+ACCOUNT"),
                             target=target.name, technician=query.technician))
    return None


def _check_break_glass(contract: Contract, query: AccessQuery, found: _Findings,
                       ends: dict[Phrase, datetime]) -> None:
    rules = contract.approval.break_glass
    if not rules.allowed:
        found.fail("break_glass_not_allowed",
                   Phrase.of(N_("contract {contract} does not allow break-glass access"),
                             contract=contract.reference))
        return
    ends[Phrase.of(N_("the break-glass maximum, {minutes} min"), minutes=rules.max_minutes)] = (
        query.at + timedelta(minutes=rules.max_minutes))
    found.check(N_("break-glass allowed by the contract"))


def _check_window(contract: Contract, query: AccessQuery, found: _Findings,
                  ends: dict[Phrase, datetime]) -> None:
    windows = contract.scope.windows
    until = open_until(windows, contract.zone, query.at)
    if until is not None:
        ends[Phrase(N_("the maintenance window's end"))] = until
        found.check(N_("inside a maintenance window (until {until})"),
                    until=until.astimezone(contract.zone))
        return
    upcoming = next_opening(windows, contract.zone, query.at)
    contract_end = day_end(contract.contract.valid_until, contract.zone)
    if upcoming is None or upcoming >= contract_end:
        when = Phrase(N_("no maintenance window opens before the contract ends"))
    else:
        when = Phrase.of(N_("the next window opens {at}"), at=upcoming.astimezone(contract.zone))
    found.fail("outside_window",
               Phrase.of(N_("{at} is outside contract {contract}'s maintenance windows; {when}"),
                         at=query.at.astimezone(contract.zone), contract=contract.reference,
                         when=when),
               Phrase.of(N_("outside the maintenance windows of contract {contract}; {when}"),
                         contract=contract.reference, when=when))


def read_only_emergency(contract: Contract, query: AccessQuery) -> list[str]:
    """The health or INS data that make this emergency read-only (empty: not read-only).

    An emergency opens without anyone's approval: on a server holding health or INS data
    it may only read (SFTP read of the contract's allowed paths), which the bastion can
    enforce operation by operation; a shell or a command could change anything."""
    if not query.break_glass or contract.approval.break_glass.on_sensitive != "read_only":
        return []
    return sorted(set(query.target.data_categories) & set(HEALTH_DATA)
                  & set(contract.scope.data_categories))


def acknowledgement_needed(contract: Contract, query: AccessQuery) -> tuple[str, ...]:
    """The on-call approvers one of whom must acknowledge this emergency before it opens
    (empty: none needed).

    Under ``on_sensitive: acknowledged`` an emergency on health or INS data opens with the
    contract's full channels, but only once a named on-call approver has acknowledged it:
    a second person has then seen the justification, as the CNIL's *bris de glace* fiche
    asks, without the delay of a normal request."""
    rules = contract.approval.break_glass
    if (not query.break_glass or query.acknowledged or rules.on_sensitive != "acknowledged"
            or not set(query.target.data_categories) & set(HEALTH_DATA)
            & set(contract.scope.data_categories)):
        return ()
    return tuple(rules.on_call)


def _check_channel(contract: Contract, query: AccessQuery, found: _Findings) -> None:
    held = read_only_emergency(contract, query)
    if held and (query.channel in ("shell", "exec", "forward")
                 or (query.channel == REQUEST and contract.channels.sftp.access == "none")):
        found.fail("break_glass_read_only",
                   Phrase.of(N_("target {target} holds {categories} data: an emergency access "
                                "there is read-only (SFTP read), and {channel} is not"),
                             target=query.target.name, categories=", ".join(held),
                             channel=query.channel),
                   Phrase.of(N_("an emergency access on {target} (health data) is read-only: "
                                "SFTP read only; for more, ask an approver for a normal request"),
                             target=query.target.name))
        return
    if query.channel == REQUEST:
        return
    if query.channel not in QUERY_CHANNELS:
        found.fail("channel_unknown",
                   Phrase.of(N_("unknown channel {channel}"), channel=repr(query.channel)),
                   Phrase.of(N_("unknown channel {channel}"), channel=query.channel))
    elif query.channel not in contract.allowed_channels():
        found.fail("channel_not_allowed",
                   Phrase.of(N_("channel {channel} is not allowed by contract {contract}"),
                             channel=query.channel, contract=contract.reference))
    else:
        found.check(N_("channel {channel} allowed"), channel=query.channel)


def _check_concurrency(contract: Contract, query: AccessQuery, found: _Findings) -> None:
    if query.channel == REQUEST:
        return  # a window asked for (often ahead) is not a session opened now
    scope = contract.scope
    if query.active_sessions >= scope.max_concurrent_sessions:
        per = (Phrase(N_("per technician")) if scope.concurrency == "technician"
               else Phrase(N_("for the whole vendor")))
        found.fail("too_many_sessions",
                   Phrase.of(N_("{sessions} live session(s) already; contract {contract} "
                                "allows {allowed} {per}"),
                             sessions=query.active_sessions, contract=contract.reference,
                             allowed=scope.max_concurrent_sessions, per=per),
                   Phrase.of(N_("too many sessions already open (contract {contract} allows "
                                "{allowed}); close one and try again"),
                             contract=contract.reference, allowed=scope.max_concurrent_sessions))
    else:
        found.check(N_("{sessions} of {allowed} concurrent sessions in use"),
                    sessions=query.active_sessions, allowed=scope.max_concurrent_sessions)


def _constraints(contract: Contract, query: AccessQuery, account: str,
                 latest_end: datetime) -> Constraints:
    channels = contract.channels
    sftp = channels.sftp
    on_call = acknowledgement_needed(contract, query) if query.channel == REQUEST else ()
    forwards = frozenset(parse_host_port(item) for item in channels.forwards)
    allowed = contract.allowed_channels()
    access = sftp.access
    if read_only_emergency(contract, query):
        allowed, forwards = allowed & {"sftp"}, frozenset()
        access = "read" if access != "none" else "none"
    return Constraints(
        account=account,
        not_before=query.at,
        latest_end=latest_end,
        channels=allowed,
        sftp=SftpRules(access, tuple(sftp.allow), tuple(sftp.deny),
                       sftp.case_insensitive
                       or query.target.labels.get(PATH_CASE_LABEL) == "insensitive"),
        forwards=forwards,
        command_rules=tuple(CommandRule(r.pattern, r.action, r.reason, r.case_sensitive)
                            for r in contract.command_rules),
        approvers_required=approvers_required(contract, query.target),
        break_glass=query.break_glass,
        break_glass_allowed=contract.approval.break_glass.allowed,
        break_glass_max_minutes=contract.approval.break_glass.max_minutes,
        max_session_minutes=contract.scope.max_session_minutes,
        idle_timeout_minutes=contract.scope.idle_timeout_minutes,
        contract_reference=contract.reference,
        time_zone=contract.time_zone,
        acknowledgement_by=on_call,
        acknowledgement_minutes=contract.approval.break_glass.acknowledgement_minutes
        if on_call else 0,
    )

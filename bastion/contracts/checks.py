"""``contracts check``: every static problem of a set of contract files, with file and line.

Files are checked together, because some problems only show across files (one key on
two technicians of different vendors, one technician id in two contracts), and against
an inventory snapshot when there is one (unknown targets, labels, accounts, and keys
already registered for someone else).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from itertools import combinations
from pathlib import Path

from .engine import TargetFacts, rule_matches
from .parsing import ParsedContract, Problem, parse_contract
from .schema import HEALTH_DATA, Contract, TargetRule
from .sshkeys import inspect_key, weakness
from .windows import day_end, describe_minute, weekly_spans

CONTRACT_SUFFIXES = (".yaml", ".yml")
HDS_WARNING_DAYS = 60


@dataclass(frozen=True)
class Inventory:
    """What the database holds that contracts refer to."""

    targets: tuple[TargetFacts, ...] = ()
    key_owners: Mapping[str, str] = field(default_factory=dict)  # fingerprint -> technician
    technician_vendors: Mapping[str, str] = field(default_factory=dict)  # technician -> vendor
    approvers: frozenset[str] | None = None  # active approvers' user names (None: unknown)


@dataclass
class CheckReport:
    files: list[ParsedContract]
    problems: list[Problem]
    notes: list[str] = field(default_factory=list)
    # Accepted, but the DPO must know (exceptions, deadlines coming up) or likely not meant.
    warnings: list[Problem] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.problems


def expand_paths(paths: Iterable[Path]) -> list[Path]:
    """Files as given; a folder stands for the contract files directly inside it."""
    out: list[Path] = []
    for path in paths:
        if path.is_dir():
            out.extend(sorted(p for p in path.iterdir()
                              if p.suffix in CONTRACT_SUFFIXES and p.is_file()))
        else:
            out.append(path)
    return out


def check_paths(paths: Iterable[Path], inventory: Inventory | None,
                now: datetime) -> CheckReport:
    sources: list[tuple[str, str]] = []
    unreadable: list[Problem] = []
    for path in expand_paths(paths):
        try:
            sources.append((str(path), path.read_text(encoding="utf-8")))
        except UnicodeDecodeError:
            unreadable.append(Problem(str(path), 1, "not a UTF-8 text file"))
        except OSError as exc:
            unreadable.append(Problem(str(path), 1, f"cannot be read: {exc.strerror}"))
    report = check_texts(sources, inventory, now)
    report.problems = sorted(unreadable + report.problems)
    return report


def check_texts(sources: Sequence[tuple[str, str]], inventory: Inventory | None,
                now: datetime) -> CheckReport:
    files = [parse_contract(text, path) for path, text in sources]
    problems = [p for parsed in files for p in parsed.problems]
    valid = [f for f in files if f.contract is not None]
    for parsed in valid:
        problems.extend(_file_problems(parsed, now))
    problems.extend(_cross_file_problems(valid, inventory))
    notes = []
    if inventory is None:
        notes.append("no initialised database: target, label and account references and "
                     "keys already registered were not checked")
    else:
        for parsed in valid:
            problems.extend(_inventory_problems(parsed, inventory))
    if not sources:
        notes.append("no contract file given")
    warnings = [w for parsed in valid for w in _file_warnings(parsed, now)]
    if inventory is not None and inventory.approvers is not None:
        warnings.extend(w for parsed in valid for w in _on_call_warnings(parsed,
                                                                         inventory.approvers))
    return CheckReport(files, sorted(set(problems)), notes, sorted(warnings))


def _file_warnings(parsed: ParsedContract, now: datetime) -> list[Problem]:
    contract = parsed.contract
    assert contract is not None
    out: list[Problem] = []
    hds = contract.contract.hds_certificate
    if hds is not None:
        left = (hds.valid_until - now.astimezone(contract.zone).date()).days
        if 0 <= left < HDS_WARNING_DAYS:
            out.append(Problem(parsed.path, parsed.lines.line(("contract", "hds_certificate")),
                               f"HDS certificate {hds.number} of vendor {contract.vendor.id} "
                               f"expires on {hds.valid_until}, in {left} day(s): ask for the "
                               "renewed certificate"))
    if contract.contract.data_location is None:
        out.append(Problem(parsed.path, parsed.lines.line(("contract",)),
                           "no contract.data_location: record where the vendor processes the "
                           "data (and the legal basis of any transfer outside the EU/EEA)"))
    exception = contract.authentication.exception
    if exception is not None:
        today = now.astimezone(contract.zone).date()
        state = (f"until {exception.until}" if today <= exception.until
                 else f"expired on {exception.until}: the second factor is required again")
        out.append(Problem(parsed.path, parsed.lines.line(("authentication", "exception")),
                           f"second factor off for vendor {contract.vendor.id} as an exception "
                           f"({exception.reason}), {state}"))
    channels = contract.channels
    if channels.exec and channels.sftp.access != "none":
        # scp -O and rsync over exec are checked against the paths; any other command is not.
        out.append(Problem(parsed.path, parsed.lines.line(("channels", "exec")),
                           "exec is allowed with SFTP path rules: scp and rsync are held to the "
                           "paths, but other commands (cat, tar...) can read what the rules "
                           "refuse; turn exec off if the paths must hold"))
    return out


def _file_problems(parsed: ParsedContract, now: datetime) -> list[Problem]:
    contract = parsed.contract
    assert contract is not None
    out: list[Problem] = []

    def problem(loc: tuple[str | int, ...], message: str) -> None:
        out.append(Problem(parsed.path, parsed.lines.line(loc), message))

    info = contract.contract
    if now >= day_end(info.valid_until, contract.zone):
        problem(("contract", "valid_until"),
                f"contract {info.reference} expired on {info.valid_until}")
    employers = contract.employers()
    for i, tech in enumerate(contract.technicians):
        if tech.employer not in employers:
            problem(("technicians", i, "employer"),
                    f"technician {tech.id}: employer {tech.employer!r} is neither the vendor "
                    f"{contract.vendor.name!r} nor a declared subprocessor (declare it under "
                    "'subprocessors' with its article 28 agreement)")
        if not tech.keys:
            problem(("technicians", i), f"technician {tech.id} has no SSH public key")
        for k, line in enumerate(tech.keys):
            weak = weakness(inspect_key(line))
            if weak:
                problem(("technicians", i, "keys", k), f"technician {tech.id}: {weak}")
    out.extend(_window_problems(parsed))
    hds = info.hds_certificate
    health = sorted(set(contract.scope.data_categories) & set(HEALTH_DATA))
    if health and hds is None:
        problem(("scope", "data_categories"),
                f"the vendor may reach {', '.join(health)} data: record its HDS certificate "
                "under contract.hds_certificate (number, valid_until)")
    if hds is not None and now >= day_end(hds.valid_until, contract.zone):
        problem(("contract", "hds_certificate", "valid_until"),
                f"HDS certificate {hds.number} expired on {hds.valid_until}: record the "
                "renewed certificate (health data are refused meanwhile)")
    sftp = contract.channels.sftp
    if sftp.access != "none" and not sftp.allow:
        problem(("channels", "sftp", "access"),
                f"SFTP access is {sftp.access} but no path is allowed: list the folders under "
                "channels.sftp.allow")
    return out


def _window_problems(parsed: ParsedContract) -> list[Problem]:
    contract = parsed.contract
    assert contract is not None
    windows = contract.scope.windows
    lines = parsed.lines
    out: list[Problem] = []
    if not windows:
        return [Problem(parsed.path, lines.line(("scope", "windows")),
                        "no maintenance window: the contract would never allow access")]
    for i, window in enumerate(windows):
        where = lines.line(("scope", "windows", i))
        if not window.days:
            out.append(Problem(parsed.path, where, f"window {i + 1} is empty: it has no days"))
        elif window.start == window.end:
            out.append(Problem(parsed.path, where,
                               f"window {i + 1} is empty: it opens and closes at {window.start}"))
        twice = sorted({d for d in window.days if window.days.count(d) > 1})
        if twice:
            out.append(Problem(parsed.path, where,
                               f"window {i + 1} lists {', '.join(twice)} more than once"))
    for (i, first), (j, second) in combinations(enumerate(windows), 2):
        overlap = _overlap(weekly_spans(first), weekly_spans(second))
        if overlap is not None:
            out.append(Problem(parsed.path, lines.line(("scope", "windows", j)),
                               f"windows {i + 1} and {j + 1} overlap from "
                               f"{describe_minute(overlap[0])} to {describe_minute(overlap[1])}"))
    return out


def _overlap(first: list[tuple[int, int]],
             second: list[tuple[int, int]]) -> tuple[int, int] | None:
    for a_start, a_end in first:
        for b_start, b_end in second:
            start, end = max(a_start, b_start), min(a_end, b_end)
            if start < end:
                return start, end
    return None


def _cross_file_problems(files: list[ParsedContract],
                         inventory: Inventory | None) -> list[Problem]:
    out: list[Problem] = []
    vendors: dict[str, str] = {}
    people: dict[str, str] = {}
    keys: dict[str, tuple[str, str]] = {}  # fingerprint -> (technician, where)
    batch = {t.id for f in files for t in f.contract.technicians}  # type: ignore[union-attr]
    for parsed in files:
        contract = parsed.contract
        assert contract is not None
        here = f"{parsed.path}:{parsed.lines.line(('vendor', 'id'))}"
        slug = contract.vendor.id
        if slug in vendors:
            out.append(Problem(parsed.path, parsed.lines.line(("vendor", "id")),
                               f"vendor {slug} already has a contract in {vendors[slug]}: "
                               "one file per vendor"))
        vendors.setdefault(slug, here)
        for i, tech in enumerate(contract.technicians):
            line = parsed.lines.line(("technicians", i))
            where = f"{parsed.path}:{line}"
            if tech.id in people:
                out.append(Problem(parsed.path, line,
                                   f"technician {tech.id} is already named in {people[tech.id]}"))
            people.setdefault(tech.id, where)
            if inventory is not None:
                owner_vendor = inventory.technician_vendors.get(tech.id)
                if owner_vendor is not None and owner_vendor != slug:
                    out.append(Problem(parsed.path, line,
                                       f"technician id {tech.id} already belongs to vendor "
                                       f"{owner_vendor} in the database"))
            for k, key_line in enumerate(tech.keys):
                fingerprint = inspect_key(key_line).fingerprint
                key_at = parsed.lines.line(("technicians", i, "keys", k))
                owner = keys.get(fingerprint)
                if owner is not None:
                    same = owner[0] == tech.id
                    out.append(Problem(parsed.path, key_at,
                                       f"key {fingerprint} is listed twice for technician "
                                       f"{tech.id}" if same else
                                       f"key {fingerprint} of technician {tech.id} is also "
                                       f"{owner[0]}'s ({owner[1]}): one key, one person"))
                    continue
                keys[fingerprint] = (tech.id, f"{parsed.path}:{key_at}")
                holder = (inventory.key_owners.get(fingerprint)
                          if inventory is not None else None)
                # Keys of technicians in this batch are replaced by the load; others stay.
                if holder is not None and holder != tech.id and holder not in batch:
                    out.append(Problem(parsed.path, key_at,
                                       f"key {fingerprint} of technician {tech.id} is already "
                                       f"registered for technician {holder}: one key, one "
                                       "person"))
    return out


def _inventory_problems(parsed: ParsedContract, inventory: Inventory) -> list[Problem]:
    contract = parsed.contract
    assert contract is not None
    out: list[Problem] = []
    names = {t.name: t for t in inventory.targets}
    for i, rule in enumerate(contract.scope.targets):
        matched = _matched(rule, inventory.targets)
        loc: tuple[str | int, ...] = ("scope", "targets", i)
        if rule.name is not None and rule.name not in names:
            out.append(Problem(parsed.path, parsed.lines.line((*loc, "name")),
                               f"unknown target {rule.name}: it is not in the inventory"))
            continue
        if rule.labels is not None and not matched:
            labels = ", ".join(f"{k}={v}" for k, v in sorted(rule.labels.items()))
            out.append(Problem(parsed.path, parsed.lines.line((*loc, "labels")),
                               f"no target in the inventory carries the label(s) {labels}"))
            continue
        for a, account in enumerate(rule.accounts):
            if not any(account in t.accounts for t in matched):
                on = ", ".join(t.name for t in matched)
                out.append(Problem(parsed.path, parsed.lines.line((*loc, "accounts", a)),
                                   f"account {account} does not exist on {on}"))
    return out


def _on_call_warnings(parsed: ParsedContract, approvers: frozenset[str]) -> list[Problem]:
    """On-call names that cannot acknowledge an emergency: accepted (staff may be added
    after the contract), but such an emergency would be refused until they are."""
    contract = parsed.contract
    assert contract is not None
    loc = ("approval", "break_glass", "on_call")
    return [Problem(parsed.path, parsed.lines.line((*loc, i)),
                    f"on_call names {name}, who is not an active approver: an emergency on "
                    "health data cannot be acknowledged by them")
            for i, name in enumerate(contract.approval.break_glass.on_call)
            if name not in approvers]


def _matched(rule: TargetRule, targets: Iterable[TargetFacts]) -> list[TargetFacts]:
    return [t for t in targets if rule_matches(rule, t)]


def contracts_of(report: CheckReport) -> list[tuple[ParsedContract, Contract]]:
    return [(f, f.contract) for f in report.files if f.contract is not None]

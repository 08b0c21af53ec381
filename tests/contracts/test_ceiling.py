"""Invariant 8, the contract is the ceiling: whatever the contract and the question, an
allow never permits more than the contract. The checks below re-derive each limit from
the contract independently of the engine (windows by scanning the wall clock minute by
minute), so an engine bug cannot hide behind itself."""

from __future__ import annotations

from datetime import UTC, date, datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st

from bastion.contracts import (
    AccessQuery,
    Contract,
    TargetFacts,
    check_command,
    check_forward,
    check_sftp,
    decide,
)
from bastion.models import DATA_CATEGORIES

from .conftest import public_key

DAYS = ["mon", "tue", "wed", "thu", "fri", "sat", "sun"]
ZONES = ["Europe/Paris", "UTC", "America/New_York"]
VENDOR, SUB = "Vendor SAS", "Sub SARL"
# Noon UTC the day before each 2027 change in Paris and New York, and two ordinary days.
ANCHORS = [datetime(2027, 3, 13, 12, tzinfo=UTC), datetime(2027, 3, 27, 12, tzinfo=UTC),
           datetime(2027, 10, 30, 12, tzinfo=UTC), datetime(2027, 11, 6, 12, tzinfo=UTC),
           datetime(2027, 6, 14, 12, tzinfo=UTC), datetime(2028, 1, 3, 12, tzinfo=UTC)]
RULES = [{"pattern": r"\bpg_dump\b", "action": "deny", "reason": "no dumps"},
         {"pattern": r"\bsudo\b", "action": "flag", "reason": "reviewed"}]


def clock(minute: int) -> str:
    return f"{minute // 60:02d}:{minute % 60:02d}"


windows = st.builds(  # never empty: 30 minutes to 23h30, possibly past midnight
    lambda days, start, length: {"days": days, "start": clock(start),
                                 "end": clock(start + length) if start + length <= 1440
                                 else clock(start + length - 1440)},
    st.lists(st.sampled_from(DAYS), min_size=1, max_size=3, unique=True),
    st.integers(0, 47).map(lambda h: h * 30),
    st.integers(1, 47).map(lambda h: h * 30),
)
T0 = {"id": "t0", "full_name": "t0", "email": "t0@x.example", "employer": VENDOR,
      "keys": [public_key("t0")]}
technicians = st.builds(
    lambda ident, employer, until: {"id": ident, "full_name": ident, "email": f"{ident}@x.example",
                                    "employer": employer, "keys": [public_key(ident)],
                                    **({"valid_until": until} if until else {})},
    st.sampled_from(["t1", "t2", "t3"]),
    st.sampled_from([VENDOR, SUB, "Other SARL"]),
    st.one_of(st.none(), st.dates(date(2027, 1, 1), date(2028, 6, 30)).map(str)),
)
target_rules = st.builds(
    lambda selector, accounts: {**selector, "accounts": accounts},
    st.one_of(st.sampled_from(["a", "b", "c"]).map(lambda n: {"name": n}),
              st.sampled_from(["app", "db"]).map(lambda r: {"labels": {"role": r}})),
    st.lists(st.sampled_from(["x", "y", "z"]), min_size=1, max_size=2, unique=True),
)
documents = st.builds(
    lambda zone, start, length, techs, rules, cats, wins, limits, chans, bg, hds: {
        "time_zone": zone,
        "vendor": {"id": "vendor", "name": VENDOR},
        "contract": {"reference": "C-1", "dpa_reference": "D-1", "valid_from": str(start),
                     "valid_until": str(start + timedelta(days=length)),
                     "hds_certificate": {"number": "HDS-1",
                                         "valid_until": str(start + timedelta(days=hds))}},
        "subprocessors": [{"name": SUB, "dpa_reference": "D-1-S"}],
        "technicians": list({t["id"]: t for t in [T0, *techs]}.values()),
        "scope": {"targets": rules, "data_categories": cats, "windows": wins, **limits},
        "channels": chans,
        "command_rules": RULES[:limits["max_concurrent_sessions"] - 1],
        "approval": {"approvers": 1, "approvers_by_data_category": {"health": 2}, **bg},
    },
    st.sampled_from(ZONES),
    st.dates(date(2026, 6, 1), date(2027, 6, 1)),
    st.one_of(st.integers(0, 700), st.just(2000)),
    st.lists(technicians, max_size=3),
    st.lists(target_rules, min_size=1, max_size=3),
    st.lists(st.sampled_from(DATA_CATEGORIES), max_size=6, unique=True),
    st.lists(windows, min_size=1, max_size=3),
    st.fixed_dictionaries({"max_session_minutes": st.integers(1, 600),
                           "max_concurrent_sessions": st.integers(1, 3),
                           "concurrency": st.sampled_from(["technician", "vendor"])}),
    st.fixed_dictionaries({
        "shell": st.booleans(), "exec": st.booleans(),
        "sftp": st.sampled_from([{"access": "none"},
                                 {"access": "read", "allow": ["/var/log/**"]},
                                 {"access": "read-write", "allow": ["/opt/app/**"],
                                  "deny": ["/opt/app/secret/**"]}]),
        "forwards": st.lists(st.sampled_from(["127.0.0.1:5432", "localhost:8443"]),
                             unique=True)}),
    st.fixed_dictionaries({"break_glass": st.fixed_dictionaries({
        "allowed": st.booleans(), "max_minutes": st.integers(5, 240),
        "outside_windows": st.booleans()})}),
    st.integers(-30, 700),  # the HDS certificate's last day, from the contract's first
)


RARELY = st.sampled_from([False] * 7 + [True])


@st.composite
def questions(draw: st.DrawFn, contract: Contract) -> AccessQuery:
    """Half the questions are the ones the contract was written for (a target a rule names,
    a time inside a window, a declared technician), each fact now and then spoiled, so that
    many decisions are allows and each limit is tried on its own."""
    if draw(st.booleans()):
        return draw(friendly_questions(contract))
    at = draw(st.sampled_from(ANCHORS)) + timedelta(minutes=draw(st.integers(0, 3 * 1440)))
    return AccessQuery(
        technician=draw(st.sampled_from([t.id for t in contract.technicians] + ["ghost"])),
        target=TargetFacts(draw(st.sampled_from(["a", "b", "c", "d"])),
                           {"role": draw(st.sampled_from(["app", "db", "pacs"]))},
                           frozenset(draw(st.sets(st.sampled_from(DATA_CATEGORIES)))),
                           tuple(draw(st.sets(st.sampled_from(["x", "y", "z", "w"]))))),
        account=draw(st.one_of(st.none(), st.sampled_from(["x", "y", "z", "w"]))),
        channel=draw(st.sampled_from(["shell", "exec", "sftp", "forward", "request", "x11"])),
        at=at,
        window_end=draw(st.one_of(st.none(), st.integers(-60, 900).map(
            lambda m: at + timedelta(minutes=m)))),
        active_sessions=draw(st.integers(0, 3)),
        break_glass=draw(st.booleans()),
    )


@st.composite
def friendly_questions(draw: st.DrawFn, contract: Contract) -> AccessQuery:
    rule = draw(st.sampled_from(contract.scope.targets))
    name = rule.name or draw(st.sampled_from(["a", "b", "c", "d"]))
    categories = set(draw(st.sets(st.sampled_from(contract.scope.data_categories)))
                     if contract.scope.data_categories else ())
    if draw(RARELY):
        categories.add(draw(st.sampled_from(DATA_CATEGORIES)))
    accounts = tuple(sorted({*rule.accounts, *draw(st.sets(st.sampled_from(["x", "w"])))}))
    declared = [t for t in contract.technicians if t.employer in (VENDOR, SUB)]
    others = [t for t in contract.technicians if t not in declared]
    technician = draw(st.sampled_from(others if others and draw(RARELY) else declared))
    channel = draw(st.sampled_from(["request", *sorted(contract.allowed_channels())]))
    if draw(RARELY):
        channel = draw(st.sampled_from(["shell", "exec", "sftp", "forward"]))
    at = draw(times_in_windows(contract, technician.valid_until))
    return AccessQuery(
        technician=technician.id,
        target=TargetFacts(name, dict(rule.labels or {}), frozenset(categories), accounts),
        account=draw(st.sampled_from([*rule.accounts, *rule.accounts, None])),
        channel=channel,
        at=at,
        window_end=draw(st.one_of(st.none(), st.integers(1, 900).map(
            lambda m: at + timedelta(minutes=m)))),
        active_sessions=draw(st.integers(1, 3)) if draw(RARELY) else 0,
        break_glass=draw(RARELY),
    )


@st.composite
def times_in_windows(draw: st.DrawFn, contract: Contract, own_end: date | None) -> datetime:
    """An instant inside one of the contract's windows by its wall clock: near a change of
    time, on a day of the contract, or on a technician's or the contract's last day, where
    the end bounds bite (``own_end``: the technician's)."""
    info = contract.contract
    where = draw(st.sampled_from(["anchor", "during", "last day"]))
    if where == "anchor":
        day = draw(st.sampled_from(ANCHORS)).date() + timedelta(days=draw(st.integers(-1, 6)))
    elif where == "during":
        span = (info.valid_until - info.valid_from).days
        day = info.valid_from + timedelta(days=draw(st.integers(0, span)))
    else:
        day = draw(st.sampled_from([d for d in (own_end, info.valid_until) if d]))
    window = draw(st.sampled_from(contract.scope.windows))
    zone = ZoneInfo(contract.time_zone)
    while DAYS[day.weekday()] not in window.days:
        day -= timedelta(days=1)
    length = (_minutes(window.end) - _minutes(window.start)) % timedelta(days=1)
    offset = timedelta(minutes=draw(st.integers(0, max(0, length // timedelta(minutes=1) - 1))))
    wall = datetime.combine(day, time()) + _minutes(window.start) + offset
    return wall.replace(tzinfo=zone).astimezone(UTC)


def first_instant(wall: datetime, zone: ZoneInfo) -> datetime:
    """First UTC minute at which the local clock reads ``wall`` or later, by scanning
    forward from well before it, coarse steps then fine ones."""
    t = wall.replace(tzinfo=zone).astimezone(UTC) - timedelta(hours=3)
    for step in (timedelta(hours=1), timedelta(minutes=10), timedelta(minutes=1)):
        while (t + step).astimezone(zone).replace(tzinfo=None) < wall:
            t += step
    return t + timedelta(minutes=1)


def covered_by_windows(contract: Contract, start: datetime, end: datetime) -> bool:
    zone = ZoneInfo(contract.time_zone)
    spans = []
    first_day = start.astimezone(zone).date() - timedelta(days=1)
    for offset in range((end.astimezone(zone).date() - first_day).days + 1):
        day = first_day + timedelta(days=offset)
        for window in contract.scope.windows:
            if DAYS[day.weekday()] not in window.days:
                continue
            open_at = datetime.combine(day, time()) + _minutes(window.start)
            length = (_minutes(window.end) - _minutes(window.start)) % timedelta(days=1)
            if length:
                spans.append((first_instant(open_at, zone),
                              first_instant(open_at + length, zone)))
    cursor = start
    for span_start, span_end in sorted(spans):
        if span_start <= cursor < span_end:
            cursor = span_end
    return cursor >= end


def _minutes(text: str) -> timedelta:
    hours, minutes = text.split(":")
    return timedelta(hours=int(hours), minutes=int(minutes))


def local_day(instant: datetime, contract: Contract) -> date:
    return instant.astimezone(ZoneInfo(contract.time_zone)).date()


def assert_within_contract(contract: Contract, query: AccessQuery) -> None:
    decision = decide(contract, query)
    event("allowed" if decision.allowed else "refused")
    if not decision.allowed:
        assert decision.constraints is None and decision.reasons
        return
    c = decision.constraints
    assert c is not None
    at, end = query.at, c.latest_end
    last = end - timedelta(seconds=1)
    info = contract.contract
    # who
    person = contract.technician(query.technician)
    assert person is not None and person.employer in (VENDOR, SUB)
    # when
    assert at < end
    assert info.valid_from <= local_day(at, contract)
    assert local_day(last, contract) <= info.valid_until
    if person.valid_until:
        assert local_day(last, contract) <= person.valid_until
    if query.target.data_categories & {"health", "ins"}:
        assert info.hds_certificate is not None
        assert local_day(last, contract) <= info.hds_certificate.valid_until
    assert end <= at + timedelta(minutes=contract.scope.max_session_minutes)
    if query.window_end is not None:
        assert end <= query.window_end
    if query.break_glass:
        assert contract.approval.break_glass.allowed
        assert end <= at + timedelta(minutes=contract.approval.break_glass.max_minutes)
    if not (query.break_glass and contract.approval.break_glass.outside_windows):
        assert covered_by_windows(contract, at, end)
    # where, as whom
    target = query.target
    rules = [r for r in contract.scope.targets
             if r.name == target.name or (r.labels and all(
                 target.labels.get(k) == v for k, v in r.labels.items()))]
    assert rules
    assert target.data_categories <= set(contract.scope.data_categories)
    assert c.account in target.accounts
    assert any(c.account in r.accounts for r in rules)
    assert query.account in (None, c.account)
    # what
    allowed_channels = {n for n in ("shell", "exec") if getattr(contract.channels, n)}
    allowed_channels |= {"sftp"} if contract.channels.sftp.access != "none" else set()
    allowed_channels |= {"forward"} if contract.channels.forwards else set()
    assert c.channels <= allowed_channels
    assert query.channel == "request" or query.channel in allowed_channels
    if query.channel != "request":
        assert query.active_sessions < contract.scope.max_concurrent_sessions
    if query.break_glass and target.data_categories & {"health", "ins"}:
        # An emergency on health or INS data only reads.
        assert c.channels <= {"sftp"} and not c.forwards
        assert c.sftp.access in ("read", "none")
        assert query.channel in ("request", "sftp")
    else:
        assert c.sftp.access == contract.channels.sftp.access
    assert set(c.sftp.allow) <= set(contract.channels.sftp.allow)
    assert set(c.sftp.deny) >= set(contract.channels.sftp.deny)
    assert {f"{h}:{p}" for h, p in c.forwards} <= set(contract.channels.forwards)
    assert {(r.pattern, r.action) for r in c.command_rules} >= {
        (r.pattern, r.action) for r in contract.command_rules}
    assert c.approvers_required >= contract.approval.approvers
    if "health" in target.data_categories:
        assert c.approvers_required >= 2
    assert c.max_session_minutes <= contract.scope.max_session_minutes
    # operations inside the allow stay inside too
    for op, path in (("open_write", "/opt/app/secret/k"), ("open_write", "/var/log/x"),
                     ("open_read", "/var/log/../../etc/shadow"), ("remove", "/opt/app/a")):
        verdict = check_sftp(c, op, path)
        if verdict.allowed:
            assert contract.channels.sftp.access == "read-write" and path == "/opt/app/a"
    assert check_forward(c, "127.0.0.1", 22).allowed is False
    if contract.command_rules and contract.command_rules[0].action == "deny":
        assert check_command(c, "p''g_dump -t patient").action == "deny"


@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.data(), documents)
def test_no_decision_allows_more_than_the_contract(data: st.DataObject,
                                                   document: dict[str, Any]) -> None:
    contract = Contract.model_validate(document)
    assert_within_contract(contract, data.draw(questions(contract)))


@settings(max_examples=150, deadline=None)
@given(zone=st.sampled_from(ZONES), last_day=st.dates(date(2027, 1, 1), date(2028, 12, 31)),
       contract_longer=st.booleans(), start=st.integers(12, 23), minutes_before=st.integers(1, 600),
       session=st.integers(30, 900))
def test_no_access_outlives_the_last_day(zone: str, last_day: date, contract_longer: bool,
                                         start: int, minutes_before: int, session: int) -> None:
    """Whichever ends first, the technician's validity or the contract's, access stops at
    midnight (local) after that last day, even inside a window running through the night."""
    changes = {
        "time_zone": zone,
        "contract": {"reference": "C-1", "dpa_reference": "D-1", "valid_from": "2026-01-01",
                     "valid_until": str(last_day + timedelta(days=30 if contract_longer else 0))},
        "technicians": [{**T0, "valid_until": str(last_day)}],
        "scope": {"targets": [{"name": "a", "accounts": ["x"]}], "data_categories": ["technical"],
                  "windows": [{"days": DAYS, "start": f"{start:02d}:00", "end": "11:00"}],
                  "max_session_minutes": session},
    }
    contract = Contract.model_validate({
        "vendor": {"id": "vendor", "name": VENDOR}, "channels": {"shell": True}, **changes})
    midnight = first_instant(datetime.combine(last_day + timedelta(days=1), time()),
                             ZoneInfo(zone))
    at = midnight - timedelta(minutes=minutes_before)
    decision = decide(contract, AccessQuery("t0", TargetFacts("a", {}, frozenset({"technical"}), ("x",)),
                                            None, "shell", at))
    if decision.allowed:
        assert decision.constraints is not None
        assert decision.constraints.latest_end <= midnight
    else:
        assert decision.codes == ("outside_window",)
    assert decide(contract, AccessQuery("t0", TargetFacts("a", {}, frozenset({"technical"}), ("x",)), None,
                                        "shell", midnight)).codes[:1] in (
        ("technician_expired",), ("contract_expired",))

"""The decision engine, field by field: what each contract field allows and refuses."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from bastion.contracts import AccessQuery, Constraints, Contract, Decision, TargetFacts, decide

from .conftest import APP, DB, TUESDAY_10H, contract
from .conftest import paris_time as paris

SATURDAY_10H = datetime(2027, 3, 6, 9, 0, tzinfo=UTC)


def ask(c: Contract, *, technician: str = "jdupont", target: TargetFacts = APP,
        account: str | None = None, channel: str = "shell", at: datetime = TUESDAY_10H,
        **extra: Any) -> Decision:
    return decide(c, AccessQuery(technician=technician, target=target, account=account,
                                 channel=channel, at=at, **extra))


DB_IN_SCOPE = {"scope.targets": [{"name": "dpi-db-01", "accounts": ["dbmaint"]}]}
HEALTH_IN_SCOPE = {**DB_IN_SCOPE,
                   "scope.data_categories": ["administrative", "technical", "ins", "health"]}
HDS = {"number": "HDS-CERT-1", "valid_until": "2028-01-31"}
HEALTH_BREAK_GLASS = {**HEALTH_IN_SCOPE, "contract.hds_certificate": HDS,
                      "approval.break_glass": {"allowed": True},
                      "channels.sftp": {"access": "read-write", "allow": ["/var/log/**"]}}
SFTP_READ = {"channels.sftp": {"access": "read", "allow": ["/var/log/**"]}}

# (case id, contract changes, query, expected failure codes: () means allowed)
CASES: list[tuple[str, dict[str, Any], dict[str, Any], tuple[str, ...]]] = [
    ("baseline", {}, {}, ()),
    ("contract not yet valid", {"contract.valid_from": "2027-03-03"}, {},
     ("contract_not_yet_valid",)),
    ("contract expired", {"contract.valid_from": "2020-01-01", "contract.valid_until": "2027-03-01"},
     {}, ("contract_expired",)),
    ("contract's last day included", {"contract.valid_until": "2027-03-02"}, {}, ()),
    ("technician not named", {}, {"technician": "zorro"}, ("technician_not_named",)),
    ("technician expired", {"technicians.0.valid_until": "2027-03-01"}, {},
     ("technician_expired",)),
    ("technician's last day included", {"technicians.0.valid_until": "2027-03-02"}, {}, ()),
    ("employer not declared", {"technicians.0.employer": "Autre SARL"}, {},
     ("employer_not_declared",)),
    ("subprocessor's technician", {}, {"technician": "kbenali"}, ()),
    ("subprocessor no longer declared", {"subprocessors": []}, {"technician": "kbenali"},
     ("employer_not_declared",)),
    ("target not named", {}, {"target": DB}, ("target_out_of_scope", "data_out_of_scope")),
    ("target by labels", {"scope.targets": [{"labels": {"role": "app"}, "accounts": ["maint"]}]},
     {}, ()),
    ("labels must all match",
     {"scope.targets": [{"labels": {"role": "app", "env": "test"}, "accounts": ["maint"]}]}, {},
     ("target_out_of_scope",)),
    ("target named but holds health data", DB_IN_SCOPE, {"target": DB}, ("data_out_of_scope",)),
    ("health data in scope", {**HEALTH_IN_SCOPE, "contract.hds_certificate": HDS}, {"target": DB},
     ()),
    ("health data without an HDS certificate", HEALTH_IN_SCOPE, {"target": DB},
     ("hds_certificate_missing",)),
    ("HDS certificate expired", {**HEALTH_IN_SCOPE, "contract.hds_certificate": {
        **HDS, "valid_until": "2027-03-01"}}, {"target": DB}, ("hds_certificate_expired",)),
    ("HDS certificate's last day included", {**HEALTH_IN_SCOPE, "contract.hds_certificate": {
        **HDS, "valid_until": "2027-03-02"}}, {"target": DB}, ()),
    ("break-glass shell on health data", HEALTH_BREAK_GLASS, {"target": DB, "break_glass": True},
     ("break_glass_read_only",)),
    ("break-glass SFTP read on health data", HEALTH_BREAK_GLASS,
     {"target": DB, "break_glass": True, "channel": "sftp"}, ()),
    ("break-glass on health data without SFTP",
     {**HEALTH_BREAK_GLASS, "channels.sftp": {"access": "none"}},
     {"target": DB, "break_glass": True, "channel": "request"}, ("break_glass_read_only",)),
    ("break-glass shell without health data", {"approval.break_glass": {"allowed": True}},
     {"break_glass": True}, ()),
    ("expired HDS certificate, target without health data", {
        **HEALTH_IN_SCOPE, "contract.hds_certificate": {**HDS, "valid_until": "2027-03-01"},
        "scope.targets": [{"name": "dpi-db-01", "accounts": ["dbmaint"]},
                          {"name": "dpi-app-01", "accounts": ["maint"]}]},
     {}, ()),
    ("account not allowed", {}, {"account": "appadmin"}, ("account_not_allowed",)),
    ("account not on the target", {}, {"account": "root"}, ("account_unknown",)),
    ("account named and allowed", {}, {"account": "maint"}, ()),
    ("two accounts, none named",
     {"scope.targets": [{"name": "dpi-app-01", "accounts": ["maint", "appadmin"]}]}, {},
     ("account_ambiguous",)),
    ("two accounts, one named",
     {"scope.targets": [{"name": "dpi-app-01", "accounts": ["maint", "appadmin"]}]},
     {"account": "appadmin"}, ()),
    ("contract account absent from the target",
     {"scope.targets": [{"name": "dpi-app-01", "accounts": ["oracle"]}]}, {}, ("account_none",)),
    ("outside the windows", {}, {"at": SATURDAY_10H}, ("outside_window",)),
    ("shell not allowed", {"channels.shell": False}, {}, ("channel_not_allowed",)),
    ("exec allowed", {}, {"channel": "exec"}, ()),
    ("exec not allowed", {"channels.exec": False}, {"channel": "exec"}, ("channel_not_allowed",)),
    ("sftp off by default", {}, {"channel": "sftp"}, ("channel_not_allowed",)),
    ("sftp read", SFTP_READ, {"channel": "sftp"}, ()),
    ("no forwards listed", {}, {"channel": "forward"}, ("channel_not_allowed",)),
    ("forwards listed", {"channels.forwards": ["127.0.0.1:8443"]}, {"channel": "forward"}, ()),
    ("unknown channel", {}, {"channel": "x11"}, ("channel_unknown",)),
    ("concurrent sessions below the limit", {}, {"active_sessions": 1}, ()),
    ("too many sessions", {}, {"active_sessions": 2}, ("too_many_sessions",)),
    ("sessions do not count for a request", {}, {"active_sessions": 2, "channel": "request"},
     ()),
    ("break-glass not allowed", {}, {"break_glass": True}, ("break_glass_not_allowed",)),
    ("break-glass inside a window", {"approval.break_glass": {"allowed": True}},
     {"break_glass": True}, ()),
    ("break-glass outside windows not allowed", {"approval.break_glass": {"allowed": True}},
     {"break_glass": True, "at": SATURDAY_10H}, ("outside_window",)),
    ("break-glass outside windows allowed",
     {"approval.break_glass": {"allowed": True, "outside_windows": True}},
     {"break_glass": True, "at": SATURDAY_10H}, ()),
    ("request", {}, {"channel": "request", "window_end": TUESDAY_10H + timedelta(hours=1)}, ()),
    ("request ending before it starts", {},
     {"channel": "request", "window_end": TUESDAY_10H - timedelta(minutes=1)}, ("empty_request",)),
    ("request ignores channels", {"channels.shell": False, "channels.exec": False},
     {"channel": "request"}, ()),
    ("everything wrong at once", {"contract.valid_until": "2027-03-01",
                                  "contract.valid_from": "2020-01-01"},
     {"technician": "zorro", "target": DB, "at": TUESDAY_10H, "channel": "sftp",
      "active_sessions": 5},
     ("contract_expired", "technician_not_named", "target_out_of_scope", "data_out_of_scope",
      "channel_not_allowed", "too_many_sessions")),
]


@pytest.mark.parametrize(("changes", "query", "codes"), [c[1:] for c in CASES],
                         ids=[c[0] for c in CASES])
def test_decision(changes: dict[str, Any], query: dict[str, Any], codes: tuple[str, ...]) -> None:
    decision = ask(contract(changes), **query)
    assert decision.codes == codes, decision.reasons
    assert decision.allowed is (not codes)
    assert decision.contract_reference == "ACME-1"
    assert len(decision.reasons) >= max(1, len(codes))
    if decision.allowed and query.get("break_glass") and query.get("target") is DB:
        # An emergency on health data only reads, whatever the contract allows otherwise.
        assert decision.constraints.channels == {"sftp"}
        assert decision.constraints.sftp.access == "read" and not decision.constraints.forwards
    if codes:
        assert decision.constraints is None
        assert decision.summary().startswith("refused: ")
        assert "\n" not in decision.summary()
    else:
        assert decision.constraints is not None
        assert decision.summary().startswith("allowed: ")


def test_data_refusal_names_the_categories_and_summary_is_one_line() -> None:
    decision = ask(contract(DB_IN_SCOPE), target=DB)
    assert decision.reasons == (
        "target dpi-db-01 holds health, ins data, outside contract ACME-1's data scope "
        "(administrative, technical)",)
    assert decision.summary() == (
        "refused: target dpi-db-01 holds health, ins data, outside contract ACME-1's scope")


def test_outside_window_says_when_the_next_window_opens() -> None:
    decision = ask(contract(), at=SATURDAY_10H)
    assert decision.summary() == ("refused: outside the maintenance windows of contract ACME-1; "
                                  "the next window opens 2027-03-08 08:00 CET")


def test_no_window_before_the_contract_ends() -> None:
    decision = ask(contract({"contract.valid_until": "2027-03-07"}), at=SATURDAY_10H)
    assert "no maintenance window opens before the contract ends" in decision.reasons[0]


def test_ambiguous_account_tells_how_to_name_one_without_listing_them() -> None:
    c = contract({"scope.targets": [{"name": "dpi-app-01", "accounts": ["maint", "appadmin"]}]})
    decision = ask(c)
    assert decision.summary() == ("refused: several accounts are possible on dpi-app-01: name "
                                  "one, as jdupont+dpi-app-01+ACCOUNT")
    assert "maint, appadmin" in decision.reasons[0]  # the audit gets the detail


def test_summary_of_a_deny_does_not_enumerate_the_contract() -> None:
    decision = ask(contract(), account="appadmin")
    assert "maint" not in decision.summary()
    assert "allowed there: maint" in decision.reasons[0]


def test_naive_time_is_refused() -> None:
    decision = ask(contract(), at=TUESDAY_10H.replace(tzinfo=None))
    assert not decision.allowed and decision.codes == ("naive_time",)


def test_an_error_inside_the_engine_denies() -> None:
    broken = TargetFacts("dpi-app-01", {"role": "app"}, None, ("maint",))  # type: ignore[arg-type]
    decision = ask(contract(), target=broken)
    assert not decision.allowed and decision.codes == ("policy_error",)
    assert decision.summary() == ("refused: internal error: access refused; contact the "
                                  "hospital's IT")


def test_allow_lists_what_was_checked() -> None:
    decision = ask(contract())
    text = " | ".join(decision.reasons)
    for expected in ("contract ACME-1 valid", "technician jdupont named", "target dpi-app-01 in "
                     "scope", "account maint", "inside a maintenance window", "channel shell",
                     "access ends"):
        assert expected in text


@pytest.mark.parametrize(("extra", "approvers"), [
    ({}, 1),
    ({"approval.approvers": 2}, 2),
    ({"approval.approvers_by_data_category": {"health": 2}}, 2),
    ({"approval.approvers_by_data_category": {"health": 2, "ins": 3}}, 3),
    ({"approval.approvers_by_data_category": {"staff": 3}}, 1),
])
def test_approvers_required_follow_the_target_data(extra: dict[str, Any], approvers: int) -> None:
    c = contract({**HEALTH_IN_SCOPE, "contract.hds_certificate": HDS, **extra})
    decision = ask(c, target=DB)
    assert decision.constraints is not None
    assert decision.constraints.approvers_required == approvers


# (case, contract changes, query time, requested end, expected latest end, binding bound)
END_CASES = [
    ("the window's end", {}, paris(2027, 3, 2, 17, 0), None, paris(2027, 3, 2, 18, 0),
     "window"),
    ("the maximum session length", {"scope.max_session_minutes": 60}, TUESDAY_10H, None,
     TUESDAY_10H + timedelta(minutes=60), "session length"),
    ("the contract's end",
     {"contract.valid_until": "2027-03-02",
      "scope.windows": [{"days": ["tue"], "start": "20:00", "end": "02:00"}]},
     paris(2027, 3, 2, 22, 0), None, paris(2027, 3, 3, 0, 0), "contract"),
    ("the technician's end",
     {"technicians.0.valid_until": "2027-03-02",
      "scope.windows": [{"days": ["tue"], "start": "20:00", "end": "02:00"}]},
     paris(2027, 3, 2, 22, 0), None, paris(2027, 3, 3, 0, 0), "technician"),
    ("the requested end", {}, TUESDAY_10H, TUESDAY_10H + timedelta(minutes=30),
     TUESDAY_10H + timedelta(minutes=30), "requested"),
    ("the break-glass length",
     {"approval.break_glass": {"allowed": True, "max_minutes": 20, "outside_windows": True}},
     SATURDAY_10H, None, SATURDAY_10H + timedelta(minutes=20), "break-glass"),
]


@pytest.mark.parametrize(("changes", "at", "requested", "end", "bound"),
                         [c[1:] for c in END_CASES], ids=[c[0] for c in END_CASES])
def test_latest_end_is_the_earliest_bound(changes: dict[str, Any], at: datetime,
                                          requested: datetime | None, end: datetime,
                                          bound: str) -> None:
    decision = ask(contract(changes), at=at, window_end=requested, channel="request",
                   break_glass="break-glass" in bound)
    assert decision.allowed, decision.reasons
    assert decision.constraints is not None
    assert decision.constraints.latest_end == end
    assert bound in decision.reasons[-1]


def window_contract(*windows: dict[str, Any], max_minutes: int = 24 * 60) -> Contract:
    return contract({"scope.windows": list(windows), "scope.max_session_minutes": max_minutes})


def latest_end(c: Contract, at: datetime) -> datetime | None:
    decision = ask(c, at=at)
    return decision.constraints.latest_end if decision.constraints else None


# Europe/Paris changes time on the last Sunday of March (02:00 -> 03:00) and of October
# (03:00 -> 02:00); in 2027 those are 28 March and 31 October.
DST_CASES = [
    ("overnight window across spring-forward: 7 wall hours are 6 real hours",
     {"days": ["sat"], "start": "22:00", "end": "06:00"},
     paris(2027, 3, 27, 23, 0), datetime(2027, 3, 28, 4, 0, tzinfo=UTC)),
    ("overnight window across fall-back: 7 wall hours are 8 real hours",
     {"days": ["sat"], "start": "22:00", "end": "06:00"},
     paris(2027, 10, 30, 23, 0), datetime(2027, 10, 31, 5, 0, tzinfo=UTC)),
    ("window ending inside the skipped hour ends when clocks jump",
     {"days": ["sun"], "start": "00:00", "end": "02:30"},
     datetime(2027, 3, 28, 0, 30, tzinfo=UTC), datetime(2027, 3, 28, 1, 0, tzinfo=UTC)),
    ("window ending inside the repeated hour ends at its first occurrence",
     {"days": ["sun"], "start": "00:00", "end": "02:30"},
     datetime(2027, 10, 30, 23, 30, tzinfo=UTC), datetime(2027, 10, 31, 0, 30, tzinfo=UTC)),
    ("window starting inside the skipped hour is open once clocks jump",
     {"days": ["sun"], "start": "02:30", "end": "05:00"},
     datetime(2027, 3, 28, 1, 0, tzinfo=UTC), datetime(2027, 3, 28, 3, 0, tzinfo=UTC)),
    ("window starting inside the skipped hour is not open before the jump",
     {"days": ["sun"], "start": "02:30", "end": "05:00"},
     datetime(2027, 3, 28, 0, 59, tzinfo=UTC), None),
    ("summer working hours are in CEST", {"days": ["mon"], "start": "08:00", "end": "18:00"},
     paris(2027, 7, 5, 9, 0), datetime(2027, 7, 5, 16, 0, tzinfo=UTC)),
]


@pytest.mark.parametrize(("window", "at", "end"), [c[1:] for c in DST_CASES],
                         ids=[c[0] for c in DST_CASES])
def test_windows_across_daylight_saving_changes(window: dict[str, Any], at: datetime,
                                                end: datetime | None) -> None:
    assert latest_end(window_contract(window), at) == end


def test_window_spanning_midnight_belongs_to_its_start_day() -> None:
    c = window_contract({"days": ["tue"], "start": "22:00", "end": "06:00"})
    assert latest_end(c, paris(2027, 3, 2, 23, 0)) == paris(2027, 3, 3, 6, 0)
    assert latest_end(c, paris(2027, 3, 3, 3, 0)) == paris(2027, 3, 3, 6, 0)
    assert latest_end(c, paris(2027, 3, 2, 3, 0)) is None  # Monday night is not in it
    assert latest_end(c, paris(2027, 3, 3, 6, 0)) is None  # the end is excluded


def test_touching_windows_make_one_period() -> None:
    c = window_contract({"days": ["mon"], "start": "08:00", "end": "24:00"},
                        {"days": ["tue"], "start": "00:00", "end": "08:00"})
    assert latest_end(c, paris(2027, 3, 1, 23, 0)) == paris(2027, 3, 2, 8, 0)


def test_next_opening_is_announced_across_daylight_saving() -> None:
    c = window_contract({"days": ["sun"], "start": "02:30", "end": "05:00"})
    decision = ask(c, at=datetime(2027, 3, 28, 0, 0, tzinfo=UTC))
    assert "the next window opens 2027-03-28 03:00 CEST" in decision.reasons[-1]


def test_constraints_round_trip_through_json() -> None:
    import json

    c = contract({**SFTP_READ, "channels.forwards": ["127.0.0.1:8443", "[::1]:5432"],
                  "command_rules": [{"pattern": r"\bpg_dump\b", "action": "deny",
                                     "reason": "no dumps"}],
                  "scope.idle_timeout_minutes": 15})
    constraints = ask(c).constraints
    assert constraints is not None
    again = Constraints.from_dict(json.loads(json.dumps(constraints.to_dict())))
    assert again == constraints
    assert again.forwards == frozenset({("127.0.0.1", 8443), ("::1", 5432)})
    assert again.exceeds(constraints) == []


def test_decision_to_dict_is_json() -> None:
    import json

    decision = ask(contract(), target=DB)
    data = json.loads(json.dumps(decision.to_dict()))
    assert data["allowed"] is False
    assert data["codes"] == ["target_out_of_scope", "data_out_of_scope"]
    assert data["summary"].startswith("refused: ")


# (case, contract changes, query time, requested end, whole window?, refused?, named bound)
WHOLE_CASES = [
    ("within every bound", {}, TUESDAY_10H, TUESDAY_10H + timedelta(hours=1), True, False, ""),
    ("ends at the bound exactly", {"scope.max_session_minutes": 60}, TUESDAY_10H,
     TUESDAY_10H + timedelta(minutes=60), True, False, ""),
    ("past the session length", {"scope.max_session_minutes": 60}, TUESDAY_10H,
     TUESDAY_10H + timedelta(minutes=61), True, True, "session length"),
    ("past the window's end", {}, paris(2027, 3, 2, 17, 0), paris(2027, 3, 2, 18, 30), True, True,
     "maintenance window"),
    ("past the contract's end", {"contract.valid_until": "2027-03-02",
                                 "scope.windows": [{"days": ["tue"], "start": "20:00", "end": "02:00"}]},
     paris(2027, 3, 2, 22, 0), paris(2027, 3, 3, 0, 30), True, True, "contract's end"),
    ("year 9999", {}, TUESDAY_10H, datetime(9999, 12, 31, tzinfo=UTC), True, True, "session length"),
    ("capped when not whole (re-checking a grant)", {"scope.max_session_minutes": 60}, TUESDAY_10H,
     TUESDAY_10H + timedelta(minutes=90), False, False, ""),
]


@pytest.mark.parametrize(("changes", "at", "end", "whole", "refused", "bound"),
                         [c[1:] for c in WHOLE_CASES], ids=[c[0] for c in WHOLE_CASES])
def test_a_whole_window_is_granted_as_asked_or_refused(changes: dict[str, Any], at: datetime,
                                                       end: datetime, whole: bool, refused: bool,
                                                       bound: str) -> None:
    decision = ask(contract(changes), at=at, window_end=end, channel="request", whole_window=whole)
    assert decision.allowed is not refused, decision.reasons
    if refused:
        assert decision.codes == ("window_too_long",)
        assert bound in decision.reasons[0] and "ask for an end no later than" in decision.reasons[0]
    elif whole:
        assert decision.constraints is not None and decision.constraints.latest_end == end


def test_an_acknowledged_emergency_names_who_must_acknowledge_then_opens_fully() -> None:
    """on_sensitive: acknowledged (issue 18): on health data the emergency is not read-only;
    until acknowledged its constraints name the on-call approvers; acknowledged, none."""
    c = contract({**HEALTH_BREAK_GLASS, "approval.break_glass": {
        "allowed": True, "on_sensitive": "acknowledged", "on_call": ["alice", "bob"],
        "acknowledgement_minutes": 5}})
    declared = ask(c, target=DB, channel="request", break_glass=True,
                   window_end=TUESDAY_10H + timedelta(minutes=30))
    assert declared.allowed and declared.constraints is not None
    assert declared.constraints.acknowledgement_by == ("alice", "bob")
    assert declared.constraints.acknowledgement_minutes == 5
    assert "shell" in declared.constraints.channels  # not read-only
    assert Constraints.from_dict(declared.constraints.to_dict()) == declared.constraints
    acknowledged = ask(c, target=DB, channel="request", break_glass=True, acknowledged=True,
                       window_end=TUESDAY_10H + timedelta(minutes=30))
    assert acknowledged.allowed and acknowledged.constraints.acknowledgement_by == ()
    assert ask(c, target=DB, channel="shell", break_glass=True).allowed
    # Not an emergency: nobody to wait for.
    assert ask(c, target=DB, channel="request",
               window_end=TUESDAY_10H + timedelta(minutes=30)).constraints.acknowledgement_by == ()
    # The default stays read-only.
    read_only = ask(contract(HEALTH_BREAK_GLASS), target=DB, channel="shell", break_glass=True)
    assert read_only.codes == ("break_glass_read_only",)

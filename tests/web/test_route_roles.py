"""The whole route x role table of the console, held here.

Every route of ``app.url_map`` (each method) must appear below with who may call it. The
test fails when a route is added without a line here, when a route has no access rule,
or when a rule changes; a second test makes real requests as each identity and checks the
console enforces the table. Y = allowed, . = refused.

Identities: anon = nobody signed in; key = password verified, security key due;
enrol = password verified, no key yet (must register one); then the four roles.
"""

from __future__ import annotations

import re

import flask
from flask import Flask

from bastion.context import Bastion
from web import create_app
from web.access import IDENTITIES, rule_for

from .conftest import People, session_for

# The /api/v1 rows at the end are the JSON API's (web/api; its own tests are in tests/api).
ROUTE_TABLE = """
route                                              anon key enrol approver admin dpo technician
GET  /                                             .    .   .     Y        Y     Y   Y
GET  /access-reviews                               .    .   .     .        Y     Y   .
POST /access-reviews                               .    .   .     .        Y     Y   .
GET  /access-reviews/<int:campaign_id>             .    .   .     .        Y     Y   .
POST /access-reviews/close-overdue                 .    .   .     .        Y     Y   .
POST /access-reviews/lines/<int:line_id>/confirm   .    .   .     .        Y     Y   .
POST /access-reviews/lines/<int:line_id>/revoke    .    .   .     .        Y     Y   .
GET  /account/keys                                 .    .   .     Y        Y     Y   .
POST /account/keys/<int:key_id>/remove             .    .   .     Y        Y     Y   .
POST /account/keys/<int:key_id>/remove/options     .    .   .     Y        Y     Y   .
POST /account/keys/<int:key_id>/rename             .    .   .     Y        Y     Y   .
POST /account/keys/confirm                         .    .   .     Y        Y     Y   .
POST /account/keys/options                         .    .   .     Y        Y     Y   .
POST /account/keys/verify                          .    .   .     Y        Y     Y   .
GET  /account/preferences                          .    .   .     Y        Y     Y   .
GET  /account/sessions                             .    .   .     Y        Y     Y   .
POST /account/sessions/<ref>/revoke                .    .   .     Y        Y     Y   .
POST /account/sessions/revoke-others               .    .   .     Y        Y     Y   .
POST /account/preferences                          .    .   .     Y        Y     Y   .
GET  /admin/staff                                  .    .   .     .        Y     .   .
GET  /admin/role-changes                           .    .   .     .        Y     Y   .
GET  /admin/role-changes/<int:change_id>           .    .   .     .        Y     Y   .
POST /admin/role-changes/<int:change_id>/confirm   .    .   .     .        Y     Y   .
POST /admin/role-changes/<int:change_id>/options   .    .   .     .        Y     Y   .
POST /admin/role-changes/<int:change_id>/refuse    .    .   .     .        Y     Y   .
POST /admin/role-changes/<int:change_id>/vouch     .    .   .     .        .     Y   .
POST /admin/role-changes/<int:change_id>/vouch/options .  .   .   .        .     Y   .
GET  /admin/staff/<int:staff_id>                   .    .   .     .        Y     .   .
POST /admin/staff/<int:staff_id>                   .    .   .     .        Y     .   .
POST /admin/staff/<int:staff_id>/active            .    .   .     .        Y     .   .
POST /admin/staff/<int:staff_id>/enrolment-link   .    .   .     .        Y     .   .
POST /admin/staff/<int:staff_id>/keys/<int:key_id>/revoke .  .   .   .        Y     .   .
POST /admin/staff/<int:staff_id>/sessions/<ref>/revoke .  .   .     .        Y     .   .
POST /admin/staff/<int:staff_id>/sessions/revoke-all .   .   .     .        Y     .   .
POST /admin/staff/<int:staff_id>/unlock            .    .   .     .        Y     .   .
GET  /admin/staff/new                              .    .   .     .        Y     .   .
POST /admin/staff/new                              .    .   .     .        Y     .   .
GET  /assets/asciinema-player/<path:filename>      Y    Y   Y     Y        Y     Y   Y
GET  /audit                                        .    .   .     .        Y     Y   .
GET  /audit/integrity                              .    .   .     .        Y     Y   .
GET  /break-glass/acknowledge/<token>               .    .   .     Y        .     .   .
POST /break-glass/acknowledge/<token>/confirm       .    .   .     Y        .     .   .
POST /break-glass/acknowledge/<token>/options       .    .   .     Y        .     .   .
GET  /break-glass/declare                           .    .   .     Y        Y     .   .
POST /break-glass/declare                           .    .   .     Y        Y     .   .
GET  /dpo                                          .    .   .     .        .     Y   .
GET  /dpo/break-glass                              .    .   .     .        .     Y   .
GET  /dpo/break-glass/<int:review_id>              .    .   .     .        .     Y   .
POST /dpo/break-glass/<int:review_id>              .    .   .     .        .     Y   .
GET  /dpo/flags                                    .    .   .     .        .     Y   .
GET  /dpo/flags.csv                                .    .   .     .        .     Y   .
GET  /dpo/reports                                  .    .   .     .        .     Y   .
GET  /dpo/reports/print                            .    .   .     .        .     Y   .
GET  /dpo/reports/sessions.csv                     .    .   .     .        .     Y   .
GET  /enrol/<token>                                Y    Y   Y     Y        Y     Y   Y
GET  /grants                                       .    .   .     Y        Y     Y   .
POST /grants/<int:grant_id>/revoke                 .    .   .     Y        Y     .   .
GET  /healthz                                      Y    Y   Y     Y        Y     Y   Y
GET  /metrics                                      Y    Y   Y     Y        Y     Y   Y
GET  /readyz                                       Y    Y   Y     Y        Y     Y   Y
POST /language                                     Y    Y   Y     Y        Y     Y   Y
GET  /logbook                                      .    .   .     Y        Y     Y   .
GET  /logbook/export.csv                           .    .   .     Y        Y     Y   .
GET  /logbook/print                                .    .   .     Y        Y     Y   .
GET  /logbook/print.css                            .    .   .     Y        Y     Y   .
GET  /portal/grants                                 .    .   .     .        .     .   Y
GET  /portal/grants/<int:grant_id>/certificate     .    .   .     .        .     .   Y
GET  /portal/requests                               .    .   .     .        .     .   Y
POST /portal/requests                               .    .   .     .        .     .   Y
GET  /portal/requests/<int:request_id>             .    .   .     .        .     .   Y
POST /portal/requests/<int:request_id>/cancel      .    .   .     .        .     .   Y
GET  /portal/sign-in                                Y    Y   Y     Y        Y     Y   Y
POST /portal/sign-in                                Y    Y   Y     Y        Y     Y   Y
GET  /portal/sign-in/code                           Y    Y   Y     Y        Y     Y   Y
POST /portal/sign-in/code                           Y    Y   Y     Y        Y     Y   Y
GET  /recordings/<int:recording_id>                .    .   .     Y        Y     Y   .
GET  /recordings/<int:recording_id>/cast           .    .   .     Y        Y     Y   .
GET  /requests                                     .    .   .     Y        Y     Y   .
GET  /requests/<int:request_id>                    .    .   .     Y        Y     Y   .
POST /requests/<int:request_id>/approve            .    .   .     Y        .     .   .
POST /requests/<int:request_id>/approve/options    .    .   .     Y        .     .   .
POST /requests/<int:request_id>/deny               .    .   .     Y        .     .   .
GET  /sessions                                     .    .   .     Y        Y     Y   .
GET  /sessions/<int:session_id>                    .    .   .     Y        Y     Y   .
GET  /sessions/<int:session_id>/feed               .    .   .     Y        Y     Y   .
POST /sessions/<int:session_id>/terminate          .    .   .     Y        Y     .   .
GET  /sessions/<int:session_id>/watch              .    .   .     Y        Y     Y   .
GET  /sessions/commands                            .    .   .     Y        Y     Y   .
GET  /sessions/live                                .    .   .     Y        Y     .   .
GET  /sign-in                                      Y    Y   Y     Y        Y     Y   Y
POST /sign-in                                      Y    Y   Y     Y        Y     Y   Y
GET  /sign-in/enrol                                .    .   Y     .        .     .   .
POST /sign-in/enrol/options                        .    .   Y     .        .     .   .
POST /sign-in/enrol/verify                         .    .   Y     .        .     .   .
GET  /sign-in/key                                  .    Y   .     .        .     .   .
POST /sign-in/key/options                          .    Y   .     .        .     .   .
POST /sign-in/key/verify                           .    Y   .     .        .     .   .
POST /sign-in/passkey/options                      Y    Y   Y     Y        Y     Y   Y
POST /sign-in/passkey/verify                       Y    Y   Y     Y        Y     Y   Y
GET  /sign-in/oidc                                 Y    Y   Y     Y        Y     Y   Y
GET  /sign-in/oidc/callback                        Y    Y   Y     Y        Y     Y   Y
POST /sign-out                                     Y    Y   Y     Y        Y     Y   Y
GET  /static/<path:filename>                       Y    Y   Y     Y        Y     Y   Y
GET  /targets                                      .    .   .     Y        Y     Y   .
GET  /targets/<int:target_id>                      .    .   .     Y        Y     Y   .
POST /targets/<int:target_id>/accounts             .    .   .     .        Y     .   .
GET  /targets/new                                  .    .   .     .        Y     .   .
POST /targets/new                                  .    .   .     .        Y     .   .
GET  /vendors                                      .    .   .     Y        Y     Y   .
GET  /api/v1/grants                                 .    .   .     Y        Y     Y   Y
GET  /api/v1/grants/<int:grant_id>                  .    .   .     Y        Y     Y   Y
GET  /api/v1/grants/<int:grant_id>/certificate      .    .   .     Y        Y     .   Y
POST /api/v1/grants/<int:grant_id>/certificate      .    .   .     Y        Y     .   Y
POST /api/v1/grants/<int:grant_id>/revoke           .    .   .     Y        Y     .   .
GET  /api/v1/requests                               .    .   .     Y        Y     Y   Y
POST /api/v1/requests                               .    .   .     Y        Y     .   Y
GET  /api/v1/requests/<int:request_id>              .    .   .     Y        Y     Y   Y
POST /api/v1/requests/<int:request_id>/approval-options .  .   .   Y        .     .   .
POST /api/v1/requests/<int:request_id>/approve      .    .   .     Y        .     .   .
POST /api/v1/requests/<int:request_id>/cancel       .    .   .     Y        Y     .   Y
POST /api/v1/requests/<int:request_id>/deny         .    .   .     Y        .     .   .
GET  /api/v1/sessions                               .    .   .     Y        Y     Y   .
GET  /api/v1/sessions/<int:session_id>              .    .   .     Y        Y     Y   .
POST /api/v1/sessions/<int:session_id>/terminate    .    .   .     Y        Y     .   .
"""

# Routes only `bastion demo` adds (create_app with BASTION_DEMO_MAILBOX): absent otherwise.
DEMO_ROUTE_TABLE = """
route                                              anon key enrol approver admin dpo technician
GET  /demo/mailbox                                 .    .   .     Y        Y     Y   .
"""

COLUMNS = ("anonymous", "key-pending", "enrol-pending", "approver", "admin", "dpo", "technician")
assert set(COLUMNS) == set(IDENTITIES)


def expected_table(demo: bool = False) -> dict[str, frozenset[str]]:
    table = {}
    lines = ROUTE_TABLE.strip().splitlines()[1:]
    if demo:
        lines += DEMO_ROUTE_TABLE.strip().splitlines()[1:]
    for line in lines:
        method, path, *marks = line.split()
        assert len(marks) == len(COLUMNS), f"malformed table line: {line}"
        table[f"{method} {path}"] = frozenset(c for c, m in zip(COLUMNS, marks, strict=True) if m == "Y")
    return table


def routes(app: Flask) -> dict[str, str]:
    """``"METHOD /path"`` -> endpoint, for every route and method the app answers."""
    found = {}
    for rule in app.url_map.iter_rules():
        for method in sorted((rule.methods or set()) - {"HEAD", "OPTIONS"}):
            found[f"{method} {rule.rule}"] = rule.endpoint
    return found


def table_problems(app: Flask) -> list[str]:
    expected = expected_table(demo=bool(app.config.get("BASTION_DEMO_MAILBOX")))
    actual = routes(app)
    problems = []
    for route in sorted(set(actual) - set(expected)):
        problems.append(f"{route}: new route, not in ROUTE_TABLE (add a line saying who may call it)")
    for route in sorted(set(expected) - set(actual)):
        problems.append(f"{route}: in ROUTE_TABLE but the app has no such route")
    for route in sorted(set(actual) & set(expected)):
        rule = rule_for(app, actual[route])
        if rule is None:
            problems.append(f"{route}: view {actual[route]} has no access rule (@requires, @public...)")
            continue
        admitted = frozenset(rule.admits)
        if admitted != expected[route]:
            problems.append(f"{route}: rule admits {sorted(admitted)}, table says {sorted(expected[route])}")
    return problems


def test_every_route_has_the_rule_the_table_holds(app: Flask) -> None:
    assert table_problems(app) == []


def test_a_route_losing_its_rule_fails_the_table_and_is_refused(core: Bastion, people: People) -> None:
    app = create_app(core, {"TESTING": True})
    view = app.view_functions["vendors.index"]

    def unguarded():  # the same view without its decorator
        return view()

    app.view_functions["vendors.index"] = unguarded
    assert table_problems(app) == [
        "GET /vendors: view vendors.index has no access rule (@requires, @public...)"
    ]
    client = app.test_client()
    contents = session_for(app, "admin", people)
    with client.session_transaction() as stored:
        stored.update(contents)
    assert client.get("/vendors").status_code == 403  # fail closed, even for an admin


def test_a_changed_rule_fails_the_table(core: Bastion) -> None:
    app = create_app(core, {"TESTING": True})
    from web.access import requires

    view = app.view_functions["audit.events"]

    def widened():  # a copy, so the real view keeps its rule for the other tests
        return view()

    app.view_functions["audit.events"] = requires("admin", "dpo", "approver", "technician")(widened)
    assert table_problems(app) == [
        "GET /audit: rule admits ['admin', 'approver', 'dpo', 'technician'], table says ['admin', 'dpo']"
    ]


def sample_url(path: str) -> str:
    # Ids that exist nowhere: an allowed request reaches the view and gets 404, a refused
    # one is stopped before; nothing is changed by a request that gets through.
    path = re.sub(r"<int:[a-z_]+>", "999999", path)
    path = path.replace("<ref>", "0123456789ab")  # a console session's reference
    return re.sub(r"<path:[a-z_]+>", "no-such-file.js", path)


def test_requests_are_allowed_or_refused_as_the_table_says(core: Bastion, people: People) -> None:
    # CSRF off: this test is about the access rules, which run before the CSRF check.
    app = create_app(core, {"TESTING": True, "WTF_CSRF_ENABLED": False})
    client = app.test_client()
    mismatches = []
    for identity in COLUMNS:
        mismatches += _mismatches(app, client, people, identity)
    assert mismatches == []


def test_the_demo_routes_exist_only_in_the_demo(core: Bastion, people: People, tmp_path) -> None:
    plain = create_app(core, {"TESTING": True})
    for route in expected_table(demo=True).keys() - expected_table().keys():
        method, path = route.split(" ", 1)
        assert route not in routes(plain)
        contents = session_for(plain, "admin", people)
        client = plain.test_client()
        with client.session_transaction() as stored:
            stored.update(contents)
        assert client.open(path, method=method).status_code == 404
    demo = create_app(core, {"TESTING": True, "WTF_CSRF_ENABLED": False,
                             "BASTION_DEMO_MAILBOX": str(tmp_path / "mailbox")})
    assert table_problems(demo) == []
    client = demo.test_client()
    mismatches = []
    for identity in COLUMNS:
        mismatches += _mismatches(demo, client, people, identity, demo=True)
    assert mismatches == []


def _mismatches(app: Flask, client, people: People, identity: str, demo: bool = False) -> list[str]:
    mismatches = []
    contents = session_for(app, identity, people)
    for route, allowed in expected_table(demo).items():
        method, path = route.split(" ", 1)
        with client.session_transaction() as stored:
            stored.clear()
            stored.update(contents)
        with client:
            response = client.open(sample_url(path), method=method)
            refused = bool(flask.g.get("access_refused"))
        if refused == (identity in allowed):
            mismatches.append(f"{route} as {identity}: got {response.status_code}, "
                              f"{'refused' if refused else 'allowed'}")
        # 401: the JSON API answers callers who are not signed in with 401, not 403.
        if refused and response.status_code not in (302, 401, 403):
            mismatches.append(f"{route} as {identity}: refused with {response.status_code}")
        if route == "POST /sign-out":  # it ended the console session: sign in again
            contents = session_for(app, identity, people)
    return mismatches

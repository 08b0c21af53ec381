"""One-time codes work once: across every node and both ways in (SSH, the portal), because
the step a code belongs to is claimed in the database, atomically."""

from __future__ import annotations

import threading
from urllib.parse import parse_qs, urlparse

import pyotp

from bastion.audit import Actor
from bastion.context import Bastion
from bastion.db import Database
from bastion.totp import enrol, matching_step, use_code
from tests.recording.conftest import add_session

ADMIN = Actor("test", "admin")
NOW = 1_800_000_000.0  # a fixed moment: the codes below are computed for it


def _enrolled(core: Bastion) -> str:
    add_session(core)  # a vendor, its technician jdupont, a target
    with core.db.session() as session:
        uri = enrol(session, core.audit, core.keys.master_key, "jdupont", ADMIN)
    return parse_qs(urlparse(uri).query)["secret"][0]


def _use(core: Bastion, secret: str, code: str, at: float = NOW) -> bool:
    with core.db.session() as session:
        return use_code(session, "jdupont", secret, code, at)


def test_a_code_is_right_for_its_step_and_one_step_of_drift(core: Bastion) -> None:
    secret = pyotp.random_base32()
    totp = pyotp.TOTP(secret)
    step = int(NOW // 30)
    assert matching_step(secret, totp.at(NOW), NOW) == step
    assert matching_step(secret, totp.at(NOW - 30), NOW) == step - 1
    assert matching_step(secret, " " + totp.at(NOW + 30)[:3] + " " + totp.at(NOW + 30)[3:], NOW) == step + 1
    assert matching_step(secret, totp.at(NOW - 90), NOW) is None
    assert matching_step(secret, "abcdef", NOW) is None


def test_a_code_is_accepted_once_and_never_an_older_one_after(any_core: Bastion) -> None:
    secret = _enrolled(any_core)
    totp = pyotp.TOTP(secret)
    assert _use(any_core, secret, totp.at(NOW))
    assert not _use(any_core, secret, totp.at(NOW)), "the same code twice"
    assert not _use(any_core, secret, totp.at(NOW - 30)), "the previous step's code after it"
    assert not _use(any_core, secret, "000000" if totp.at(NOW + 30) != "000000" else "111111", NOW + 30)
    assert _use(any_core, secret, totp.at(NOW + 30), NOW + 30)


def test_two_nodes_racing_with_the_same_code_let_exactly_one_in(any_core: Bastion) -> None:
    secret = _enrolled(any_core)
    code = pyotp.TOTP(secret).at(NOW)
    # Two engines on the same database stand for two nodes.
    nodes = [Database(any_core.settings.database.url) for _ in range(2)]
    start = threading.Barrier(2)
    outcomes: list[bool] = []

    def node(db: Database) -> None:
        start.wait()
        with db.session() as session:
            outcomes.append(use_code(session, "jdupont", secret, code, NOW))

    threads = [threading.Thread(target=node, args=(db,)) for db in nodes]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(30)
    for db in nodes:
        db.dispose()
    assert sorted(outcomes) == [False, True]


def test_a_new_secret_starts_afresh(core: Bastion) -> None:
    first = _enrolled(core)
    assert _use(core, first, pyotp.TOTP(first).at(NOW))
    with core.db.session() as session:
        uri = enrol(session, core.audit, core.keys.master_key, "jdupont", ADMIN)
    second = parse_qs(urlparse(uri).query)["secret"][0]
    assert _use(core, second, pyotp.TOTP(second).at(NOW))

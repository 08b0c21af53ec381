"""The canonical content an approver signs, and the challenge derived from it."""

from __future__ import annotations

import hashlib
import json
from datetime import timedelta

import pytest

from bastion import approvals
from bastion.approvals.challenge import approval_challenge
from bastion.approvals.content import canonical_bytes, content_digest, request_digest
from bastion.models import AccessRequest
from tests.approvals.conftest import World


def test_canonical_json_is_sorted_compact_utf8_and_its_digest_is_sha256() -> None:
    content = {"b": 1, "a": {"z": "é", "y": [2, 1]}}
    data = canonical_bytes(content)
    assert data == '{"a":{"y":[2,1],"z":"é"},"b":1}'.encode()
    assert content_digest(content) == hashlib.sha256(data).hexdigest()
    assert canonical_bytes(json.loads(data)) == data  # stable through a round trip


def test_the_content_names_everything_an_approver_approves(world: World) -> None:
    request = world.file(channels=["shell", "exec"], ticket="CHG-9")
    with world.core.db.session() as session:
        row = session.get(AccessRequest, request.id)
        content = approvals.request_content(session, row)
    assert content["request_id"] == request.id
    assert content["technician"] == "jdupont"
    assert content["target"] == "dpi-app-01"
    assert content["account"] == "maint"
    assert content["channels"] == ["exec", "shell"]
    assert content["reason"] == request.reason and content["ticket"] == "CHG-9"
    assert content["window"]["start"].endswith("Z") and content["window"]["end"].endswith("Z")
    assert content["contract"]["reference"] == "ACME-1"
    assert content["contract"]["version_id"] == request.contract_version_id


def _digests(world: World, request_id: int, **changes: object) -> tuple[str, str]:
    """The digest before and after changing the row in memory (never written)."""
    with world.core.db.session() as session, session.no_autoflush:
        row = session.get(AccessRequest, request_id)
        before = request_digest(session, row)
        for key, value in changes.items():
            setattr(row, key, value)
        after = request_digest(session, row)
        session.expire(row)
    return before, after


@pytest.mark.parametrize("change", [
    {"reason": "something else"}, {"ticket": "CHG-0"}, {"account_name": "appadmin"},
    {"channels": ["shell"]}, {"break_glass": True}, {"contract_version_id": None},
])
def test_any_change_to_the_request_changes_its_digest(world: World, change: dict) -> None:
    request = world.file()
    before, after = _digests(world, request.id, **change)
    assert before != after


def test_window_changes_change_the_digest(world: World) -> None:
    request = world.file()
    before, after = _digests(world, request.id,
                             window_end=request.window_end + timedelta(seconds=1))
    assert before != after
    assert _digests(world, request.id)[0] == before  # nothing was written


def test_the_challenge_binds_digest_and_nonce() -> None:
    digest = hashlib.sha256(b"content").hexdigest()
    nonce = bytes(range(32))
    assert approval_challenge(digest, nonce) == hashlib.sha256(bytes.fromhex(digest) + nonce).digest()
    assert approval_challenge(digest, nonce) != approval_challenge(digest, bytes(32))

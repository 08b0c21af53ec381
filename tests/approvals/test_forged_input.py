"""Forged or garbage WebAuthn payloads get a clear, typed error, never a traceback
(invariant 10), and are audited like any other refused attempt."""

from __future__ import annotations

import base64
import json
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from bastion import approvals
from bastion.approvals import ApprovalError
from tests.approvals.authenticator import b64url
from tests.approvals.conftest import World, audit_events

GARBAGE: list[Any] = [
    "", "null", "[]", "{}", "42", '"text"', "{not json", "\udcff", b"\xff\xfe\x00",
    "x" * 200_000, "[" * 30_000 + "]" * 30_000,
    {"id": 1}, {"id": "abc", "rawId": "abc"},
    {"id": "abc", "rawId": "abc", "type": "public-key", "response": "nope"},
    {"id": "abc", "rawId": "abc", "type": "public-key",
     "response": {"clientDataJSON": "!!!", "authenticatorData": "!!!", "signature": "!!!"}},
    {"id": "abc", "rawId": "abc", "type": "public-key",
     "response": {"clientDataJSON": b64url(b"not json"), "authenticatorData": b64url(b"x" * 37),
                  "signature": b64url(b"sig")}},
    {"id": "abc", "rawId": "abc", "type": "public-key",
     "response": {"clientDataJSON": b64url(b'{"type":"webauthn.get"}'),
                  "authenticatorData": b64url(b"x" * 37), "signature": b64url(b"sig")}},
    {"id": "abc", "rawId": "abc", "type": "public-key",
     "response": {"clientDataJSON": b64url(json.dumps(
         {"type": "webauthn.get", "challenge": b64url(b"c" * 32), "origin": "x"}).encode()),
                  "authenticatorData": b64url(b"short"), "signature": b64url(b"sig")}},
    {"id": "abc", "rawId": "abc", "type": "other",
     "response": {"clientDataJSON": "", "authenticatorData": "", "signature": ""}},
]


def test_garbage_assertions_are_refused_cleanly(world: World) -> None:
    # One world for every payload: each refusal is independent of the ones before.
    request = world.file()
    for index, payload in enumerate(GARBAGE):
        before = len(audit_events(world.core))
        with pytest.raises(ApprovalError) as caught:
            approvals.approve(world.core, request.id, world.staff["alice"], payload)
        assert caught.value.code in {"malformed_credential", "challenge_unknown"}, index
        assert caught.value.message.startswith(("the security-key answer", "this security-key"))
        assert [e.action for e in audit_events(world.core)[before:]] == [
            "request.approval_refused"], index


def test_garbage_registrations_and_sign_ins_are_refused_cleanly(world: World) -> None:
    for index, payload in enumerate(GARBAGE):
        for call in (lambda: approvals.register_credential(world.core, world.staff["alice"],
                                                           payload, name="x"),
                     lambda: approvals.verify_sign_in(world.core, payload),
                     lambda: approvals.verify_sign_in(world.core, payload,
                                                      staff=world.staff["bob"])):
            with pytest.raises(ApprovalError) as caught:
                call()
            assert caught.value.code in {"malformed_credential", "challenge_unknown"}, index


def test_a_valid_looking_assertion_with_a_made_up_challenge(world: World) -> None:
    request = world.file()
    response = world.keys["alice"].get(world.options(request.id, "alice"), challenge=b"\x01" * 32)
    with pytest.raises(ApprovalError) as caught:
        approvals.approve(world.core, request.id, world.staff["alice"], response)
    assert caught.value.code == "challenge_unknown"


json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.text(max_size=20)
    | st.binary(max_size=40).map(lambda b: base64.urlsafe_b64encode(b).decode().rstrip("=")),
    lambda children: st.lists(children, max_size=4)
    | st.dictionaries(st.sampled_from(["id", "rawId", "type", "response", "clientDataJSON",
                                       "authenticatorData", "signature", "userHandle",
                                       "challenge", "origin"]) | st.text(max_size=8),
                      children, max_size=6),
    max_leaves=20)


@settings(max_examples=60, deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(payload=json_values)
def test_fuzzed_json_never_escapes_as_anything_but_an_approval_error(world: World,
                                                                      payload: Any) -> None:
    with pytest.raises(ApprovalError):
        approvals.approve(world.core, 1, world.staff["alice"], payload
                          if isinstance(payload, dict) else json.dumps(payload))

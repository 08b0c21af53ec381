"""Path patterns (pure): extensions ignore case, case-insensitive targets, and the two
questions asked of folders whose file names are chosen after the check."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from bastion.contracts import AccessQuery, TargetFacts, check_sftp, decide
from bastion.contracts.path_patterns import (
    covers_everything_below,
    glob_regex,
    may_match_below,
)

from .conftest import APP, TUESDAY_10H, contract


@pytest.mark.parametrize(("pattern", "path", "case_insensitive", "matches"), [
    ("/**/*.pem", "/etc/ssl/x.PEM", False, True),
    ("/**/*.pem", "/etc/ssl/x.Pem", False, True),
    ("/**/*.pem", "/ETC/ssl/x.pem", False, True),
    ("/etc/ssl/key.pem", "/etc/ssl/key.PEM", False, True),
    ("/etc/ssl/key.pem", "/etc/ssl/KEY.pem", False, False),  # a name, not an extension
    ("/etc/**", "/ETC/shadow", False, False),
    ("/etc/**", "/ETC/shadow", True, True),
    ("/data/*.tar.gz", "/data/a.tar.GZ", False, True),
    ("/data/*.tar.gz", "/data/a.TAR.gz", False, False),  # only the last extension
    ("/home/.bashrc", "/home/.BASHRC", False, False),  # a leading dot starts no extension
    ("/data/file.c*", "/data/file.CPP", False, False),  # a glob in it: not a plain extension
    ("/data/v1.2/x", "/data/v1.2/x", False, True),
    ("/data/v1.2/x", "/data/v1.X/x", False, False),  # the dot of a folder name stays literal
])
def test_case_of_extensions_and_targets(pattern: str, path: str, case_insensitive: bool,
                                        matches: bool) -> None:
    assert bool(glob_regex(pattern, case_insensitive).fullmatch(path)) is matches


def test_a_contract_or_target_can_say_names_ignore_case() -> None:
    rules = {"channels.sftp": {"access": "read", "allow": ["/srv/**"], "deny": ["/srv/secret/**"]}}
    base = APP
    for changes, target, refused in [
        (rules, base, False),
        ({"channels.sftp": {**rules["channels.sftp"], "case_insensitive": True}}, base, True),
        (rules, TargetFacts(base.name, {**base.labels, "path-case": "insensitive"},
                            base.data_categories, base.accounts), True),
    ]:
        decision = decide(contract(changes), AccessQuery("jdupont", target, None, "request",
                                                         TUESDAY_10H))
        assert decision.constraints is not None, decision.reasons
        verdict = check_sftp(decision.constraints, "open_read", "/srv/SECRET/db.key")
        assert verdict.allowed is not refused, verdict.reason


@pytest.mark.parametrize(("allow", "folder", "covered"), [
    (["/**"], "/anything/here", True),
    (["/srv/**"], "/srv", True),
    (["/srv/**"], "/srv/a/b", True),
    (["/srv/**"], "/", False),
    (["/srv/*/in/**"], "/srv/x/in", True),
    (["/srv/*/in/**"], "/srv/x", False),
    (["/srv/*.txt"], "/srv", False),
    (["/srv/**/*.txt"], "/srv", False),
])
def test_covers_everything_below(allow: list[str], folder: str, covered: bool) -> None:
    assert covers_everything_below(allow, folder) is covered


@pytest.mark.parametrize(("deny", "folder", "may"), [
    (["/**/*.pem"], "/srv", True),
    (["/srv/secret/**"], "/srv", True),
    (["/srv/secret/**"], "/srv/public", False),
    (["/etc/**"], "/srv", False),
    (["/srv/a.key"], "/srv", True),
    (["/srv/a.key"], "/srv/sub", False),
    (["/srv"], "/srv", False),
    ([], "/srv", False),
])
def test_may_match_below(deny: list[str], folder: str, may: bool) -> None:
    assert may_match_below(deny, folder) is may


NAME = st.sampled_from(["a", "b", "x.pem", "X.PEM", "srv", "in", "log", ".h"])
GLOB_PART = st.sampled_from(["a", "b", "*", "?", "**", "*.pem", "srv", "in", "x*", ".h"])


@given(st.lists(GLOB_PART, min_size=1, max_size=4), st.lists(NAME, max_size=3),
       st.lists(NAME, min_size=1, max_size=3), st.booleans())
def test_a_pattern_matching_below_a_folder_is_always_seen(pattern_parts: list[str],
                                                          folder_parts: list[str],
                                                          below: list[str], ci: bool) -> None:
    pattern = "/" + "/".join(pattern_parts)
    folder = "/" + "/".join(folder_parts)
    path = "/".join([folder.rstrip("/"), *below])
    if glob_regex(pattern, ci).fullmatch(path):
        assert may_match_below([pattern], folder, ci)


@given(st.lists(GLOB_PART, min_size=1, max_size=3), st.lists(NAME, max_size=3),
       st.lists(NAME, min_size=1, max_size=3))
def test_a_covered_folder_allows_every_name_below(prefix: list[str], folder_parts: list[str],
                                                 below: list[str]) -> None:
    pattern = "/" + "/".join([*prefix, "**"])
    folder = "/" + "/".join(folder_parts)
    if covers_everything_below([pattern], folder):
        assert glob_regex(pattern).fullmatch("/".join([folder.rstrip("/"), *below]))

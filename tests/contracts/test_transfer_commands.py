"""Reading scp -O and rsync server command lines (pure): tables of what real clients send,
and properties: never a path other than the one the shell would see."""

from __future__ import annotations

import shlex

import pytest
from hypothesis import given
from hypothesis import strategies as st

from bastion.contracts import TransferCommand, UncheckableTransfer, parse_transfer
from bastion.i18n.catalogue import translator

RSYNC_FLAGS = "-logDtpre.iLsfxCIvu"

# What OpenSSH 9 (scp -O) and rsync 3 send, captured from the real clients.
READABLE = [
    ("scp -f /a/b", "scp", "download", ("/a/b",), False),
    ("scp -r -p -d -f /a/my file", "scp", "download", ("/a/my", "file"), True),
    ("scp -t /dest/", "scp", "upload", ("/dest/",), False),
    ("scp -r -t dir", "scp", "upload", ("dir",), True),
    ("scp -d -t dir", "scp", "upload", ("dir",), False),
    ("scp -v -f ~/notes.txt", "scp", "download", ("notes.txt",), False),
    ("/usr/bin/scp -f x", "scp", "download", ("x",), False),
    ("scp -f 'my file'", "scp", "download", ("my file",), False),
    (f"rsync --server --sender {RSYNC_FLAGS} . /a/b", "rsync", "download", ("/a/b",), True),
    (f"rsync --server --sender {RSYNC_FLAGS} . /a/my\\ file /c", "rsync", "download",
     ("/a/my file", "/c"), True),
    (f"rsync --server {RSYNC_FLAGS} . /dest/", "rsync", "upload", ("/dest/",), True),
    ("rsync --server -e.LsfxCIvu . .", "rsync", "upload", (".",), False),
    ("rsync --server -vlogDtprze.iLsfxCIvu --delete --partial . d", "rsync", "upload", ("d",),
     True),
    (f"rsync --server --sender {RSYNC_FLAGS} . ~/x", "rsync", "download", ("x",), True),
    (f"rsync --server --sender {RSYNC_FLAGS} . ~", "rsync", "download", (".",), True),
]

UNCHECKABLE = [
    ("scp -f $(cat /etc/shadow)", "'$'"),
    ("scp -f `id`", "'`'"),
    ("scp -f /etc/*.conf", "'*'"),
    ("scp -f /etc/pass?d", "'?'"),
    ("scp -f /etc/{passwd,shadow}", "'{'"),
    ("scp -f a; cat /etc/shadow", "';'"),
    ("scp -f a > b", "'>'"),
    ("scp -f -- -weird", "looks like an option"),
    ("scp -f ~root/.ssh/id_rsa", "another account's home"),
    ("scp -f '~/x'", "another account's home"),
    ("scp -f 'unclosed", "cannot be read"),
    ("scp -f", "names no path"),
    ("scp -f -t x", "either send"),
    ("scp -t a b", "one destination"),
    ("scp -S evil -f x", "option -S"),
    ("sudo scp -f /etc/shadow", "through another command"),
    ("env A=1 rsync --server --sender -l . /etc", "through another command"),
    ("rsync --server --sender -slogDtpre.iLsfxCIvu", "secluded-args"),
    ("rsync --server -rlKe.iLsfxCIvu . /srv/in", "option -K"),
    (f"rsync --server --sender {RSYNC_FLAGS} --files-from=/tmp/list . /", "--files-from"),
    (f"rsync --server {RSYNC_FLAGS} --backup-dir=/etc . x", "--backup-dir"),
    (f"rsync --server {RSYNC_FLAGS} --temp-dir=/etc . x", "--temp-dir"),
    (f"rsync --server {RSYNC_FLAGS} --link-dest=/etc . x", "--link-dest"),
    (f"rsync --server --daemon {RSYNC_FLAGS} . x", "--daemon"),
    (f"rsync --server {RSYNC_FLAGS} x", "expected form"),
    (f"rsync --server {RSYNC_FLAGS} . a b", "one destination"),
    (f"rsync --server --sender {RSYNC_FLAGS} . /var/log/*.log", "'*'"),
]


@pytest.mark.parametrize(("command", "tool", "direction", "paths", "recursive"), READABLE)
def test_what_real_clients_send_is_read(command: str, tool: str, direction: str,
                                        paths: tuple[str, ...], recursive: bool) -> None:
    assert parse_transfer(command) == TransferCommand(tool, direction, paths, recursive)


@pytest.mark.parametrize(("command", "words"), UNCHECKABLE)
def test_what_cannot_be_read_exactly_is_uncheckable(command: str, words: str) -> None:
    result = parse_transfer(command)
    assert isinstance(result, UncheckableTransfer), result
    assert words in result.reason
    # The technician reads the same reason in their contract's language.
    assert result.phrase is not None and result.phrase.english() == result.reason
    french = translator("fr")
    assert french(result.phrase.message) != result.phrase.message


@pytest.mark.parametrize("command", ["ls -la", "cat /etc/shadow", "scp", "rsync --version",
                                     "grep scp /var/log/auth.log", "tar czf - /etc"])
def test_other_commands_are_not_transfers(command: str) -> None:
    assert parse_transfer(command) is None


def test_rsync_remove_source_files_changes_the_sources() -> None:
    result = parse_transfer(f"rsync --server --sender {RSYNC_FLAGS} --remove-source-files . x")
    assert isinstance(result, TransferCommand) and result.changes_sources


@given(st.text(min_size=1, max_size=40).filter(lambda s: "\x00" not in s),
       st.sampled_from(["scp -f", "scp -r -t", f"rsync --server --sender {RSYNC_FLAGS} .",
                        f"rsync --server {RSYNC_FLAGS} ."]))
def test_a_quoted_path_is_read_exactly_or_refused(path: str, prefix: str) -> None:
    """Whatever the name, the path checked is the one the shell hands to scp or rsync."""
    result = parse_transfer(f"{prefix} {shlex.quote(path)}")
    assert isinstance(result, TransferCommand | UncheckableTransfer)
    if isinstance(result, TransferCommand):
        assert result.paths == (path,)


@given(st.text(max_size=80))
def test_any_command_line_is_either_read_refused_or_left_alone(command: str) -> None:
    result = parse_transfer(command)
    assert result is None or isinstance(result, TransferCommand | UncheckableTransfer)
    if isinstance(result, TransferCommand):
        assert result.paths and all(p and not p.startswith("-") for p in result.paths)


@given(st.lists(st.from_regex(r"[A-Za-z0-9_./ -]{1,20}", fullmatch=True)
                .filter(lambda s: not s.startswith("-") and s.strip()), min_size=1, max_size=4))
def test_rsync_escaped_names_come_back_whole(names: list[str]) -> None:
    escaped = " ".join(n.replace(" ", "\\ ") for n in names)
    result = parse_transfer(f"rsync --server --sender {RSYNC_FLAGS} . {escaped}")
    assert isinstance(result, TransferCommand)
    assert result.paths == tuple(names)

"""``contracts check``: each broken contract gets its precise message, at its file and line;
nothing crashes; the shipped examples pass."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path

import pytest

from bastion.contracts import Inventory, check_paths
from bastion.contracts.sshkeys import inspect_key

from .conftest import DEMO_TARGETS, EXAMPLES, TUESDAY_10H, public_key

NOW = TUESDAY_10H
INVENTORY = Inventory(DEMO_TARGETS)

BASE = f"""\
time_zone: Europe/Paris
vendor:
  id: acme
  name: Acme Santé SAS
contract:
  reference: ACME-1
  dpa_reference: DPA-ACME-1
  valid_from: 2025-01-01
  valid_until: 2029-12-31
subprocessors:
  - name: Sous-Traitant SARL
    dpa_reference: DPA-ACME-1-ST
technicians:
  - id: jdupont
    full_name: Jean Dupont
    email: jd@acme.example
    employer: Acme Santé SAS
    keys:
      - {public_key("jdupont")}
  - id: kbenali
    full_name: Karim Benali
    email: kb@st.example
    employer: Sous-Traitant SARL
    keys:
      - {public_key("kbenali")}
scope:
  targets:
    - name: dpi-app-01
      accounts: [maint]
  data_categories: [administrative, technical]
  windows:
    - days: [mon, tue, wed, thu, fri]
      start: "08:00"
      end: "18:00"
  max_session_minutes: 240
channels:
  shell: true
command_rules:
  - pattern: '\\bsudo\\b'
    action: flag
    reason: reviewed
"""
KEY_JD = public_key("jdupont")
FP_JD = inspect_key(KEY_JD).fingerprint


def edit(old: str, new: str, text: str = BASE) -> str:
    assert old in text, old
    return text.replace(old, new, 1)


def line_of(text: str, needle: str) -> int:
    return next(i for i, line in enumerate(text.splitlines(), 1) if needle in line)


Write = Callable[..., Path]


def problems_of(write: Write, text: str, inventory: Inventory | None = INVENTORY,
                now: datetime = NOW) -> tuple[Path, list[str]]:
    path = write(text)
    report = check_paths([path], inventory, now)
    return path, [str(p) for p in report.problems]


def test_the_base_contract_is_clean(write_contract: Write) -> None:
    _, problems = problems_of(write_contract, BASE)
    assert problems == []


# (case, old text, new text, the line's needle in the edited text, the exact message)
SCHEMA_CASES = [
    ("wrong type", "max_session_minutes: 240", "max_session_minutes: deux cents",
     "max_session_minutes",
     "scope.max_session_minutes: Input should be a valid integer, unable to parse string as "
     "an integer (got 'deux cents')"),
    ("unknown data category", "[administrative, technical]", "[administrative, sante]",
     "data_categories",
     "scope.data_categories[1]: unknown data category 'sante': use administrative, ins, "
     "health, documents, staff, technical"),
    ("regex that does not compile", "'\\bsudo\\b'", "'(sudo'", "(sudo",
     "command_rules[0].pattern: regex '(sudo' does not compile: missing ), unterminated "
     "subpattern at position 0"),
    ("unknown top-level field", "channels:\n", "channel:\n", "channel:",
     "top level: unknown field 'channel' (did you mean 'channels'?)"),
    ("unknown day", "[mon, tue, wed, thu, fri]", "[lun, tue, wed, thu, fri]", "days:",
     "scope.windows[0].days[0]: unknown day 'lun': use mon, tue, wed, thu, fri, sat, sun"),
    ("hour out of range", 'end: "18:00"', 'end: "25:00"', "end:",
     "scope.windows[0].end: '25:00' is not a time of day: write it HH:MM in quotes, "
     "e.g. '07:30'"),
    ("unknown time zone", "Europe/Paris", "Europe/Pariss", "time_zone",
     "time_zone: unknown time zone 'Europe/Pariss': use e.g. 'Europe/Paris'"),
    ("name and labels together", "    - name: dpi-app-01\n",
     "    - name: dpi-app-01\n      labels: {role: app}\n", "name: dpi-app-01",
     "scope.targets[0]: give exactly one of 'name' or 'labels'"),
    ("dates in the wrong order", "valid_until: 2029-12-31", "valid_until: 2019-12-31",
     "valid_until", "contract.valid_until: 2019-12-31 is before valid_from 2025-01-01"),
    ("technician id with '+'", "id: jdupont", "id: j+dupont", "j+dupont",
     "technicians[0].id: 'j+dupont' is not a valid technician id: lower-case letters, digits, "
     "'.', '_' and '-', no '+'"),
    ("bad e-mail", "jd@acme.example", "jean dupont", "email:",
     "technicians[0].email: 'jean dupont' is not a valid e-mail address: write it name@domain"),
    ("relative SFTP path", "  shell: true\n",
     "  shell: true\n  sftp:\n    access: read\n    allow: [var/log]\n", "allow:",
     "channels.sftp.allow[0]: path pattern 'var/log' must be absolute (start with '/')"),
    ("forward without a port", "  shell: true\n", "  shell: true\n  forwards: [localhost]\n",
     "forwards", "channels.forwards[0]: 'localhost' is not host:port, e.g. '127.0.0.1:5432'"),
    ("unknown SFTP access", "  shell: true\n",
     "  shell: true\n  sftp:\n    access: write\n    allow: [/tmp/**]\n", "access: write",
     "channels.sftp.access: Input should be 'none', 'read' or 'read-write' (got 'write')"),
    ("too many approvers", "  shell: true\n", "  shell: true\napproval:\n  approvers: 5\n",
     "approvers: 5",
     "approval.approvers: Input should be less than or equal to 3 (got 5)"),
    ("unknown category for approvers", "  shell: true\n",
     "  shell: true\napproval:\n  approvers_by_data_category: {sante: 2}\n", "sante",
     "approval.approvers_by_data_category.sante: unknown data category 'sante': use "
     "administrative, ins, health, documents, staff, technical"),
    ("a list where a mapping is expected", "channels:\n  shell: true\n",
     "channels:\n  - shell\n", "channels:",
     "channels: Input should be a valid dictionary or instance of Channels"),
    ("empty accounts", "accounts: [maint]", "accounts: []", "accounts:",
     "scope.targets[0].accounts: List should have at least 1 item after validation, not 0"),
]


@pytest.mark.parametrize(("old", "new", "needle", "message"), [c[1:] for c in SCHEMA_CASES],
                         ids=[c[0] for c in SCHEMA_CASES])
def test_schema_problems(write_contract: Write, old: str, new: str, needle: str,
                         message: str) -> None:
    text = edit(old, new)
    path, problems = problems_of(write_contract, text)
    assert f"{path}:{line_of(text, needle)}: {message}" in problems, problems


def test_misspelt_field_names_the_field_and_suggests(write_contract: Write) -> None:
    text = edit("  valid_until: 2029", "  valid_untill: 2029")
    path, problems = problems_of(write_contract, text)
    assert problems == [
        f"{path}:5: contract.valid_until: missing (this field is required)",
        f"{path}:9: contract: unknown field 'valid_untill' (did you mean 'valid_until'?)",
    ]


def test_missing_section(write_contract: Write) -> None:
    text = edit("vendor:\n  id: acme\n  name: Acme Santé SAS\n", "")
    path, problems = problems_of(write_contract, text)
    assert problems == [f"{path}:1: vendor: missing (this field is required)"]


def test_key_given_twice(write_contract: Write) -> None:
    text = edit("  valid_until: 2029-12-31\n", "  valid_until: 2029-12-31\n  valid_until: 2031-12-31\n")
    path, problems = problems_of(write_contract, text)
    assert problems == [f"{path}:10: 'valid_until' is given twice (first on line 9)"]


@pytest.mark.parametrize(("text", "line", "start"), [
    ("vendor:\n  id: [acme\n  name: x\n", 3, "not valid YAML: while parsing a flow sequence"),
    ("vendor: {id: acme\nname: x\n", 2, "not valid YAML: while parsing a flow mapping"),
    ("vendor:\n\tid: acme\n", 2, "not valid YAML: while scanning for the next token, found "
                                 "character '\\t' that cannot start any token"),
    ("vendor: !!python/object:os.system {}\n", 1, "not valid YAML: could not determine a "
                                                  "constructor for the tag"),
    ("- just\n- a list\n", 1, "a contract is a set of fields (vendor:, contract:, scope:, ...), "
                              "not a list"),
    ("just words\n", 1, "a contract is a set of fields (vendor:, contract:, scope:, ...), "
                        "not a text"),
    ("", 1, "the file is empty"),
    ("# only a comment\n", 1, "the file is empty"),
])
def test_malformed_files_never_crash(write_contract: Write, text: str, line: int,
                                     start: str) -> None:
    path, problems = problems_of(write_contract, text)
    assert len(problems) == 1
    assert problems[0].startswith(f"{path}:{line}: {start}"), problems


def test_hostile_yaml_gets_a_clear_message(write_contract: Write) -> None:
    laughs = "a: &a [x, x]\nb: &b [*a, *a]\nc: &c [*b, *b]\nd: [*c, *c]\n"
    path, problems = problems_of(write_contract, laughs)
    assert problems == [f"{path}:1: anchors and aliases (& and *) are not accepted in a contract"]
    path, problems = problems_of(write_contract, "a: " + "[" * 5000 + "]" * 5000 + "\n")
    assert problems == [f"{path}:1: the file is nested too deeply to be a contract"]
    path, problems = problems_of(write_contract, "# padding\n" * 200_000)
    assert problems == [f"{path}:1: the file is larger than 1000 kB: not a contract"]


def test_unreadable_files(tmp_path: Path) -> None:
    binary = tmp_path / "binary.yaml"
    binary.write_bytes(b"\xff\xfe\x00vendor")
    missing = tmp_path / "missing.yaml"
    report = check_paths([binary, missing], None, NOW)
    assert [str(p) for p in report.problems] == [
        f"{binary}:1: not a UTF-8 text file",
        f"{missing}:1: cannot be read: No such file or directory",
    ]


def test_unquoted_times_keep_their_meaning(write_contract: Write) -> None:
    """YAML 1.1 reads an unquoted 18:30 as the number 1110; contracts read it as a time."""
    text = edit('start: "08:00"\n      end: "18:00"', "start: 08:00\n      end: 18:30")
    path = write_contract(text)
    report = check_paths([path], INVENTORY, NOW)
    assert report.ok, report.problems
    contract = report.files[0].contract
    assert contract is not None
    assert (contract.scope.windows[0].start, contract.scope.windows[0].end) == ("08:00", "18:30")


def key_problem(write: Write, key_line: str) -> list[str]:
    text = edit(KEY_JD, key_line)
    path, problems = problems_of(write, text)
    return [p.removeprefix(f"{path}:{line_of(text, key_line[:30])}: ") for p in problems]


def test_weak_keys(write_contract: Write) -> None:
    rsa2048 = public_key("rsa2048", "ssh-rsa", key_size=2048)
    dsa = public_key("dsa", "ssh-dss")
    fp_rsa, fp_dsa = inspect_key(rsa2048).fingerprint, inspect_key(dsa).fingerprint
    assert key_problem(write_contract, rsa2048) == [
        f"technician jdupont: weak key {fp_rsa}: RSA 2048 bits, at least 3072 are required "
        "(ed25519 is preferred)"]
    assert key_problem(write_contract, dsa) == [
        f"technician jdupont: weak key {fp_dsa}: DSA keys are broken; use ed25519"]


@pytest.mark.parametrize(("algorithm", "options"), [
    ("ssh-rsa", {"key_size": 3072}),
    ("ecdsa-sha2-nistp256", {}),
    ("ecdsa-sha2-nistp384", {}),
    ("ssh-ed25519", {}),
])
def test_strong_keys(write_contract: Write, algorithm: str, options: dict[str, int]) -> None:
    assert key_problem(write_contract, public_key(f"strong-{algorithm}", algorithm,
                                                  **options)) == []


def test_security_key_is_accepted(write_contract: Write) -> None:
    # A FIDO2 sk-ssh-ed25519 public key (the hardware holds the private half).
    sk = ("sk-ssh-ed25519@openssh.com AAAAGnNrLXNzaC1lZDI1NTE5QG9wZW5zc2guY29tAAAAIAMIJ6hP1ij4"
          "LyLlqDNM5+jDbTXGbSNIeIZI1G7qXDq+AAAABHNzaDo= jdupont@yubikey")
    assert key_problem(write_contract, sk) == []


def test_not_a_key(write_contract: Write) -> None:
    text = edit(KEY_JD, "ssh-ed25519 AAAAnotbase64")
    path, problems = problems_of(write_contract, text)
    assert len(problems) == 1
    assert problems[0].startswith(f"{path}:{line_of(text, 'AAAAnotbase64')}: "
                                  "technicians[0].keys[0]: not an OpenSSH public key line")


def test_private_key_pasted_by_mistake(write_contract: Write) -> None:
    text = edit(KEY_JD, "-----BEGIN OPENSSH PRIVATE KEY-----")
    _, problems = problems_of(write_contract, text)
    assert len(problems) == 1 and "not an OpenSSH public key line" in problems[0]


STATIC_CASES = [
    ("expired contract", "valid_until: 2029-12-31", "valid_until: 2026-12-31",
     "valid_until", "contract ACME-1 expired on 2026-12-31"),
    ("technician without a key", f"    keys:\n      - {KEY_JD}\n", "", "- id: jdupont",
     "technician jdupont has no SSH public key"),
    ("one key on two technicians", public_key("kbenali"), KEY_JD, "Karim",
     None),  # message checked below: it names both people
    ("employer not declared", "employer: Sous-Traitant SARL", "employer: Autre SARL",
     "Autre SARL", "technician kbenali: employer 'Autre SARL' is neither the vendor 'Acme Santé "
     "SAS' nor a declared subprocessor (declare it under 'subprocessors' with its article 28 "
     "agreement)"),
    ("window without days", "[mon, tue, wed, thu, fri]", "[]", "- days:",
     "window 1 is empty: it has no days"),
    ("window opening and closing at once", 'end: "18:00"', 'end: "08:00"', "- days:",
     "window 1 is empty: it opens and closes at 08:00"),
    ("day listed twice", "[mon, tue, wed, thu, fri]", "[mon, tue, mon]", "- days:",
     "window 1 lists mon more than once"),
    ("no windows", '  windows:\n    - days: [mon, tue, wed, thu, fri]\n      start: "08:00"\n'
                   '      end: "18:00"\n', "  windows: []\n", "windows:",
     "no maintenance window: the contract would never allow access"),
    ("overlapping windows", 'end: "18:00"\n',
     'end: "18:00"\n    - days: [fri, sat]\n      start: "17:00"\n      end: "20:00"\n',
     "[fri, sat]", "windows 1 and 2 overlap from fri 17:00 to fri 18:00"),
    ("overlap across the week's end", 'end: "18:00"\n',
     'end: "18:00"\n    - days: [sun]\n      start: "22:00"\n      end: "09:00"\n',
     "[sun]", "windows 1 and 2 overlap from mon 08:00 to mon 09:00"),
    ("touching windows do not overlap", 'end: "18:00"\n',
     'end: "18:00"\n    - days: [fri]\n      start: "18:00"\n      end: "24:00"\n',
     None, None),
    ("SFTP access without paths", "  shell: true\n", "  shell: true\n  sftp:\n    access: read\n",
     "access: read", "SFTP access is read but no path is allowed: list the folders under "
                     "channels.sftp.allow"),
    ("unknown target", "name: dpi-app-01", "name: dpi-app-02", "dpi-app-02",
     "unknown target dpi-app-02: it is not in the inventory"),
    ("unknown label", "- name: dpi-app-01", "- labels: {role: web}", "role: web",
     "no target in the inventory carries the label(s) role=web"),
    ("account absent from the target", "accounts: [maint]", "accounts: [maint, oracle]",
     "accounts:", "account oracle does not exist on dpi-app-01"),
]


@pytest.mark.parametrize(("old", "new", "needle", "message"), [c[1:] for c in STATIC_CASES],
                         ids=[c[0] for c in STATIC_CASES])
def test_static_problems(write_contract: Write, old: str, new: str, needle: str | None,
                         message: str | None) -> None:
    text = edit(old, new)
    path, problems = problems_of(write_contract, text)
    if needle is None:
        assert problems == []
        return
    line = line_of(text, needle)
    if message is None:
        first = line_of(text, "- id: jdupont") + 5
        assert problems == [f"{path}:{line + 4}: key {FP_JD} of technician kbenali is also "
                            f"jdupont's ({path}:{first}): one key, one person"]
    else:
        assert problems == [f"{path}:{line}: {message}"]


def test_every_problem_is_reported_at_once(write_contract: Write) -> None:
    text = edit("name: dpi-app-01", "name: dpi-app-02",
                edit("valid_until: 2029-12-31", "valid_until: 2026-12-31",
                     edit("employer: Sous-Traitant SARL", "employer: Autre SARL")))
    _, problems = problems_of(write_contract, text)
    assert len(problems) == 3


def test_without_inventory_references_are_not_checked(write_contract: Write) -> None:
    path = write_contract(edit("name: dpi-app-01", "name: dpi-app-02"))
    report = check_paths([path], None, NOW)
    assert report.ok
    assert report.notes == ["no initialised database: target, label and account references "
                            "and keys already registered were not checked"]


def test_problems_across_files(write_contract: Write) -> None:
    first = write_contract(BASE, "acme.yaml")
    other = edit("id: acme", "id: other", edit("id: kbenali", "id: kdurand"))
    second = write_contract(other, "other.yaml")
    report = check_paths([first, second], INVENTORY, NOW)
    jd_line = line_of(BASE, "- id: jdupont")
    key_line = jd_line + 5
    assert [str(p) for p in report.problems] == [
        f"{second}:{jd_line}: technician jdupont is already named in {first}:{jd_line}",
        f"{second}:{key_line}: key {FP_JD} is listed twice for technician jdupont",
        f"{second}:{key_line + 6}: key {inspect_key(public_key('kbenali')).fingerprint} of "
        f"technician kdurand is also kbenali's ({first}:{key_line + 6}): one key, one person",
    ]


def test_same_vendor_in_two_files(write_contract: Write) -> None:
    first = write_contract(BASE, "a.yaml")
    other = edit("id: jdupont", "id: jdupont2", edit("id: kbenali", "id: kbenali2",
                 edit(KEY_JD, public_key("jd2"),
                      edit(public_key("kbenali"), public_key("kb2")))))
    second = write_contract(other, "b.yaml")
    report = check_paths([first, second], INVENTORY, NOW)
    assert [str(p) for p in report.problems] == [
        f"{second}:3: vendor acme already has a contract in {first}:3: one file per vendor"]


def test_keys_and_people_already_in_the_database(write_contract: Write) -> None:
    inventory = Inventory(DEMO_TARGETS, key_owners={FP_JD: "mleroy"},
                          technician_vendors={"kbenali": "other-vendor"})
    path, problems = problems_of(write_contract, BASE, inventory)
    assert problems == [
        f"{path}:19: key {FP_JD} of technician jdupont is already registered for technician "
        "mleroy: one key, one person",
        f"{path}:20: technician id kbenali already belongs to vendor other-vendor in the "
        "database",
    ]


def test_a_folder_stands_for_its_contract_files(tmp_path: Path) -> None:
    (tmp_path / "notes.txt").write_text("not a contract")
    (tmp_path / "a.yaml").write_text(BASE)
    report = check_paths([tmp_path], INVENTORY, NOW)
    assert report.ok and [f.path for f in report.files] == [str(tmp_path / "a.yaml")]


def test_the_examples_pass_check_against_the_demo_inventory() -> None:
    report = check_paths([EXAMPLES], INVENTORY, datetime.now(UTC))
    assert [str(p) for p in report.problems] == []
    assert len(report.files) == 3
    assert all(f.contract is not None for f in report.files)

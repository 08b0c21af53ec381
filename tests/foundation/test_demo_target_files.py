"""The demo target's folders come from the example contracts' SFTP paths; the demo makes
what is missing, with a sample file, and never takes over a folder it did not make."""

from __future__ import annotations

from pathlib import Path, PurePosixPath

from bastion.demo.setup import EXAMPLES
from bastion.demo.target_files import (
    SAMPLE_NAME,
    SAMPLE_TEXT,
    contract_folders,
    pattern_folder,
    prepare_folders,
)


def test_a_pattern_s_folder_is_its_part_before_the_first_wildcard() -> None:
    assert pattern_folder("/opt/medilogic/**") == PurePosixPath("/opt/medilogic")
    assert pattern_folder("/var/log/pacs/**/*.dcm") == PurePosixPath("/var/log/pacs")
    assert pattern_folder("/**/*.pem") is None


def test_the_example_contracts_folders() -> None:
    folders = {(str(f.path), f.account, f.allowed, f.contract)
               for f in contract_folders(sorted(EXAMPLES.glob("*.yaml")))}
    assert folders == {
        ("/opt/medilogic", "maint", True, "EDI-2024-07"),
        ("/var/log/medilogic", "maint", True, "EDI-2024-07"),
        ("/opt/medilogic/conf/secrets", "maint", False, "EDI-2024-07"),
        ("/var/log/postgresql", "dbmaint", True, "QDB-2025-03"),
        ("/var/log/pacs", "pacsmaint", True, "RAD-PACS-2023-11"),
    }


def test_missing_folders_are_made_and_foreign_ones_left_alone(tmp_path: Path) -> None:
    foreign = tmp_path / "var" / "log" / "postgresql"
    foreign.mkdir(parents=True)
    (foreign / "main.log").write_text("someone else's\n")
    folders = contract_folders(sorted(EXAMPLES.glob("*.yaml")))
    ready = prepare_folders(folders, root=tmp_path, as_accounts=False)
    assert "/var/log/postgresql" not in {str(f.path) for f in ready}
    assert sorted(p.name for p in foreign.iterdir()) == ["main.log"]
    for folder in ready:
        sample = tmp_path / folder.sample.relative_to("/")
        assert sample.read_text() == SAMPLE_TEXT
    # A second run (make demo twice) finds its own folders ready again.
    again = prepare_folders(folders, root=tmp_path, as_accounts=False)
    assert again == ready
    assert (tmp_path / "opt/medilogic/conf/secrets" / SAMPLE_NAME).exists()

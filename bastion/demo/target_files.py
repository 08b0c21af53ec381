"""The folders the demo contracts speak of, on the demo target, each with a harmless sample
file, so the printed walkthrough can show a transfer the contract allows and one it
refuses.

Read from the demo's copies of the example contracts (``channels.sftp.allow`` and
``deny``): a pattern's folder is its part before the first wildcard. Denied folders
inside an allowed one (``/opt/medilogic/conf/secrets/**``) get a sample too, to be
refused. Nothing that already exists is taken over: a folder is created (and given to the
contract's first target account) only when absent, and a folder not made by the demo
(``/var/log/postgresql`` on a machine running PostgreSQL) is left alone.
"""

from __future__ import annotations

import os
import pwd
from dataclasses import dataclass
from pathlib import Path, PurePosixPath

import yaml

SAMPLE_NAME = "demo-sample.txt"
SAMPLE_TEXT = ("Sample file written by `bastion demo` on the demo target: nothing real, "
               "only something to transfer through the bastion.\n")
_WILDCARDS = set("*?[")


@dataclass(frozen=True)
class DemoFolder:
    path: PurePosixPath  # as the technician names it on the target
    account: str  # the target account the contract uses
    vendor: str
    contract: str
    allowed: bool  # False: inside an allowed folder but excluded by a deny pattern
    pattern: str  # the contract's pattern this folder comes from

    @property
    def sample(self) -> PurePosixPath:
        return self.path / SAMPLE_NAME


def pattern_folder(pattern: str) -> PurePosixPath | None:
    """``/opt/medilogic/**`` -> ``/opt/medilogic``; None when nothing fixed precedes the
    first wildcard (``/**/*.pem``)."""
    fixed = []
    for part in PurePosixPath(pattern).parts[1:]:
        if _WILDCARDS & set(part):
            break
        fixed.append(part)
    return PurePosixPath("/", *fixed) if fixed else None


def contract_folders(contract_paths: list[Path]) -> list[DemoFolder]:
    folders: list[DemoFolder] = []
    for path in contract_paths:
        document = yaml.safe_load(path.read_text())
        sftp = (document.get("channels") or {}).get("sftp") or {}
        accounts = [a for t in document["scope"]["targets"] for a in t.get("accounts", [])]
        if not accounts or sftp.get("access", "none") == "none":
            continue
        common = {"account": accounts[0], "vendor": document["vendor"]["id"],
                  "contract": document["contract"]["reference"]}
        allowed = [(p, f) for p in sftp.get("allow", []) if (f := pattern_folder(p))]
        for pattern, folder in allowed:
            folders.append(DemoFolder(folder, allowed=True, pattern=pattern, **common))
        for pattern in sftp.get("deny", []):
            folder = pattern_folder(pattern)
            if folder and any(folder.is_relative_to(a) and folder != a for _, a in allowed):
                folders.append(DemoFolder(folder, allowed=False, pattern=pattern, **common))
    return folders


def _make(root: Path, folder: DemoFolder, owner: pwd.struct_passwd | None) -> bool:
    """Create ``folder`` under ``root`` with its sample; False when it is someone else's."""
    real = root / folder.path.relative_to("/")
    sample = real / SAMPLE_NAME
    if real.exists() and not sample.exists():
        return False
    created = []
    for directory in [*reversed(real.parents), real]:
        if not directory.exists():
            directory.mkdir(mode=0o755)
            created.append(directory)
    if not sample.exists():
        sample.write_text(SAMPLE_TEXT)
        created.append(sample)
    if owner is not None:
        for made in created:
            os.chown(made, owner.pw_uid, owner.pw_gid)
    return True


def prepare_folders(folders: list[DemoFolder], *, root: Path = Path("/"),
                    as_accounts: bool) -> list[DemoFolder]:
    """Create the folders and samples under ``root`` (``/`` for the demo sshd, whose accounts
    then own them; the built-in target's SFTP root otherwise). Returns those ready."""
    ready = []
    for folder in folders:
        owner = pwd.getpwnam(folder.account) if as_accounts else None
        if _make(root, folder, owner):
            ready.append(folder)
    return ready


def missing_folders(folders: list[DemoFolder]) -> list[str]:
    """What the demo sshd would add to this machine, for the warning given first."""
    return [str(f.path) for f in folders if not Path(f.path).exists()]

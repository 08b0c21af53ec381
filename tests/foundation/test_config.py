import os
import re
import subprocess
import sys
import tomllib
from pathlib import Path

import pytest

from bastion.config import ConfigError, Settings, load_settings


def test_embedded_defaults_need_nothing(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    settings = load_settings(env={})
    assert settings.database_url == f"sqlite:///{tmp_path / 'var' / 'bastion.db'}"
    assert settings.recordings_dir == tmp_path / "var" / "recordings"
    assert (settings.ssh.listen_host, settings.ssh.listen_port) == ("127.0.0.1", 2222)
    assert (settings.web.listen_host, settings.web.listen_port) == ("127.0.0.1", 8080)


def test_toml_file_and_environment_override(tmp_path: Path) -> None:
    config = tmp_path / "bastion.toml"
    config.write_text('[ssh]\nlisten_port = 2022\n[database]\nurl = "postgresql://db/bastion"\n')
    settings = load_settings(config, env={"BASTION_SSH__LISTEN_PORT": "2200",
                                          "BASTION_WEB__SECURE_COOKIES": "true"})
    assert settings.ssh.listen_port == 2200
    assert settings.web.secure_cookies is True
    assert settings.database_url == "postgresql://db/bastion"
    # Relative paths follow the configuration file, not the working directory.
    assert settings.var_dir == tmp_path / "var"


@pytest.mark.parametrize(
    ("toml", "expected"),
    [
        ("[ssh]\nlisten_port = 70000\n", "ssh.listen_port: Input should be less than or equal to 65535"),
        ("[ssh]\nlisten_port = 'abc'\n", "ssh.listen_port: Input should be a valid integer"),
        ("[ssh]\nlisten_prot = 22\n", "ssh.listen_prot: unknown key"),
        ("[database]\nurl = 'mysql://x'\n", "database.url: must be a sqlite:/// or postgresql:// URL"),
        ("[web]\ntime_zone = 'Europe/Pariss'\n", "web.time_zone: unknown time zone"),
        ("[audit]\nretention_days = 30\n", "audit.retention_days: Input should be greater than or equal to 180"),
        ("[ssh\nlisten_port = 1\n", "not valid TOML"),
    ],
)
def test_bad_value_is_one_line_naming_the_key(tmp_path: Path, toml: str, expected: str) -> None:
    config = tmp_path / "bastion.toml"
    config.write_text(toml)
    with pytest.raises(ConfigError) as caught:
        load_settings(config, env={})
    message = str(caught.value)
    assert "\n" not in message
    assert message.startswith(str(config))
    assert expected in message


def test_environment_names_must_have_a_section(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="BASTION_PORT: expected BASTION_<SECTION>__<KEY>"):
        load_settings(env={"BASTION_PORT": "1"})


def test_named_file_must_exist(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="configuration file not found"):
        load_settings(tmp_path / "nope.toml", env={})


def test_access_traces_beyond_a_year_need_a_stated_reason(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="retention_justification.*CNIL"):
        load_settings(env={"BASTION_AUDIT__RETENTION_DAYS": "700"})
    kept = load_settings(env={"BASTION_AUDIT__RETENTION_DAYS": "700",
                              "BASTION_AUDIT__RETENTION_JUSTIFICATION":
                                  "enquête sur l'incident de sécurité 2026-11 en cours"})
    assert kept.audit.retention_days == 700
    with pytest.raises(ConfigError, match="greater than or equal to 180"):
        load_settings(env={"BASTION_AUDIT__RETENTION_DAYS": "90"})


def test_the_readme_configuration_example_is_one_valid_file() -> None:
    """An operator copies the README's example into bastion.toml: it must load as it is
    (a section declared twice made it a file TOML refuses)."""
    readme = (Path(__file__).resolve().parents[2] / "README.md").read_text(encoding="utf-8")
    example = re.search(r"```toml\n(.*?)```", readme, re.S)
    assert example is not None, "the README has no configuration example"
    Settings.model_validate(tomllib.loads(example.group(1)))


def test_one_worker_per_core_counts_the_cores_the_node_may_use(tmp_path: Path) -> None:
    # A cpuset (docker --cpuset-cpus, systemd CPUAffinity=) of one core: one worker, not one
    # per core of the host. The affinity is set in a child, which it binds alone.
    probe = ("from bastion.config import load_settings; "
             "print(load_settings(env={'BASTION_DATABASE__URL': 'postgresql://db/b'}).proxy_workers, "
             "load_settings(env={}).proxy_workers)")
    core = min(os.sched_getaffinity(0))
    done = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, timeout=60,
                          cwd=tmp_path, preexec_fn=lambda: os.sched_setaffinity(0, {core}))
    assert done.returncode == 0, done.stderr
    assert done.stdout.split() == ["1", "1"]
    settings = load_settings(env={"BASTION_DATABASE__URL": "postgresql://db/b"})
    assert settings.proxy_workers == len(os.sched_getaffinity(0))
    assert settings.node.pin_workers is True  # each worker on its own core, by default

"""docker-compose.yml must describe a deployable system: every build context, Dockerfile and
file it mounts exists in the repository (no Docker engine runs here to build it)."""

from __future__ import annotations

from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[2]


def test_compose_references_exist() -> None:
    compose = yaml.safe_load((ROOT / "docker-compose.yml").read_text())
    services = compose["services"]
    assert {"bastion", "postgres", "dpi-app-01"} <= set(services)
    named_volumes = set(compose.get("volumes", {}))
    for name, service in services.items():
        build = service.get("build")
        if build:
            context = ROOT / build["context"]
            assert context.is_dir(), f"{name}: build context {context} missing"
            assert (context / build.get("dockerfile", "Dockerfile")).is_file(), name
        else:
            assert service.get("image"), f"{name}: neither build nor image"
        for volume in service.get("volumes", []):
            source = volume.split(":", 1)[0]
            if source.startswith((".", "/")):
                assert (ROOT / source).exists(), f"{name}: mounted {source} missing"
            else:
                assert source in named_volumes, f"{name}: volume {source} not declared"


def test_dockerfiles_copy_only_what_exists_and_run_unprivileged() -> None:
    dockerfile = (ROOT / "Dockerfile").read_text()
    assert "\nUSER bastion" in dockerfile
    for line in dockerfile.splitlines():
        if line.startswith("COPY "):
            for source in line.split()[1:-1]:
                assert (ROOT / source).exists(), f"Dockerfile copies missing {source}"
    target = ROOT / "deploy/target"
    for line in (target / "Dockerfile").read_text().splitlines():
        if line.startswith("COPY "):
            assert (target / line.split()[1]).exists()

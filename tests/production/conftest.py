"""Fixtures of the production-shape tests: a real S3-compatible server."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from bastion.recording.s3_storage import S3Storage
from tests.proxy.conftest import scenario  # noqa: F401 - the proxy tests' fixture, shared

from .s3server import S3Server


@pytest.fixture(scope="session")
def s3_server() -> Iterator[S3Server]:
    server = S3Server().start()
    yield server
    server.stop()


@pytest.fixture
def bucket(s3_server: S3Server) -> str:
    return s3_server.new_bucket()


@pytest.fixture
def s3_storage(s3_server: S3Server, bucket: str) -> S3Storage:
    return S3Storage(s3_server.client(), bucket, "recordings/")

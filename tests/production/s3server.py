"""A real S3-compatible server on loopback: moto's standalone server, in its own process.

It speaks the S3 REST protocol over HTTP like MinIO or AWS would, so boto3 and the storage
backend go through real requests, signatures, conditional writes and multipart uploads.
(MinIO itself ships as a binary download, which this workplace cannot fetch; moto is a
PyPI package.)
"""

from __future__ import annotations

import subprocess
import sys
import uuid
from dataclasses import dataclass, field
from typing import Any

from tests.harness.ports import free_port, wait_for_port

ACCESS_KEY = "bastion-test"
SECRET_KEY = "bastion-test-secret"
REGION = "eu-west-3"


@dataclass
class S3Server:
    port: int = 0
    _process: subprocess.Popen[bytes] | None = field(default=None, repr=False)

    def start(self) -> S3Server:
        self.port = self.port or free_port()
        self._process = subprocess.Popen(
            [sys.executable, "-m", "moto.server", "-H", "127.0.0.1", "-p", str(self.port)],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        wait_for_port(self.port, timeout=30)
        return self

    @property
    def endpoint_url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def environment(self) -> dict[str, str]:
        """How the bastion gets its credentials: boto3's standard variables."""
        return {"AWS_ACCESS_KEY_ID": ACCESS_KEY, "AWS_SECRET_ACCESS_KEY": SECRET_KEY}

    def client(self) -> Any:
        import boto3

        return boto3.session.Session().client(
            "s3", endpoint_url=self.endpoint_url, region_name=REGION,
            aws_access_key_id=ACCESS_KEY, aws_secret_access_key=SECRET_KEY)

    def new_bucket(self) -> str:
        name = f"rec-{uuid.uuid4().hex[:12]}"
        self.client().create_bucket(Bucket=name,
                                    CreateBucketConfiguration={"LocationConstraint": REGION})
        return name

    def stop(self) -> None:
        if self._process and self._process.poll() is None:
            self._process.terminate()
            try:
                self._process.wait(10)
            except subprocess.TimeoutExpired:
                self._process.kill()

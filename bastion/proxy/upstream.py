"""The bastion's own connection to a target: a fresh Ed25519 key per session, a
certificate from the target CA valid for minutes, and the pinned host key."""

from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass

import asyncssh

from bastion.i18n.catalogue import Translator

from . import messages
from .algorithms import KEX, UPSTREAM_CIPHERS
from .directory import Destination
from .ssh_legs import prepare_ssh_leg


class UpstreamError(Exception):
    """Why the target could not be reached; ``str()`` is the technician's message and
    ``audit_reason`` is the precise reason for the log."""

    def __init__(self, message: str, audit_reason: str) -> None:
        super().__init__(message)
        self.audit_reason = audit_reason


@dataclass(frozen=True)
class TargetLogin:
    """How the bastion logs in: its per-session key and certificate, or a vaulted key or
    password for a target that cannot trust the target CA. Never shown to the technician."""

    key: asyncssh.SSHKey | None = None
    certificate: asyncssh.SSHCertificate | None = None
    password: str | None = None

    def options(self) -> dict[str, object]:
        if self.password is not None:
            return {"password": self.password, "client_keys": None,
                    "preferred_auth": "password,keyboard-interactive"}
        if self.certificate is not None:
            return {"client_keys": [(self.key, self.certificate)], "preferred_auth": "publickey"}
        return {"client_keys": [self.key], "preferred_auth": "publickey"}


def vaulted_login(method: str, secret: bytes) -> TargetLogin:
    if method == "vault_key":
        return TargetLogin(key=asyncssh.import_private_key(secret))
    return TargetLogin(password=secret.decode("utf-8"))


def issue_target_login(target_ca: asyncssh.SSHKey, *, account: str, session_id: int,
                       valid_minutes: int) -> TargetLogin:
    key = asyncssh.generate_private_key("ssh-ed25519")
    now = int(time.time())
    certificate = target_ca.generate_user_certificate(
        key,
        key_id=f"session-{session_id}",
        principals=[account],
        # A minute of slack for clock skew with the target; a few minutes ahead is enough to
        # log in: the certificate is useless once the session has been opened.
        valid_after=now - 60,
        valid_before=now + valid_minutes * 60,
        permit_x11_forwarding=False,
        permit_agent_forwarding=False,
        permit_port_forwarding=True,
        permit_pty=True,
        permit_user_rc=False,
    )
    return TargetLogin(key=key, certificate=certificate)


class _CoalescingClient(asyncssh.SSHClient):
    def connection_made(self, conn: asyncssh.SSHClientConnection) -> None:
        prepare_ssh_leg(conn)


async def connect_target(destination: Destination, account: str, login: TargetLogin,
                         timeout: float, _: Translator) -> asyncssh.SSHClientConnection:
    """``_``: the technician's words, for the line a failure shows them."""
    pinned = asyncssh.import_public_key(destination.host_key)
    try:
        return await asyncio.wait_for(
            asyncssh.connect(
                destination.host,
                destination.port,
                username=account,
                known_hosts=([pinned], [], []),
                server_host_key_algs=[pinned.get_algorithm()]
                if not pinned.get_algorithm().startswith("ssh-rsa") else (),
                agent_path=None,
                config=None,
                **login.options(),
                kex_algs=list(KEX) + ["ecdh-sha2-nistp256", "diffie-hellman-group14-sha256"],
                encryption_algs=list(UPSTREAM_CIPHERS),
                keepalive_interval=30,
                client_factory=_CoalescingClient,
            ),
            timeout,
        )
    except asyncssh.HostKeyNotVerifiable as exc:
        raise UpstreamError(
            _(messages.TARGET_IDENTITY_CHANGED, target=destination.name),
            f"host key mismatch for {destination.name}: {exc}",
        ) from None
    except asyncssh.PermissionDenied as exc:
        raise UpstreamError(
            _(messages.TARGET_REFUSED_LOGIN, target=destination.name, account=account),
            f"target refused the bastion's login as {account}: {exc}",
        ) from None
    except TimeoutError:
        raise UpstreamError(
            _(messages.TARGET_TIMEOUT, target=destination.name, seconds=int(timeout)),
            f"no answer from {destination.host}:{destination.port} within {timeout:g} s",
        ) from None
    except (OSError, asyncssh.Error) as exc:
        error = getattr(exc, "strerror", None) or str(exc) or type(exc).__name__
        raise UpstreamError(
            _(messages.TARGET_UNREACHABLE, target=destination.name, error=error),
            f"cannot connect to {destination.host}:{destination.port}: {error}",
        ) from None

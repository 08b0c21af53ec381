"""A second authentication step after the technician's key: keyboard-interactive.

asyncssh has no server-side "partial success" (OpenSSH's AuthenticationMethods
publickey,keyboard-interactive), so this module gates the connection's success message: once
the key is proven, if something must still be asked (the reason and ticket of an access
request, later a one-time code), the client is told "partial success, continue with
keyboard-interactive" instead. It replaces two methods on the asyncssh connection object
(``send_userauth_success`` and ``_validate_openssh_certificate``) and re-arms its expected
service; tests/proxy run these paths with the real OpenSSH client and with paramiko, so an
asyncssh upgrade that changes them fails the suite rather than the hospital.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

import asyncssh

REASON_MIN_LENGTH = 5
BREAK_GLASS_WORD = "URGENCE"


@dataclass
class RequestDetails:
    reason: str
    ticket: str | None
    break_glass: bool = False


@dataclass
class Questions:
    """What keyboard-interactive asks, and what it got."""

    target: str
    break_glass_offered: bool
    answers: RequestDetails | None = None
    attempts: int = 0
    problem: str | None = None
    prompts: list[tuple[str, bool]] = field(default_factory=list)

    def banner(self) -> str:
        return (f"bastion: no active grant for {self.target}: answer the questions that follow "
                "to request access, or request it in the vendor portal.\r\n")

    def challenge(self) -> tuple[str, str, str, list[tuple[str, bool]]]:
        lines = ["Your request goes to the hospital's IT for approval. Sessions are recorded."]
        if self.problem:
            lines.append(self.problem)
        prompts = [("Reason for this access: ", True), ("Ticket reference (optional): ", True)]
        if self.break_glass_offered:
            lines.append(f"In an emergency, type {BREAK_GLASS_WORD} at the last question: "
                         "access opens at once and the DPO reviews it afterwards.")
            prompts.append((f"Emergency? type {BREAK_GLASS_WORD} or press Enter: ", True))
        self.prompts = prompts
        return ("Bastion access request", "\n".join(lines) + "\n", "", prompts)

    def accept(self, responses: list[str]) -> bool:
        self.attempts += 1
        reason = (responses[0] if responses else "").strip()
        ticket = (responses[1] if len(responses) > 1 else "").strip() or None
        emergency = len(responses) > 2 and responses[2].strip().upper() == BREAK_GLASS_WORD
        if len(reason) < REASON_MIN_LENGTH:
            self.problem = f"The reason must say why (at least {REASON_MIN_LENGTH} characters)."
            return False
        self.answers = RequestDetails(reason, ticket, emergency and self.break_glass_offered)
        return True


class SuccessGate:
    """Holds the connection's success until every required step is done."""

    def __init__(self, conn: asyncssh.SSHServerConnection,
                 plan: Callable[[], Awaitable[Questions | None]],
                 check_certificate: Callable[[Any], Awaitable[str | None]]) -> None:
        self.conn = conn
        self.key_proven = False
        self.questions: Questions | None = None
        self.certificate: Any = None
        self._plan = plan
        self._check_certificate = check_certificate
        self._planned = False
        self._success = conn.send_userauth_success
        conn.send_userauth_success = self._gated_success  # type: ignore[method-assign]
        self._validate_certificate = conn._validate_openssh_certificate  # noqa: SLF001
        conn._validate_openssh_certificate = self._capture_certificate  # type: ignore[method-assign]  # noqa: SLF001

    def reset(self) -> None:
        """A new user name starts authentication over."""
        self.key_proven = False
        self.questions = None
        self.certificate = None
        self._planned = False

    async def _capture_certificate(self, username: str, cert: Any) -> Any:
        key = await self._validate_certificate(username, cert)
        if key is not None:
            self.certificate = cert
        return key

    @property
    def asking(self) -> bool:
        return self.key_proven and self.questions is not None and self.questions.answers is None

    async def _gated_success(self) -> None:
        if self.certificate is not None and not self.key_proven:
            problem = await self._check_certificate(self.certificate)
            if problem is not None:
                self.certificate = None
                self.conn.send_userauth_failure(False)
                return
        if not self._planned:
            self._planned = True
            self.questions = await self._plan()
        self.key_proven = True
        if self.asking:
            # Partial success, and only keyboard-interactive left to offer: clearing the
            # certificate authority drops "publickey" from the methods that can continue.
            self.conn.set_authorized_keys(None)  # type: ignore[arg-type]
            # Some clients (paramiko) ask for the user-auth service again before each method,
            # as OpenSSH's sshd allows; asyncssh only accepts it once unless re-armed.
            self.conn._next_service = b"ssh-userauth"  # noqa: SLF001
            if self.questions is not None:
                # Shown by clients that cannot answer (BatchMode, scripts) before they give up.
                self.conn.send_auth_banner(self.questions.banner())
            self.conn.send_userauth_failure(True)
            return
        await self._success()

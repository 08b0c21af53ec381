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

import unicodedata
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

import asyncssh

from bastion.i18n import Phrase
from bastion.i18n.catalogue import Translator, translator

from .policy import LOCKED

REASON_MIN_LENGTH = 5
BREAK_GLASS_WORD = "URGENCE"


def plain(text: str) -> str:
    """Accents folded away: OpenSSH shows a keyboard-interactive title and instruction
    through strnvis, a non-ASCII letter as an octal escape ("acc\\303\\250s"); its prompts
    and the authentication banner keep them, and so the lines there are left whole."""
    folded = unicodedata.normalize("NFKD", text)
    return "".join(c for c in folded if not unicodedata.combining(c)).encode(
        "ascii", "replace").decode("ascii")


@dataclass
class RequestDetails:
    reason: str
    ticket: str | None
    break_glass: bool = False


@dataclass
class Questions:
    """What keyboard-interactive asks (a one-time code, a request's reason and ticket),
    and what it got."""

    target: str
    ask_request: bool
    # None when the code is accepted, else the line telling the technician why not.
    code_check: Callable[[str], Awaitable[Phrase | None]] | None = None
    break_glass_offered: bool = False
    emergency_only: bool = False
    answers: RequestDetails | None = None
    code_ok: bool = False
    attempts: int = 0
    problem: str | None = None
    locked: bool = False
    # The technician's words (their contract's language) and the zone times are told in.
    tr: Translator = field(default_factory=lambda: translator(None))
    zone: str = "Europe/Paris"

    @property
    def done(self) -> bool:
        return ((self.code_check is None or self.code_ok)
                and (not self.ask_request or self.answers is not None))

    def banner(self) -> str | None:
        if not self.ask_request:
            return None
        return self.tr("bastion: no active grant for {target}: answer the questions that "
                       "follow to request access, or request it in the vendor portal.",
                       target=self.target) + "\r\n"

    def _prompts(self) -> list[tuple[str, bool]]:
        _ = self.tr
        prompts: list[tuple[str, bool]] = []
        if self.code_check is not None and not self.code_ok:
            prompts.append((_("One-time code: "), False))
        if self.ask_request and self.answers is None:
            prompts += [(_("Reason for this access: "), True),
                        (_("Ticket reference (optional): "), True)]
            if self.break_glass_offered:
                prompts.append((_("Emergency? type {word} or press Enter: ",
                                  word=BREAK_GLASS_WORD), True))
        return prompts

    def challenge(self) -> tuple[str, str, str, list[tuple[str, bool]]]:
        _ = self.tr
        lines = []
        if self.ask_request and self.answers is None:
            lines.append(_("Your request goes to the hospital's IT for approval. "
                           "Sessions are recorded."))
            if self.emergency_only:
                lines.append(_("Outside your contract's maintenance windows: only an "
                               "emergency can open access now."))
            if self.break_glass_offered:
                lines.append(_("In an emergency, type {word} at the last question: access "
                               "opens at once and the DPO reviews it afterwards.",
                               word=BREAK_GLASS_WORD))
        if self.problem:
            lines.append(self.problem)
        title = _("Bastion access request") if self.ask_request else _("Bastion second factor")
        instruction = "\n".join(lines) + ("\n" if lines else "")
        return (plain(title), plain(instruction), "", self._prompts())

    async def accept(self, responses: list[str]) -> bool:
        self.attempts += 1
        self.problem = None
        answers = list(responses)
        if self.code_check is not None and not self.code_ok:
            code = answers.pop(0) if answers else ""
            problem = await self.code_check(code)
            if problem is not None:
                self.problem = self.tr.phrase(problem, self.zone)
                self.locked = problem.message == LOCKED
                return False
            self.code_ok = True
        if self.ask_request and self.answers is None:
            reason = (answers[0] if answers else "").strip()
            ticket = (answers[1] if len(answers) > 1 else "").strip() or None
            emergency = len(answers) > 2 and answers[2].strip().upper() == BREAK_GLASS_WORD
            if len(reason) < REASON_MIN_LENGTH:
                self.problem = self.tr("The reason must say why (at least {n} characters).",
                                       n=REASON_MIN_LENGTH)
                return False
            self.answers = RequestDetails(reason, ticket, emergency and self.break_glass_offered)
        return True


@dataclass(frozen=True)
class Plan:
    """What must happen after the key: nothing, questions, or a refusal (with its line)."""

    questions: Questions | None = None
    refusal: str | None = None


class SuccessGate:
    """Holds the connection's success until every required step is done."""

    def __init__(self, conn: asyncssh.SSHServerConnection,
                 plan: Callable[[], Awaitable[Plan]],
                 check_certificate: Callable[[Any], Awaitable[str | None]],
                 notice: Callable[[], Awaitable[str | None]]) -> None:
        self.conn = conn
        self.key_proven = False
        self.questions: Questions | None = None
        self.certificate: Any = None
        self._plan = plan
        self._check_certificate = check_certificate
        self._notice = notice
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
        return self.key_proven and self.questions is not None and not self.questions.done

    async def _gated_success(self) -> None:
        if self.certificate is not None and not self.key_proven:
            problem = await self._check_certificate(self.certificate)
            if problem is not None:
                self.certificate = None
                self.conn.send_userauth_failure(False)
                return
        if not self._planned:
            self._planned = True
            plan = await self._plan()
            if plan.refusal is not None:
                self.conn.send_auth_banner(f"{plan.refusal}\r\n")
                self.conn.send_userauth_failure(False)
                return
            self.questions = plan.questions
        self.key_proven = True
        if self.asking:
            # Partial success, and only keyboard-interactive left to offer: clearing the
            # certificate authority drops "publickey" from the methods that can continue.
            self.conn.set_authorized_keys(None)  # type: ignore[arg-type]
            # Some clients (paramiko) ask for the user-auth service again before each method,
            # as OpenSSH's sshd allows; asyncssh only accepts it once unless re-armed.
            self.conn._next_service = b"ssh-userauth"  # noqa: SLF001
            banner = self.questions.banner() if self.questions is not None else None
            if banner:
                # Shown by clients that cannot answer (BatchMode, scripts) before they give up.
                self.conn.send_auth_banner(banner)
            self.conn.send_userauth_failure(True)
            return
        banner = await self._notice()
        if banner:
            self.conn.send_auth_banner(banner + "\r\n")
        await self._success()

"""One technician's SSH connection: authentication, routing, access, and its channels."""

from __future__ import annotations

import asyncio
import contextlib
import time
import unicodedata
from collections.abc import Awaitable
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any

import asyncssh
from asyncssh.packet import SSHPacket

from bastion.approvals import (
    ApprovalError,
    OutOfContract,
    cancel_request,
    check_certificate,
    file_request,
)
from bastion.audit import Actor
from bastion.breakglass import ASKED, AcknowledgementAsked, BreakGlassError, declare_break_glass, give_up
from bastion.breakglass.channels import deliver_declared, notice
from bastion.contracts import Decision
from bastion.contracts.second_factor import SecondFactorVerdict, judge_second_factor
from bastion.crypto import DecryptionError
from bastion.i18n import Phrase
from bastion.i18n.catalogue import Translator, translator
from bastion.models import utcnow
from bastion.vault import open_secret

from . import directory, messages
from .directory import GrantSnapshot, Resolution
from .forwards import open_forward, refuse_remote_forward
from .policy import (
    GrantPolicy,
    contract_decision,
    grant_constraints,
    locked_line,
    second_factor_facts,
    use_totp_code,
)
from .process import RelayedProcess
from .routing import Route, RouteError, parse_route
from .second_step import BREAK_GLASS_WORD, Plan, Questions, RequestDetails, SuccessGate
from .ssh_legs import prepare_ssh_leg
from .upstream import (
    TargetLogin,
    UpstreamError,
    connect_target,
    issue_target_login,
    vaulted_login,
)
from .waiting import RequestNotApproved, wait_for_acknowledgement, wait_for_approval

if TYPE_CHECKING:
    from .service import ProxyService


REQUESTABLE = ("shell", "exec", "sftp", "forward")
# How long a closing connection waits for its last line to reach the technician, well
# within the 2 s in which a revocation, a spent budget or a failed recording must end a
# session (a loaded node needs the margin); the disconnect message carries the line anyway.
CLOSE_GRACE_SECONDS = 1.0
# The window asked for from SSH; the contracts engine narrows it to what the contract allows.
REQUEST_WINDOW_MINUTES = 120


def disconnect_text(line: str) -> str:
    """The line as OpenSSH shows a disconnect message: ASCII only (it prints other bytes
    as octal escapes), accents dropped rather than the words garbled."""
    decomposed = unicodedata.normalize("NFKD", line.replace("\u2019", "'"))
    plain = "".join(c for c in decomposed if not unicodedata.combining(c))
    return plain.encode("ascii", "replace").decode().strip()


class Refusal(Exception):
    """A decision not to serve: ``str()`` is the technician's one line."""


class ProxyConnection(asyncssh.SSHServer):
    def __init__(self, service: ProxyService, source: str | None = None) -> None:
        self.service = service
        self.core = service.core
        self.conn: asyncssh.SSHServerConnection | None = None
        # Behind a load balancer, the technician's address from its PROXY v2 header.
        self._source = source
        self.peer = "?"
        self.route: Route | None = None
        self.route_error: str | None = None
        self._resolution: asyncio.Future[Resolution] | None = None
        self.resolution: Resolution | None = None
        self.grant: GrantSnapshot | None = None
        # The grant whose certificate authenticated this login: that grant, and no other,
        # admits the session (and is the one its records name).
        self.certificate_grant_id: int | None = None
        self.policy: GrantPolicy | None = None
        self.deadline: datetime | None = None
        self.idle_limit_seconds: int = service.core.settings.ssh.idle_timeout_minutes * 60
        self.session_id: int | None = None
        self.upstream: asyncssh.SSHClientConnection | None = None
        self._access_lock = asyncio.Lock()
        self._banner_sent = False
        self.processes: set[asyncssh.SSHServerProcess[bytes]] = set()
        self.last_activity = time.monotonic()
        self.requestable_channels: list[str] = []
        self.key_algorithm = ""
        self.sk_flags: int | None = None
        self.second_factor: str | None = None
        self.notice_shown = False
        self.emergency_only = False
        self.pending_request_id: int | None = None
        self.pending_emergency_id: int | None = None  # waiting for an acknowledgement
        self.waiting_process: asyncssh.SSHServerProcess[bytes] | None = None
        self.warned = False
        self.closing_reason: str | None = None

    # --- who is connecting --------------------------------------------------------------

    @property
    def tr(self) -> Translator:
        """Words for this technician: their contract's language once they are known, the
        bastion's ssh.banner_language before (a refusal must not reveal who exists)."""
        identity = self.resolution.identity if self.resolution else None
        return translator(identity.language if identity
                          else self.core.settings.ssh.banner_language)

    def said(self, error: ApprovalError | BreakGlassError) -> str:
        """An error's line in the technician's words (docs/operations.md, languages)."""
        return self.tr.refusal(error, self.core.settings.web.time_zone)

    def decision_line(self, decision: Decision) -> str:
        """The engine's one line for the technician, in their language."""
        _ = self.tr
        reason = (_.phrase(decision.phrase, decision.time_zone) if decision.phrase
                  else decision.headline)
        return _(messages.REFUSED, reason=reason)

    def connection_made(self, conn: asyncssh.SSHServerConnection) -> None:
        prepare_ssh_leg(conn)
        self.conn = conn
        peer = conn.get_extra_info("peername")
        self.peer = self._source or (peer[0] if peer else "?")
        self.gate = SuccessGate(conn, self._plan_second_step, self._check_certificate,
                                self._login_notice)

    def connection_lost(self, exc: Exception | None) -> None:
        self.service.forget(self)
        asyncio.get_running_loop().create_task(self._finish(exc))

    async def _finish(self, exc: Exception | None) -> None:
        if self.pending_request_id is not None:
            with contextlib.suppress(Exception):
                await self.service.call(
                    cancel_request, self.core, self.pending_request_id,
                    actor=Actor(f"technician:{self.technician}", "technician"),
                    reason="the technician disconnected while waiting")
        if self.pending_emergency_id is not None:
            with contextlib.suppress(Exception):
                await self.service.call(
                    give_up, self.core, self.pending_emergency_id,
                    why="the technician disconnected while waiting",
                    actor=Actor(f"technician:{self.technician}", "technician"))
        if self.upstream is not None:
            self.upstream.close()
        reason = self.closing_reason or ("connection lost: " + str(exc) if exc else
                                         "the technician disconnected")
        await self._close_row("terminated" if self.closing_reason else "ended", reason)

    async def _close_row(self, status: str, reason: str) -> None:
        """The session's row ends (once: a row already ended is left as it is)."""
        if self.session_id is not None:
            await self.service.call(directory.close_session, self.core, self.session_id,
                                    status=status, reason=reason)

    def begin_auth(self, username: str) -> bool:
        self.gate.reset()
        self._resolution = None
        try:
            self.route = parse_route(username)
        except RouteError as exc:
            self.route_error = str(exc)
            return True
        # Grant certificates name the technician as principal; the routing user name
        # carries the target, so the principal is matched against the technician alone.
        assert self.conn is not None
        self.conn.set_authorized_keys(asyncssh.import_authorized_keys(
            f'cert-authority,principals="{self.route.technician}" '
            f"{self.service.technician_ca_line}\n"))
        self._resolution = asyncio.ensure_future(
            self.service.call(directory.resolve, self.core, self.route)
        )
        return True

    def password_auth_supported(self) -> bool:
        return False

    def public_key_auth_supported(self) -> bool:
        return not self.gate.key_proven

    def kbdint_auth_supported(self) -> bool:
        return self.gate.asking

    def get_kbdint_challenge(self, username: str, lang: str, submethods: str):  # type: ignore[no-untyped-def]
        if not self.gate.asking or self.gate.questions is None:
            return False
        return self.gate.questions.challenge()

    async def validate_kbdint_response(self, username: str, responses: list[str]):  # type: ignore[no-untyped-def]
        questions = self.gate.questions
        if questions is None:
            return False
        if await questions.accept(list(responses)):
            return True
        if questions.locked:
            if self.conn is not None and questions.problem:
                self.conn.send_auth_banner(self.tr("bastion: {line}", line=questions.problem)
                                           + "\r\n")
            return False
        return questions.challenge() if questions.attempts < 3 else False

    async def _check_certificate(self, certificate: Any) -> str | None:
        """A grant's certificate logs in only while its grant is live, for this target."""
        if self._resolution is None:
            return "malformed user name"
        resolution = self.resolution = await self._resolution
        problem = resolution.problem
        if problem is None:
            try:
                grant = await self.service.call(check_certificate, self.core, certificate)
            except ApprovalError as exc:
                problem = f"certificate refused ({exc.code}): {exc.message}"
            else:
                if grant.target != resolution.destination.name:  # type: ignore[union-attr]
                    problem = f"certificate is for grant {grant.id} on {grant.target}"
                else:
                    self.certificate_grant_id = grant.id
        if problem is not None:
            self.certificate_grant_id = None
            await self._refuse_login(self.route.technician if self.route else "?",
                                     "certificate", problem)
        return problem

    async def _plan_second_step(self) -> Plan:
        """After the key has signed: is a second factor still due, and must the technician
        say why they need access (no grant yet)?"""
        if self._resolution is None:
            return Plan()
        resolution = self.resolution = await self._resolution
        if resolution.problem is not None or resolution.identity is None:
            return Plan()
        identity, destination = resolution.identity, resolution.destination
        assert destination is not None
        facts = await self.service.call(second_factor_facts, self.core, identity.ident)
        verdict = judge_second_factor(facts.policy, key_algorithm=self.key_algorithm,
                                      sk_flags=self.sk_flags,
                                      totp_enrolled=facts.totp_secret is not None)
        code_check = None
        if verdict.outcome == "ask_totp" and facts.locked_until is not None:
            verdict = SecondFactorVerdict.refused(locked_line(facts.locked_until))
        if verdict.outcome == "refused":
            await self._refuse_login(self.route.technician if self.route else "?",
                                     self.key_algorithm, verdict.reason, quiet=True)
            _ = self.tr
            line = (_.phrase(verdict.phrase, self.core.settings.web.time_zone)
                    if verdict.phrase else verdict.reason)
            return Plan(refusal=_("bastion: {line}", line=line))
        if verdict.outcome == "ask_totp":
            secret = facts.totp_secret

            async def code_check(code: str) -> Phrase | None:
                return await self.service.call(use_totp_code, self.core, identity.ident,
                                               secret, code, self.peer)
        self.second_factor = verdict.reason
        ask_request = False
        break_glass = False
        if self.gate.certificate is None:
            now = utcnow()
            decision = await self.service.call(
                contract_decision, self.core, technician=identity.ident,
                target=destination.name, account=resolution.account, channel="request", at=now)
            emergency = decision
            if not decision.allowed:
                # An emergency may be allowed where a normal request is not (outside the
                # maintenance windows, when the contract says so). When the request is
                # allowed, the engine's break-glass answer differs only by the contract's
                # break_glass.allowed, which the constraints already carry.
                emergency = await self.service.call(
                    contract_decision, self.core, technician=identity.ident,
                    target=destination.name, account=resolution.account, channel="request",
                    at=now, break_glass=True)
            if emergency.allowed and emergency.constraints is not None:
                grant = await self.service.call(
                    directory.find_active_grant, self.core, identity.technician_id,
                    destination.target_id, emergency.constraints.account, now)
                ask_request = grant is None
                self.requestable_channels = sorted(emergency.constraints.channels)
                break_glass = emergency.constraints.break_glass_allowed
                self.emergency_only = not decision.allowed
        if code_check is None and not ask_request:
            return Plan()
        return Plan(Questions(target=destination.name, ask_request=ask_request,
                              code_check=code_check, break_glass_offered=break_glass,
                              emergency_only=self.emergency_only, tr=self.tr,
                              zone=self.core.settings.web.time_zone))

    async def validate_public_key(self, username: str, key: asyncssh.SSHKey) -> bool:
        if self.gate.key_proven:
            return False  # the key already counted; the next step is keyboard-interactive
        fingerprint = key.get_fingerprint("sha256")
        if self._resolution is None:
            problem = f"malformed user name {username!r}: {self.route_error}"
            resolution = None
        else:
            resolution = self.resolution = await self._resolution
            problem = resolution.problem
            if problem is None and fingerprint not in resolution.identity.fingerprints:  # type: ignore[union-attr]
                problem = f"key {fingerprint} is not registered for technician {self.route.technician!r}"  # type: ignore[union-attr]
        if problem is None:
            self._note_key(key)
            return True
        await self._refuse_login(username, fingerprint, problem)
        return False

    def _note_key(self, key: asyncssh.SSHKey) -> None:
        """Remember what signs: a security key's signature carries its touch and
        verification flags, which the second-factor rule needs."""
        self.key_algorithm = key.get_algorithm()
        if not self.key_algorithm.startswith("sk-"):
            return
        verify = key.verify

        def verify_and_note(data: bytes, sig: bytes) -> bool:
            with contextlib.suppress(Exception):
                packet = SSHPacket(sig)
                packet.get_string()  # algorithm
                packet.get_string()  # signature
                self.sk_flags = packet.get_byte()
            return verify(data, sig)

        key.verify = verify_and_note  # type: ignore[method-assign]

    async def _refuse_login(self, username: str, fingerprint: str, problem: str,
                            quiet: bool = False) -> None:
        # The client is told the same line whatever is wrong (no enumeration of
        # technicians, targets or accounts); the audit log gets the precise reason. Once
        # the key is proven the technician is known, and ``quiet`` leaves the telling to
        # the caller.
        if not quiet and not self._banner_sent and self.conn is not None:
            self._banner_sent = True
            _ = translator(self.core.settings.ssh.banner_language)
            self.conn.send_auth_banner(_(messages.ACCESS_REFUSED) + "\r\n")
        await self.service.call(
            directory.audit, self.core, action="login.refused", outcome="denied",
            actor=Actor(f"ssh:{username}", "technician"),
            technician=self.route.technician if self.route else None,
            target=self.route.target if self.route else None,
            account=self.route.account if self.route else None,
            reasons=[problem],
            details={"client_address": self.peer, "key_fingerprint": fingerprint,
                     "user_name": username},
        )

    async def _login_notice(self) -> str | None:
        """The recording notice every login gets as its SSH banner, audited."""
        if self.resolution is None or self.resolution.destination is None:
            return None
        _ = self.tr
        language = _.language
        text = _(messages.RECORDING_BANNER, target=self.resolution.destination.name)
        identity = self.resolution.identity
        await self.service.call(
            directory.audit, self.core, action="session.notice_shown", outcome="ok",
            actor=Actor(f"technician:{self.technician}", "technician"),
            vendor=identity.vendor if identity else None, technician=self.technician,
            target=self.target_name, details={"where": "ssh banner", "language": language,
                                              "text": text, "client_address": self.peer})
        return text

    def auth_completed(self) -> None:
        self.service.remember(self)

    def session_requested(self) -> RelayedProcess:
        return RelayedProcess(self.service.channels.handle_process, None, 0, False)

    def connection_requested(self, dest_host: str, dest_port: int, orig_host: str,
                             orig_port: int) -> Awaitable[asyncssh.SSHTCPSession[bytes]]:
        return open_forward(self, dest_host, dest_port)

    def server_requested(self, listen_host: str, listen_port: int) -> Awaitable[bool]:
        return refuse_remote_forward(self, listen_host, listen_port)

    # --- access: grant, policy, target connection -----------------------------------

    @property
    def technician(self) -> str:
        return self.resolution.identity.ident  # type: ignore[union-attr]

    @property
    def target_name(self) -> str:
        return self.resolution.destination.name  # type: ignore[union-attr]

    async def ensure_access(self, channel: str) -> GrantSnapshot:
        """The contract allows it, a grant covers it: or a Refusal saying why."""
        async with self._access_lock:
            if self.grant is None:
                await self._open_access(channel)
            assert self.policy is not None and self.grant is not None
            reason = self.policy.channel(channel)
            if reason is not None:
                await self._audit_refusal(channel, reason)
                raise Refusal(reason)
            return self.grant

    async def _open_access(self, channel: str) -> None:
        resolution = self.resolution
        assert resolution is not None and resolution.identity and resolution.destination
        now = utcnow()
        decision = await self.service.call(
            contract_decision, self.core, technician=resolution.identity.ident,
            target=resolution.destination.name, account=resolution.account, channel=channel,
            at=now)
        if not decision.allowed:
            decision = await self._emergency_decision(channel, now) or decision
        if not decision.allowed or decision.constraints is None:
            await self._audit_refusal(channel, "; ".join(decision.reasons),
                                      reasons=list(decision.reasons),
                                      extra={"codes": list(decision.codes),
                                             "contract": decision.contract_reference})
            raise Refusal(self.decision_line(decision))
        account = decision.constraints.account
        grant = await self.service.call(
            directory.find_active_grant, self.core, resolution.identity.technician_id,
            resolution.destination.target_id, account, now, grant_id=self.certificate_grant_id)
        if grant is None and self.certificate_grant_id is not None:
            # The certificate's grant ended, was revoked or is for another account since
            # login: no other grant stands in for it.
            reason = f"grant {self.certificate_grant_id} of your certificate is no longer valid here"
            await self._audit_refusal(channel, reason)
            raise Refusal(self.tr("grant {grant} of your certificate is no longer valid here: "
                                  "download a new certificate, or log in with your key to ask "
                                  "for access", grant=self.certificate_grant_id))
        if grant is None:
            grant = await self._request_and_wait(channel, account)
        if grant is None:
            await self._audit_refusal(channel, f"no active grant for {self.target_name}")
            raise Refusal(self.tr(messages.NO_ACTIVE_GRANT, target=self.target_name))
        constraints = grant_constraints(grant)
        if constraints is None:
            await self._audit_refusal(channel, f"grant {grant.grant_id}'s scope cannot be read")
            raise Refusal(self.tr("your grant for {target} cannot be read: ask the hospital's IT "
                                  "to check it", target=self.target_name))
        self.grant, self.policy = grant, GrantPolicy(constraints, self.tr)
        # The session never outlives its grant nor the contract's longest session.
        self.deadline = min(grant.not_after,
                            now + timedelta(minutes=constraints.max_session_minutes))
        if constraints.idle_timeout_minutes:
            self.idle_limit_seconds = constraints.idle_timeout_minutes * 60
        self.session_id = await self.service.call(
            directory.open_session, self.core, identity=resolution.identity,
            destination=resolution.destination, grant=grant, client_address=self.peer)

    async def _emergency_decision(self, channel: str, now: datetime) -> Decision | None:
        """Outside what a normal request allows (say, outside the maintenance windows), an
        emergency may still be: when this login declared one, or a break-glass grant is
        already open for it."""
        resolution = self.resolution
        assert resolution is not None and resolution.identity and resolution.destination
        emergency = await self.service.call(
            contract_decision, self.core, technician=resolution.identity.ident,
            target=resolution.destination.name, account=resolution.account, channel=channel,
            at=now, break_glass=True)
        if not emergency.allowed or emergency.constraints is None:
            # On a health server an emergency only reads: say so rather than the normal
            # refusal (which would leave the technician believing nothing is possible).
            return emergency if "break_glass_read_only" in emergency.codes else None
        questions = self.gate.questions
        if questions is not None and questions.answers is not None and questions.answers.break_glass:
            return emergency
        grant = await self.service.call(
            directory.find_active_grant, self.core, resolution.identity.technician_id,
            resolution.destination.target_id, emergency.constraints.account, now)
        return emergency if grant is not None and grant.break_glass else None

    async def _request_and_wait(self, channel: str, account: str) -> GrantSnapshot | None:
        """File the request the technician described at login, and hold the channel until
        an approver answers (bounded; Ctrl-C cancels)."""
        questions = self.gate.questions
        if questions is None or questions.answers is None:
            return None
        answers, questions.answers = questions.answers, None  # one request per login
        resolution = self.resolution
        assert resolution is not None and resolution.identity and resolution.destination
        if answers.break_glass:
            return await self._declare_emergency(resolution, account, answers)
        if self.emergency_only:
            raise Refusal(self.tr("outside the maintenance windows of your contract, only an "
                                  "emergency ({word}) can open {target} now",
                                  word=BREAK_GLASS_WORD, target=self.target_name))
        now = utcnow()
        channels = [c for c in self.requestable_channels if c in REQUESTABLE] or [channel]
        try:
            request = await self.service.call(
                file_request, self.core, technician=resolution.identity.ident,
                target=resolution.destination.name, account=account,
                window_end=now + timedelta(minutes=REQUEST_WINDOW_MINUTES), channels=channels,
                reason=answers.reason, ticket=answers.ticket, source="ssh", fit_to_contract=True,
                actor=Actor(f"technician:{resolution.identity.ident}", "technician"))
        except OutOfContract as exc:
            _ = self.tr
            raise Refusal(_("request {request} is outside your contract: {reasons}",
                            request=exc.request_id,
                            reasons=_.phrase(exc.phrase) if exc.phrase
                            else "; ".join(exc.reasons[:2]))) from None
        except ApprovalError as exc:
            raise Refusal(self.said(exc)) from None
        self.pending_request_id = request.id
        try:
            await wait_for_approval(self, request.id, self.waiting_process)
        except RequestNotApproved as exc:
            raise Refusal(str(exc)) from None
        finally:
            self.pending_request_id = None
        return await self.service.call(
            directory.find_active_grant, self.core, resolution.identity.technician_id,
            resolution.destination.target_id, account, utcnow())

    async def _declare_emergency(self, resolution: Resolution, account: str,
                                 answers: RequestDetails) -> GrantSnapshot | None:
        """Break-glass: access opens at once, for the contract's short fixed time; the
        approvers and the DPO are told at once and a review is opened."""
        assert resolution.identity is not None and resolution.destination is not None
        try:
            access = await self.service.call(
                declare_break_glass, self.core, technician=resolution.identity.ident,
                target=resolution.destination.name, account=account,
                justification=answers.reason, ticket=answers.ticket, source="ssh")
        except BreakGlassError as exc:
            raise Refusal(self.said(exc)) from None
        if isinstance(access, AcknowledgementAsked):
            await self._wait_for_acknowledgement(access)
            return await self.service.call(
                directory.find_active_grant, self.core, resolution.identity.technician_id,
                resolution.destination.target_id, account, utcnow())
        _ = self.tr
        until = _.when(access.not_after, self.core.settings.web.time_zone, "time")
        # Sent before the technician is told, so the line says who actually knows.
        told = await self.service.call(deliver_declared, self.core, access.request_id)
        self.say(self.waiting_process)(
            _("bastion: EMERGENCY ACCESS opened until {until}; review {review} is opened for "
              "the DPO; {told}", until=until, review=access.review_id,
              told=notice(told, _)))
        return await self.service.call(
            directory.find_active_grant, self.core, resolution.identity.technician_id,
            resolution.destination.target_id, account, utcnow())

    async def _wait_for_acknowledgement(self, asked: AcknowledgementAsked) -> None:
        """On health data under on_sensitive: acknowledged, the emergency opens once an
        on-call approver acknowledges it; the technician is told who was asked, and waits."""
        # Sent before the technician is told, so the line says who actually got a link.
        told = await self.service.call(deliver_declared, self.core, asked.request_id, ASKED)
        _ = self.tr
        if not told.delivered:
            with contextlib.suppress(Exception):
                await self.service.call(
                    give_up, self.core, asked.request_id,
                    why="no on-call approver could be told: " + notice(told, translator("en")),
                    actor=Actor(f"technician:{self.technician}", "technician"))
            missing = ", ".join(_.phrase(d.phrase()) for d in told.not_delivered)
            raise Refusal(_("emergency {request} refused: no on-call approver could be asked "
                            "({missing}); call the hospital's IT on-call line now",
                            request=asked.request_id, missing=missing or _("no e-mail")))
        minutes = max(1, round((asked.expires_at - utcnow()).total_seconds() / 60))
        self.say(self.waiting_process)(
            _("bastion: EMERGENCY {request} declared: {target} holds health data, so it opens "
              "once an on-call approver acknowledges it ({told}) Waiting up to {minutes} min; "
              "Ctrl-C cancels.", request=asked.request_id, target=self.target_name,
              told=notice(told, _), minutes=minutes))
        self.pending_emergency_id = asked.request_id
        try:
            await wait_for_acknowledgement(self, asked, self.waiting_process)
        except RequestNotApproved as exc:
            raise Refusal(str(exc)) from None
        finally:
            self.pending_emergency_id = None
        told = await self.service.call(deliver_declared, self.core, asked.request_id)
        self.say(self.waiting_process)(
            _("bastion: emergency {request} acknowledged: EMERGENCY ACCESS opened; a review is "
              "opened for the DPO; {told}", request=asked.request_id, told=notice(told, _)))

    def say(self, process: asyncssh.SSHServerProcess[bytes] | None, end: str = "\r\n"):  # type: ignore[no-untyped-def]
        """A line for the technician on the channel being opened (stderr keeps scp, sftp
        and rsync data streams clean)."""
        def write(line: str) -> None:
            if process is not None:
                with contextlib.suppress(Exception):
                    process.stderr.write((line + end).encode())
        return write

    async def ensure_upstream(self) -> asyncssh.SSHClientConnection:
        async with self._access_lock:
            if self.upstream is None:
                assert self.grant is not None and self.resolution is not None
                login = await self._target_login()
                try:
                    self.upstream = await connect_target(
                        self.resolution.destination, self.grant.account, login,  # type: ignore[arg-type]
                        timeout=self.core.settings.ssh.target_connect_timeout_seconds, _=self.tr)
                except UpstreamError as exc:
                    await self._audit_refusal("connect", exc.audit_reason,
                                              action="target.connection_failed", outcome="failed")
                    self.closing_reason = exc.audit_reason
                    raise Refusal(str(exc)) from None
            return self.upstream

    async def _target_login(self) -> TargetLogin:
        assert self.grant is not None and self.resolution is not None
        destination = self.resolution.destination
        assert destination is not None
        stored = await self.service.call(directory.account_login, self.core,
                                         destination.target_id, self.grant.account)
        if stored.method != "certificate" and stored.sealed_secret is not None:
            try:
                secret = open_secret(self.service.master_key, destination.name,
                                     self.grant.account, stored.sealed_secret)
                return vaulted_login(stored.method, secret)
            except (DecryptionError, asyncssh.KeyImportError, ValueError) as exc:
                await self._audit_refusal("connect", f"vaulted secret unusable: {exc}",
                                          action="target.connection_failed", outcome="error")
                raise Refusal(self.tr(messages.TARGET_REFUSED_LOGIN, target=destination.name,
                                      account=self.grant.account)) from None
        return issue_target_login(self.service.target_ca, account=self.grant.account,
                                  session_id=self.session_id or 0,
                                  valid_minutes=self.core.settings.ssh.target_certificate_minutes)

    async def _audit_refusal(self, channel: str, reason: str, *, action: str = "channel.refused",
                             outcome: str = "denied", reasons: list[str] | None = None,
                             extra: dict[str, Any] | None = None) -> None:
        identity = self.resolution.identity if self.resolution else None
        await self.service.call(
            directory.audit, self.core, action=action, outcome=outcome,
            actor=Actor(f"technician:{self.technician}", "technician"),
            vendor=identity.vendor if identity else None, technician=self.technician,
            target=self.target_name, account=self.grant.account if self.grant else None,
            session_id=self.session_id, grant_id=self.grant.grant_id if self.grant else None,
            reasons=reasons or [reason],
            details={"channel": channel, "client_address": self.peer, **(extra or {})},
        )

    async def audit_channel(self, action: str, details: dict[str, Any],
                            outcome: str = "ok", reasons: list[str] | None = None) -> None:
        await self.service.call(
            directory.audit, self.core, action=action, outcome=outcome,
            actor=Actor(f"technician:{self.technician}", "technician"),
            technician=self.technician, target=self.target_name,
            account=self.grant.account if self.grant else None, session_id=self.session_id,
            grant_id=self.grant.grant_id if self.grant else None, details=details,
            **({"reasons": reasons} if reasons else {}),
        )

    def touch(self) -> None:
        self.last_activity = time.monotonic()

    # --- live control ---------------------------------------------------------------------

    def notify(self, line: str) -> None:
        """Write a line to every open terminal of this connection (warnings)."""
        for process in list(self.processes):
            with contextlib.suppress(Exception):
                process.stderr.write(f"\r\n{line}\r\n".encode())

    def terminate(self, why: Phrase | str, line: str | None = None) -> None:
        """End every channel and the connection; ``line`` (one line saying why and what to
        do next) replaces the generic notice. ``why`` is recorded in English (a phrase is
        also told in the technician's language)."""
        reason = why.english() if isinstance(why, Phrase) else why
        if self.closing_reason is None:
            self.closing_reason = reason
        _ = self.tr
        told = _.phrase(why) if isinstance(why, Phrase) else reason
        line = line or _(messages.SESSION_ENDED, reason=told)
        self.notify(line)
        processes = list(self.processes)
        for process in processes:
            with contextlib.suppress(Exception):
                process.exit(255)
        if self.upstream is not None:
            self.upstream.close()
        loop = asyncio.get_running_loop()
        if self.conn is not None:
            loop.create_task(self._close_after(processes, self.conn, line))
        # The row says so at once: nothing is relayed any more, whatever the client still
        # takes in of the last line (the connection's end would otherwise close it later).
        loop.create_task(self._close_row("terminated", self.closing_reason))

    async def _close_after(self, processes: list[asyncssh.SSHServerProcess[bytes]],
                           conn: asyncssh.SSHServerConnection, line: str) -> None:
        """Closing at once could drop the line still queued for the technician: after an
        output flood it waits behind what the client has not taken in yet. Each channel
        closes once its data is delivered; the connection closes then, or after the grace
        time whatever the client does. Nothing reaches the target meanwhile: the channels
        and the target connection are already closed.

        The disconnect message carries the line too, and OpenSSH prints it ("Received
        disconnect ...: <line>"): a client still busy showing earlier output (a slow
        terminal, a flood) drops what it holds when the connection ends, the line with it,
        and CI showed that even channels that closed in time can lose it."""
        with contextlib.suppress(Exception):
            await asyncio.wait_for(asyncio.gather(*(p.wait_closed() for p in processes),
                                                  return_exceptions=True), CLOSE_GRACE_SECONDS)
        conn.disconnect(asyncssh.DISC_BY_APPLICATION, disconnect_text(line))

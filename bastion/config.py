"""Configuration: one optional TOML file plus ``BASTION_*`` environment overrides.

Everything the bastion reads from its environment passes through :func:`load_settings`,
so a bad value stops start-up in one place, with one line naming the key.

Environment overrides use ``BASTION_<SECTION>__<KEY>`` (double underscore between the
section and the key), e.g. ``BASTION_DATABASE__URL`` or ``BASTION_SSH__LISTEN_PORT``.
``BASTION_CONFIG`` names the TOML file; otherwise ``./bastion.toml`` is read if present.
Relative paths are resolved against the TOML file's folder, or the working directory
when there is no file.
"""

from __future__ import annotations

import ipaddress
import os
import tomllib
from collections.abc import Mapping
from datetime import date
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    ValidationError,
    field_validator,
    model_validator,
)

ENV_PREFIX = "BASTION_"
DEFAULT_CONFIG_NAME = "bastion.toml"


class ConfigError(Exception):
    """A configuration problem, already phrased as the one line an operator needs."""


class _Section(BaseModel):
    # A misspelt key must not be silently ignored: in a security product it usually
    # means a protection the operator believes is on is actually off.
    model_config = ConfigDict(extra="forbid", frozen=True)


class PathsSettings(_Section):
    var_dir: Path = Path("var")
    keys_dir: Path | None = None
    recordings_dir: Path | None = None
    # Public material only (CA public keys, host key): what targets and technicians may read.
    public_dir: Path | None = None


class NodeSettings(_Section):
    # Names this bastion process in the audit log and in session rows; several nodes on one
    # database must have different names. Default: the host name.
    name: str | None = Field(None, min_length=1, max_length=100)
    # SSH proxy worker processes sharing the port (SO_REUSEPORT). 0: one per core on
    # PostgreSQL, one on SQLite (whose single writer gains nothing from more). With 1 the
    # node is one process (proxy and console); with more, a supervisor runs the workers and
    # a console process.
    workers: int = Field(0, ge=0, le=64)
    # Each proxy worker of a supervised node keeps to one core (slot N on the N-th): its
    # threads take turns on one interpreter lock anyway, and a keystroke's hand-offs
    # between them stay on one core's caches (bastion/runtime/cpu_affinity.py).
    pin_workers: bool = True


class DatabaseSettings(_Section):
    url: str | None = None  # default: SQLite file under var_dir
    echo: bool = False

    @field_validator("url")
    @classmethod
    def _known_scheme(cls, value: str | None) -> str | None:
        if value is None:
            return value
        scheme = value.split(":", 1)[0]
        if not scheme.startswith(("sqlite", "postgresql")):
            raise ValueError("must be a sqlite:/// or postgresql:// URL")
        return value


class SshSettings(_Section):
    listen_host: str = "127.0.0.1"
    listen_port: int = Field(2222, ge=1, le=65535)
    login_timeout_seconds: int = Field(60, ge=5, le=3600)
    target_connect_timeout_seconds: int = Field(10, ge=1, le=300)
    expiry_warning_minutes: int = Field(5, ge=0, le=120)
    idle_timeout_minutes: int = Field(30, ge=1, le=24 * 60)
    approval_wait_minutes: int = Field(15, ge=1, le=240)
    target_certificate_minutes: int = Field(5, ge=1, le=60)
    banner_language: str = Field("fr", pattern="^(fr|en)$")
    # The recording notice every session starts with (CNIL: people are told they are
    # recorded, and why). Placeholders: {target} {account} {until} {contract}.
    notice_fr: str | None = Field(None, min_length=10, max_length=1000)
    notice_en: str | None = Field(None, min_length=10, max_length=1000)
    # "compatible" also offers curve25519 for clients without ML-KEM (OpenSSH < 9.9, e.g.
    # Debian 12's 9.2); "post-quantum-only" offers the ML-KEM hybrid alone.
    key_exchange: str = Field("compatible", pattern="^(compatible|post-quantum-only)$")
    # ANS rules from 1 January 2026: no single factor for remote access to a health
    # information system. A contract may say otherwise for its vendor (authentication section).
    # "off" is only an exception: with its reason and its last day (included), after which
    # the second factor is required again; every start records it in the audit trail.
    second_factor: str = Field("required", pattern="^(required|off)$")
    second_factor_off_reason: str | None = Field(None, min_length=10, max_length=500)
    second_factor_off_until: date | None = None
    # Behind a TCP load balancer (HAProxy "send-proxy-v2"): "v2" reads the PROXY protocol
    # header so the audit records the technician's address, not the balancer's. Only the
    # balancers listed in proxy_protocol_trusted (addresses or networks) may connect.
    proxy_protocol: str = Field("off", pattern="^(off|v2)$")
    proxy_protocol_trusted: tuple[str, ...] = ()

    @field_validator("proxy_protocol_trusted")
    @classmethod
    def _networks(cls, value: tuple[str, ...]) -> tuple[str, ...]:
        for item in value:
            try:
                ipaddress.ip_network(item, strict=False)
            except ValueError:
                raise ValueError(f"{item!r} is not an IP address or network") from None
        return value

    @model_validator(mode="after")
    def _off_is_an_exception(self) -> SshSettings:
        if self.second_factor == "off" and not (self.second_factor_off_reason
                                                 and self.second_factor_off_until):
            raise ValueError("second_factor = \"off\" is only accepted as an exception: set "
                             "second_factor_off_reason and second_factor_off_until (last day)")
        if self.proxy_protocol == "v2" and not self.proxy_protocol_trusted:
            raise ValueError("proxy_protocol = \"v2\" needs proxy_protocol_trusted: the "
                             "addresses of the load balancers allowed to connect")
        return self


class WebSettings(_Section):
    listen_host: str = "127.0.0.1"
    listen_port: int = Field(8080, ge=1, le=65535)
    public_url: str = "http://localhost:8080"
    idle_minutes: int = Field(15, ge=1, le=24 * 60)
    secure_cookies: bool = False
    # Reverse proxies in front of the console whose X-Forwarded-For/-Proto/-Host headers
    # are believed (werkzeug's ProxyFix): 1 for one TLS proxy. 0 (default) ignores them,
    # which is right when browsers reach the console directly: a client could forge them.
    trusted_proxies: int = Field(0, ge=0, le=5)
    default_language: str = Field("fr", pattern="^(fr|en)$")
    time_zone: str = "Europe/Paris"
    # Worker threads of the console's WSGI server (waitress): each serves one request.
    threads: int = Field(16, ge=2, le=256)
    # Bearer token Prometheus sends to /metrics; unset, only this host may scrape.
    metrics_token: str | None = Field(None, min_length=16, max_length=200)

    @field_validator("public_url")
    @classmethod
    def _http_url(cls, value: str) -> str:
        if not value.startswith(("http://", "https://")):
            raise ValueError("must start with http:// or https://")
        return value.rstrip("/")

    @field_validator("time_zone")
    @classmethod
    def _known_zone(cls, value: str) -> str:
        try:
            ZoneInfo(value)
        except (ZoneInfoNotFoundError, ValueError) as exc:
            raise ValueError(f"unknown time zone {value!r}") from exc
        return value


class RecordingSettings(_Section):
    session_budget_mb: int = Field(512, ge=1)
    # What one session_budget_mb counts: "connection", every channel of one SSH connection
    # (ControlMaster included); "grant", every connection of a technician under one grant,
    # on this node (docs/operations.md, "What the output budget counts").
    budget_scope: str = Field("connection", pattern="^(connection|grant)$")
    chunk_kib: int = Field(64, ge=4, le=4096)
    # Each SSH proxy worker of a supervised node (node.workers > 1) writes its recordings
    # through a recorder process of its own, so that deflate, AES-GCM, hashing and file
    # writes do not compete with SSH crypto for the worker's GIL (docs/benchmarks.md).
    # A one-process node (the SQLite demo) records in its own threads, as does a worker
    # with this off.
    recorder_process: bool = True
    # Even with the recorder process, a terminal (pty) channel is recorded by the worker's
    # own threads: every keystroke and every echo waits for its recording, and a hop to
    # another process and back for each costs more than the recording itself (measured:
    # key echo p99 +3 to +6 ms through the recorder process, about +1 ms in the worker;
    # docs/benchmarks.md). Exec, scp/sftp and forwards, where the bytes are, still go to
    # the recorder process. A flood typed into a terminal is bounded by the budget.
    terminals_in_worker: bool = True
    # A recorder process that leaves a write unanswered this long is killed (its sessions
    # end, recording failed) and replaced: held output must not wait forever.
    recorder_hung_seconds: float = Field(60, ge=1, le=3600)
    # Same ceiling and rule as the other access traces (audit.retention_days): beyond 365
    # days only with audit.retention_justification, never beyond 3 years.
    retention_days: int = Field(365, ge=1, le=3 * 365)
    # --- recording storage backend (bastion.recording.s3_storage) -----------------------
    # "local": files under paths.recordings_dir (a local disk, or a NAS every node mounts);
    # "s3": an S3-compatible bucket shared by every node. S3 credentials are never read
    # from this file: boto3 takes them from AWS_ACCESS_KEY_ID / AWS_SECRET_ACCESS_KEY (or
    # its shared credentials file, or an instance role).
    storage: str = Field("local", pattern="^(local|s3)$")
    s3_bucket: str | None = Field(None, min_length=3, max_length=63)
    s3_prefix: str = Field("recordings/", pattern=r"^([A-Za-z0-9._-]+/)*$")
    s3_endpoint_url: str | None = None  # MinIO, Ceph...; unset: AWS S3
    s3_region: str | None = None
    s3_compact_on_seal: bool = True  # one object per sealed recording (see s3_storage)

    @model_validator(mode="after")
    def _s3_needs_a_bucket(self) -> RecordingSettings:
        if self.storage == "s3" and not self.s3_bucket:
            raise ValueError("storage = \"s3\" needs s3_bucket")
        return self
    # --- end of recording storage backend ------------------------------------------------


class AuditSettings(_Section):
    # CNIL délibération 2021-122: access traces are kept 6 months to 1 year; longer, up to
    # 3 years, only for a reason the hospital can state (e.g. a known attack window).
    retention_days: int = Field(365, ge=180, le=3 * 365)
    retention_justification: str | None = Field(None, min_length=20, max_length=1000)
    checkpoint_every: int = Field(100, ge=1)
    # A signed checkpoint also once the oldest unsigned event is this old (and at each
    # serve start and stop): the tail only the hash chain covers stays short in time too.
    checkpoint_minutes: float = Field(5, gt=0, le=24 * 60)

    @model_validator(mode="after")
    def _longer_needs_a_reason(self) -> AuditSettings:
        if self.retention_days > 365 and not self.retention_justification:
            raise ValueError(
                "keeping access traces more than 365 days needs retention_justification "
                "(CNIL délibération 2021-122: 6 to 12 months, up to 3 years with a reason)")
        return self


class AccessReviewSettings(_Section):
    # HDS / CNIL DPI (fiche habilitations): each vendor's accesses are reviewed at least
    # yearly. Past every_days without a confirmed review the vendor is flagged; past
    # grace_days more, its technicians are refused until a review confirms an access.
    every_days: int = Field(365, ge=30, le=365)
    grace_days: int = Field(30, ge=0, le=180)


class CliSettings(_Section):
    # On: commands that change state are refused unless the operator names themself
    # (--as USERNAME or BASTION_OPERATOR), an active admin or DPO staff account. Off: they
    # are attributed to the operating-system user (SUDO_USER), which names nobody when
    # several people share root. Recommended on in production.
    require_operator: bool = False


class ApprovalSettings(_Section):
    pending_expiry_minutes: int = Field(60, ge=1)
    challenge_seconds: int = Field(120, ge=10, le=900)
    # A newly granted approver counts towards a two-person approval only after this many
    # hours, or once the DPO confirmed them (bastion.role_changes).
    new_approver_hours: int = Field(72, ge=0, le=24 * 90)
    # How long a first-key enrolment link stays usable (bastion.enrolment_links).
    enrolment_link_hours: int = Field(72, ge=1, le=24 * 30)


class SmtpSettings(_Section):
    host: str | None = None
    port: int = Field(25, ge=1, le=65535)
    sender: str = "bastion@localhost"
    starttls: bool = False
    username: str | None = None
    password_file: Path | None = None


class WebhookSettings(_Section):
    url: str | None = None
    timeout_seconds: int = Field(5, ge=1, le=60)


# --- SIEM forwarding of the audit trail (bastion.audit.forwarder) ---------------------


class SyslogSettings(_Section):
    """RFC 5424 syslog to a SIEM; off while ``host`` is unset. UDP may lose messages
    silently; TCP (RFC 6587 octet counting) retries until the SIEM takes them; TLS (RFC
    5425, usually port 6514) does the same encrypted, trusting ``ca_file`` alone."""

    host: str | None = None
    port: int = Field(514, ge=1, le=65535)
    protocol: str = Field("udp", pattern="^(udp|tcp|tls)$")
    ca_file: Path | None = None  # the SIEM's CA (PEM), pinned: the system's CAs are not used
    server_name: str | None = None  # the name in the SIEM's certificate, if not ``host``
    # RFC 5424 APP-NAME: 1 to 48 printable US-ASCII characters, no space.
    app_name: str = Field("dpi-bastion", pattern=r"^[!-~]{1,48}$")
    facility: int = Field(13, ge=0, le=23)  # 13: "log audit"; 10 (authpriv) is also common

    @model_validator(mode="after")
    def _tls_pins_a_ca(self) -> SyslogSettings:
        if self.protocol == "tls" and self.ca_file is None:
            raise ValueError("protocol = \"tls\" needs ca_file: the SIEM's CA certificate (PEM), "
                             "the only one trusted")
        return self


# --- end of SIEM forwarding ---------------------------------------------------------------


# --- Break-glass and the DPO's controls (bastion.breakglass, bastion.controls) -----------


class BreakGlassSettings(_Section):
    """Emergency access (*bris de glace*): opens at once, without approval, then reviewed."""

    # A ceiling over every contract's approval.break_glass.max_minutes: the hospital keeps
    # emergencies short even if a contract allows longer (contracts allow up to 240).
    max_minutes: int = Field(60, ge=5, le=240)
    # How long the DPO has to close the review (72 h: a weekend plus a working day).
    review_hours: int = Field(72, ge=1, le=30 * 24)
    # "urgent" is not a justification: ask for a sentence saying what is broken.
    min_justification_chars: int = Field(20, ge=1, le=500)


class ControlsSettings(_Section):
    """Thresholds of the flags computed for the DPO (night and holidays in web.time_zone)."""

    sftp_download_mb: int = Field(100, ge=1)  # downloaded in one session, above: flagged
    night_start: str = Field("20:00", pattern=r"^([01][0-9]|2[0-3]):[0-5][0-9]$")
    night_end: str = Field("07:00", pattern=r"^([01][0-9]|2[0-3]):[0-5][0-9]$")
    # French public holidays; a subdivision adds its own days, e.g. "57" (Moselle), "6AE"
    # (Alsace), "971" (Guadeloupe), "974" (La Réunion): see the `holidays` package.
    holiday_subdivision: str | None = Field(None, max_length=16)
    burst_count: int = Field(5, ge=2, le=1000)  # refusals from one technician or address...
    burst_minutes: int = Field(10, ge=1, le=24 * 60)  # ...within this many minutes: flagged
    daily_summary_hour: int = Field(7, ge=0, le=23)  # local hour the DPO's e-mail is sent

    @field_validator("holiday_subdivision", mode="before")
    @classmethod
    def _known_subdivision(cls, value: object) -> str | None:
        if value is None:
            return value
        # Department numbers read as integers from TOML or the environment: 57 is "57".
        value = str(value)
        from holidays import France  # only read when a subdivision is configured

        known = {*France.subdivisions, *getattr(France, "subdivisions_aliases", {})}
        if value not in known:
            raise ValueError(f"unknown French subdivision {value!r} (e.g. 57, 6AE, 974)")
        return value


# --- end of break-glass and controls ---------------------------------------------------


# --- Staff sign-in with the hospital directory (bastion.directory) ---------------------

_ROLE_NAMES = ("admin", "approver", "dpo")  # bastion.models.STAFF_ROLES (models import no config)


def _check_role_map(value: dict[str, tuple[str, ...]]) -> dict[str, tuple[str, ...]]:
    unknown = sorted(set(value) - set(_ROLE_NAMES))
    if unknown:
        raise ValueError(f"unknown role(s) {', '.join(unknown)}: the keys are console roles "
                         f"({', '.join(_ROLE_NAMES)}), the values directory groups")
    return {role: tuple(group.strip() for group in groups) for role, groups in value.items()}


class LdapSettings(_Section):
    """LDAP or Active Directory sign-in for staff; off while ``url`` is unset.

    The directory replaces the password step; the security-key step follows as for every
    sign-in. Roles come from group membership (``role_groups``) at each sign-in, under the
    rules of docs/operations.md, "Signing in with the hospital directory"."""

    url: str | None = Field(None, pattern=r"^ldaps?://[^/]+/?$")  # ldap://dc1.hopital.example:389
    start_tls: bool = False  # on an ldap:// URL: StartTLS before any bind (required unless ldaps)
    ca_file: Path | None = None  # the directory's CA (PEM); unset: the system's CAs
    # Search as a service account (bind_dn + bind_password_file), or, for Active Directory
    # without one, bind as the person themself with their UPN (upn_domain).
    bind_dn: str | None = None
    bind_password_file: Path | None = None
    upn_domain: str | None = Field(None, pattern=r"^[A-Za-z0-9.-]+$")
    user_base: str | None = None  # ou=people,dc=hopital,dc=example
    # {username} is escaped (RFC 4515) before it is put in. AD: (sAMAccountName={username})
    user_filter: str = "(uid={username})"
    full_name_attribute: str = "cn"  # AD: displayName
    email_attribute: str = "mail"
    # Groups holding the person: searched under group_base with group_filter ({dn}: the
    # person's DN, escaped). AD nested groups: (member:1.2.840.113556.1.4.1941:={dn}).
    group_base: str | None = None
    group_filter: str = "(member={dn})"
    # Console role -> group DNs (compared case-insensitively), e.g.
    # approver = ["cn=dpi-approvers,ou=groups,dc=hopital,dc=example"].
    role_groups: dict[str, tuple[str, ...]] = Field(default_factory=dict)
    timeout_seconds: int = Field(5, ge=1, le=60)
    # How often directory accounts are checked again (disabled, gone, out of their groups):
    # their console sessions end at the first check that finds it.
    check_minutes: int = Field(5, ge=1, le=24 * 60)

    @field_validator("role_groups")
    @classmethod
    def _roles(cls, value: dict[str, tuple[str, ...]]) -> dict[str, tuple[str, ...]]:
        return _check_role_map(value)

    @model_validator(mode="after")
    def _complete(self) -> LdapSettings:
        if self.url is None:
            return self
        if self.url.startswith("ldap://") and not self.start_tls and not _loopback_url(self.url):
            raise ValueError("an ldap:// directory needs start_tls = true (or an ldaps:// url): "
                             "passwords must not cross the network in clear")
        if not self.user_base or not self.group_base or not self.role_groups:
            raise ValueError("url needs user_base, group_base and role_groups")
        if self.bind_dn and not self.bind_password_file:
            raise ValueError("bind_dn needs bind_password_file")
        return self


def _loopback_url(url: str) -> bool:
    host = url.split("://", 1)[1].split("/", 1)[0].rsplit(":", 1)[0].strip("[]")
    return host in ("localhost", "127.0.0.1", "::1")


class OidcSettings(_Section):
    """OpenID Connect sign-in for staff (authorization code with PKCE); off while
    ``issuer`` is unset. The client secret is read from a file, never from this one."""

    issuer: str | None = Field(None, pattern=r"^https?://")
    client_id: str | None = Field(None, min_length=1, max_length=200)
    client_secret_file: Path | None = None  # unset: a public client (PKCE only)
    scopes: tuple[str, ...] = ("openid", "profile", "email")
    username_claim: str = "preferred_username"
    roles_claim: str = "groups"  # a list of group or role names in the ID token
    # Console role -> values of roles_claim, e.g. approver = ["dpi-approvers"].
    role_groups: dict[str, tuple[str, ...]] = Field(default_factory=dict)
    ca_file: Path | None = None  # the provider's CA (PEM); unset: the system's CAs
    timeout_seconds: int = Field(5, ge=1, le=60)
    label: str = Field("Hospital account", min_length=1, max_length=60)  # the sign-in button

    @field_validator("role_groups")
    @classmethod
    def _roles(cls, value: dict[str, tuple[str, ...]]) -> dict[str, tuple[str, ...]]:
        return _check_role_map(value)

    @model_validator(mode="after")
    def _complete(self) -> OidcSettings:
        if self.issuer is None:
            return self
        if self.issuer.startswith("http://") and not _loopback_url(self.issuer):
            raise ValueError("issuer must be an https:// URL")
        if not self.client_id or not self.role_groups:
            raise ValueError("issuer needs client_id and role_groups")
        if "openid" not in self.scopes:
            raise ValueError("scopes must include openid")
        return self


class SignInSettings(_Section):
    # "everyone": local accounts sign in with their password as before. "admins": once the
    # hospital directory or identity provider is configured, a local password opens only an
    # administrator's account (the break-glass admin for when the directory is down).
    local_passwords: str = Field("everyone", pattern="^(everyone|admins)$")


# --- end of staff sign-in with the hospital directory -----------------------------------


class LoggingSettings(_Section):
    # "text" for a person reading the terminal or journalctl; "json" for a log collector
    # (one object per line; decisions carry their fields, see bastion.observability).
    format: str = Field("text", pattern="^(text|json)$")


class Settings(_Section):
    base_dir: Path = Path(".")
    paths: PathsSettings = Field(default_factory=PathsSettings)
    node: NodeSettings = Field(default_factory=NodeSettings)
    database: DatabaseSettings = Field(default_factory=DatabaseSettings)
    ssh: SshSettings = Field(default_factory=SshSettings)
    web: WebSettings = Field(default_factory=WebSettings)
    recording: RecordingSettings = Field(default_factory=RecordingSettings)
    audit: AuditSettings = Field(default_factory=AuditSettings)
    approvals: ApprovalSettings = Field(default_factory=ApprovalSettings)
    access_review: AccessReviewSettings = Field(default_factory=AccessReviewSettings)
    cli: CliSettings = Field(default_factory=CliSettings)
    smtp: SmtpSettings = Field(default_factory=SmtpSettings)
    webhook: WebhookSettings = Field(default_factory=WebhookSettings)
    syslog: SyslogSettings = Field(default_factory=SyslogSettings)
    breakglass: BreakGlassSettings = Field(default_factory=BreakGlassSettings)
    controls: ControlsSettings = Field(default_factory=ControlsSettings)
    logging: LoggingSettings = Field(default_factory=LoggingSettings)
    ldap: LdapSettings = Field(default_factory=LdapSettings)
    oidc: OidcSettings = Field(default_factory=OidcSettings)
    sign_in: SignInSettings = Field(default_factory=SignInSettings)

    @model_validator(mode="after")
    def _local_passwords_need_a_directory(self) -> Settings:
        if (self.sign_in.local_passwords == "admins" and self.ldap.url is None
                and self.oidc.issuer is None):
            raise ValueError("sign_in.local_passwords = \"admins\" needs [ldap] or [oidc]: "
                             "otherwise only administrators could sign in")
        return self

    @model_validator(mode="after")
    def _recordings_longer_need_the_reason(self) -> Settings:
        if self.recording.retention_days > 365 and not self.audit.retention_justification:
            raise ValueError(
                "recording.retention_days over 365 needs audit.retention_justification "
                "(CNIL délibération 2021-122: 6 to 12 months, up to 3 years with a reason)")
        return self

    def with_changes(self, section: str, **changes: Any) -> Settings:
        """A copy with some keys of one section changed (settings are immutable)."""
        updated = getattr(self, section).model_copy(update=changes)
        return self.model_copy(update={section: updated})

    def resolve(self, path: Path) -> Path:
        return path if path.is_absolute() else (self.base_dir / path).resolve()

    @property
    def var_dir(self) -> Path:
        return self.resolve(self.paths.var_dir)

    @property
    def keys_dir(self) -> Path:
        return self.resolve(self.paths.keys_dir or self.paths.var_dir / "keys")

    @property
    def recordings_dir(self) -> Path:
        return self.resolve(self.paths.recordings_dir or self.paths.var_dir / "recordings")

    @property
    def public_dir(self) -> Path:
        return self.resolve(self.paths.public_dir or self.paths.var_dir / "public")

    @property
    def proxy_workers(self) -> int:
        if self.node.workers:
            return self.node.workers
        return 1 if self.database_url.startswith("sqlite") else _usable_cores()

    @property
    def database_url(self) -> str:
        if self.database.url:
            return self.database.url
        return f"sqlite:///{self.var_dir / 'bastion.db'}"


def _usable_cores() -> int:
    """The cores this process may run on (a cpuset, systemd's CPUAffinity=, docker's
    --cpuset-cpus), not every core of the host: one worker per core is one per these."""
    try:
        return len(os.sched_getaffinity(0)) or 1
    except (AttributeError, OSError):
        return os.cpu_count() or 1


def _coerce_env(raw: str) -> Any:
    """Environment values are strings; let pydantic convert them, but accept TOML literals
    for booleans and numbers so ``BASTION_WEB__SECURE_COOKIES=true`` works."""
    try:
        return tomllib.loads(f"v = {raw}")["v"]
    except tomllib.TOMLDecodeError:
        return raw


def _env_overrides(env: Mapping[str, str]) -> dict[str, dict[str, Any]]:
    overrides: dict[str, dict[str, Any]] = {}
    for name, raw in env.items():
        # Not settings: the file's name, the CLI operator, the demo's consent (bastion.demo).
        if not name.startswith(ENV_PREFIX) or name in ("BASTION_CONFIG", "BASTION_OPERATOR",
                                                       "BASTION_DEMO_ACCOUNTS"):
            continue
        rest = name[len(ENV_PREFIX):].lower()
        if "__" not in rest:
            raise ConfigError(
                f"environment {name}: expected BASTION_<SECTION>__<KEY>, "
                "e.g. BASTION_DATABASE__URL"
            )
        section, key = rest.split("__", 1)
        overrides.setdefault(section, {})[key] = _coerce_env(raw)
    return overrides


def _describe(error: dict[str, Any], source: str) -> str:
    key = ".".join(str(part) for part in error["loc"])
    message = error["msg"].removeprefix("Value error, ")
    if error["type"] == "extra_forbidden":
        message = "unknown key (check its spelling and section)"
    got = error.get("input")
    suffix = "" if isinstance(got, dict) or got is None else f" (got {got!r})"
    return f"{source}: {key}: {message}{suffix}"


def load_settings(
    config_path: Path | str | None = None, env: Mapping[str, str] | None = None
) -> Settings:
    """Read the TOML file (if any), apply environment overrides, validate everything."""
    env = os.environ if env is None else env
    explicit = config_path or env.get("BASTION_CONFIG")
    path = Path(explicit) if explicit else Path(DEFAULT_CONFIG_NAME)
    data: dict[str, Any] = {}
    source = "defaults"
    if path.exists():
        source = str(path)
        try:
            data = tomllib.loads(path.read_text(encoding="utf-8"))
        except tomllib.TOMLDecodeError as exc:
            raise ConfigError(f"{path}: not valid TOML: {exc}") from exc
        except OSError as exc:
            raise ConfigError(f"{path}: cannot be read: {exc.strerror}") from exc
        base_dir = path.resolve().parent
    elif explicit:
        raise ConfigError(f"{path}: configuration file not found")
    else:
        base_dir = Path.cwd()

    for section, values in _env_overrides(env).items():
        if not isinstance(data.get(section, {}), dict):
            raise ConfigError(f"{source}: {section}: must be a table")
        data.setdefault(section, {}).update(values)
        source = source if source != "defaults" else "environment"

    data["base_dir"] = base_dir
    try:
        return Settings.model_validate(data)
    except ValidationError as exc:
        raise ConfigError(_describe(exc.errors()[0], source)) from None

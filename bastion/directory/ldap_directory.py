"""The hospital's LDAP or Active Directory, through ldap3 (pure Python, no C library).

Two questions: does this password open this person's entry (``authenticate``: a bind as
the person), and what does the directory say of them now (``lookup``: for the periodic
check, with the service account). Every connection is TLS-protected unless it stays on
this host (``[ldap] start_tls`` or an ``ldaps://`` URL, checked by the configuration).
"""

from __future__ import annotations

import ssl
from collections.abc import Iterator
from contextlib import contextmanager

from ldap3 import AUTO_BIND_NO_TLS, AUTO_BIND_TLS_BEFORE_BIND, SUBTREE, Connection, Server, Tls
from ldap3.core.exceptions import LDAPBindError, LDAPException, LDAPInvalidCredentialsResult
from ldap3.utils.conv import escape_filter_chars

from bastion.approvals import ApprovalError
from bastion.config import LdapSettings, Settings

from .person import DirectoryPerson

# Active Directory's userAccountControl: bit 0x2 is ACCOUNTDISABLE.
ACCOUNT_DISABLED = 0x2
UAC = "userAccountControl"


class WrongPassword(Exception):
    """The directory refused the person's own bind (wrong password, or no such entry)."""


def _unavailable(what: str, error: Exception) -> ApprovalError:
    return ApprovalError("directory_unavailable",
                         "the hospital directory cannot be reached or refused the bastion's "
                         "request; try again shortly or ask IT (a local administrator account "
                         "still signs in)", reasons=[f"{what}: {error}"])


class LdapDirectory:
    def __init__(self, settings: Settings) -> None:
        if settings.ldap.url is None:
            raise ValueError("[ldap] url is not set")
        self.config: LdapSettings = settings.ldap
        self.service_password: str | None = None
        if self.config.bind_password_file is not None:
            path = settings.resolve(self.config.bind_password_file)
            try:
                self.service_password = path.read_text(encoding="utf-8").strip()
            except OSError as exc:
                raise _unavailable("[ldap] bind_password_file", exc) from None
        tls = None
        if self.config.url.startswith("ldaps://") or self.config.start_tls:  # type: ignore[union-attr]
            ca = str(settings.resolve(self.config.ca_file)) if self.config.ca_file else None
            try:
                tls = Tls(validate=ssl.CERT_REQUIRED, ca_certs_file=ca,
                          version=ssl.PROTOCOL_TLS_CLIENT)
            except LDAPException as exc:  # e.g. the CA file is missing or unreadable
                raise _unavailable("[ldap] ca_file", exc) from None
        self.server = Server(self.config.url, use_ssl=self.config.url.startswith("ldaps://"),  # type: ignore[union-attr]
                             tls=tls, connect_timeout=self.config.timeout_seconds, get_info="NO_INFO")

    @property
    def can_look_up(self) -> bool:
        """The periodic check needs a service account (a UPN bind only works with the
        person's own password)."""
        return self.config.bind_dn is not None

    def _connect(self, user: str | None, password: str | None) -> Connection:
        """A bound connection (StartTLS first when configured); a refused bind raises
        ldap3's LDAPBindError."""
        auto_bind = AUTO_BIND_TLS_BEFORE_BIND if self.config.start_tls else AUTO_BIND_NO_TLS
        return Connection(self.server, user=user, password=password, auto_bind=auto_bind,
                          receive_timeout=self.config.timeout_seconds,
                          raise_exceptions=False, read_only=True)

    @contextmanager
    def _bound(self, user: str | None, password: str | None) -> Iterator[Connection]:
        connection = self._connect(user, password)
        try:
            yield connection
        finally:
            connection.unbind()

    def _service(self) -> Connection:
        return self._bound(self.config.bind_dn, self.service_password)  # type: ignore[return-value]

    def authenticate(self, username: str, password: str) -> DirectoryPerson:
        """Bind as the person. Raises ``WrongPassword``, or ``ApprovalError``
        ("directory_unavailable") when the directory cannot answer."""
        # An empty password is an LDAP "unauthenticated bind", which servers accept as
        # anonymous: it must never count as a correct password.
        if not password:
            raise WrongPassword("empty password")
        try:
            if self.config.upn_domain and not self.config.bind_dn:
                return self._authenticate_upn(username, password)
            with self._service() as service:
                found = self._find(service, username)
            if found is None:
                raise WrongPassword("no such entry")
            dn = found[0]
            try:
                with self._bound(dn, password):
                    pass
            except (LDAPBindError, LDAPInvalidCredentialsResult) as exc:
                raise WrongPassword(str(exc)) from None
            with self._service() as service:
                return self._person(service, username, *found)
        except WrongPassword:
            raise
        except LDAPException as exc:
            raise _unavailable("LDAP", exc) from None
        except OSError as exc:
            raise _unavailable("network", exc) from None

    def _authenticate_upn(self, username: str, password: str) -> DirectoryPerson:
        try:
            connection = self._connect(f"{username}@{self.config.upn_domain}", password)
        except (LDAPBindError, LDAPInvalidCredentialsResult) as exc:
            raise WrongPassword(str(exc)) from None
        try:
            found = self._find(connection, username)
            if found is None:
                raise WrongPassword("bound, but no entry matches user_filter")
            return self._person(connection, username, *found)
        finally:
            connection.unbind()

    def lookup(self, username: str) -> DirectoryPerson | None:
        """What the directory says of ``username`` now (None: no such entry)."""
        try:
            with self._service() as service:
                found = self._find(service, username)
                return None if found is None else self._person(service, username, *found)
        except LDAPException as exc:
            raise _unavailable("LDAP", exc) from None
        except OSError as exc:
            raise _unavailable("network", exc) from None

    def _find(self, connection: Connection, username: str) -> tuple[str, dict] | None:
        if not connection.bound:
            raise _unavailable("service bind", Exception(str(connection.result)))
        query = self.config.user_filter.replace("{username}", escape_filter_chars(username))
        attributes = [self.config.full_name_attribute, self.config.email_attribute, UAC]
        if not connection.search(self.config.user_base, query, SUBTREE, attributes=attributes,
                                 size_limit=2):
            if connection.result.get("result") not in (0, 32):  # 32: base not found
                raise _unavailable("user search", Exception(str(connection.result)))
            return None
        entries = [entry for entry in connection.response if entry.get("type") == "searchResEntry"]
        if len(entries) != 1:
            # Two entries for one login: ambiguous, so nobody (fail closed).
            return None
        return entries[0]["dn"], entries[0]["attributes"]

    def _person(self, connection: Connection, username: str, dn: str,
                attributes: dict) -> DirectoryPerson:
        query = self.config.group_filter.replace("{dn}", escape_filter_chars(dn))
        if not connection.search(self.config.group_base, query, SUBTREE, attributes=["cn"]):
            if connection.result.get("result") not in (0, 32):
                raise _unavailable("group search", Exception(str(connection.result)))
        groups = tuple(sorted(entry["dn"] for entry in connection.response or []
                              if entry.get("type") == "searchResEntry"))
        flags = _first(attributes.get(UAC))
        disabled = flags is not None and int(flags) & ACCOUNT_DISABLED != 0
        return DirectoryPerson(
            source="ldap", username=username, external_id=dn,
            full_name=str(_first(attributes.get(self.config.full_name_attribute)) or username),
            email=_first(attributes.get(self.config.email_attribute)) or None,
            groups=groups, disabled=disabled,
            disabled_reason="disabled in the directory (userAccountControl)" if disabled else "")


def _first(value: object) -> object:
    if isinstance(value, list):
        return value[0] if value else None
    return value or None


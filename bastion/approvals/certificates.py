"""The grant's credential: an OpenSSH user certificate over the technician's registered key,
signed by the technician CA.

Valid only within the grant's window; key id ``grant-<id>`` (and serial = grant id), so
a presented certificate leads back to its grant, whose status is checked on every use:
a revoked grant's certificate is refused even while its dates are still valid.
Extensions only for what the grant allows: a terminal only with the shell channel, port
forwarding only with granted forwards; never agent or X11 forwarding, never user rc.
"""

from __future__ import annotations

from collections.abc import Collection
from datetime import datetime

import asyncssh
from sqlalchemy.orm import Session

from bastion.audit import Actor
from bastion.context import Bastion
from bastion.models import Grant, TechnicianKey, utcnow

from .errors import ApprovalError
from .lookup import load_grant
from .views import GrantInfo, grant_info

KEY_ID_PREFIX = "grant-"
USER_CERT = 1  # OpenSSH SSH_CERT_TYPE_USER


def key_id(grant_id: int) -> str:
    return f"{KEY_ID_PREFIX}{grant_id}"


def build_certificate(ca: asyncssh.SSHKey, *, user_key: str, grant_id: int, principal: str,
                      not_before: datetime, not_after: datetime, channels: Collection[str],
                      forwards: bool) -> str:
    """The certificate as one OpenSSH line (pure: no database, no clock)."""
    certificate = ca.generate_user_certificate(
        asyncssh.import_public_key(user_key), key_id(grant_id), serial=grant_id,
        principals=[principal],
        valid_after=int(not_before.timestamp()), valid_before=int(not_after.timestamp()),
        permit_pty="shell" in channels,
        permit_port_forwarding=forwards and "forward" in channels,
        permit_agent_forwarding=False, permit_x11_forwarding=False, permit_user_rc=False,
        comment=f"{principal} {key_id(grant_id)}")
    return certificate.export_certificate().decode("ascii").strip()


def _choose_key(grant: Grant, fingerprint: str | None) -> TechnicianKey:
    keys = list(grant.technician.keys)
    if fingerprint is not None:
        for key in keys:
            if key.fingerprint == fingerprint:
                return key
        raise ApprovalError("no_technician_key",
                            f"{grant.technician.ident} has no registered key {fingerprint}")
    if not keys:
        raise ApprovalError("no_technician_key",
                            f"{grant.technician.ident} has no registered SSH key")
    if len(keys) > 1:
        raise ApprovalError("key_ambiguous",
                            f"{grant.technician.ident} has {len(keys)} registered keys: "
                            "say which one the certificate is for")
    return keys[0]


def attach_certificate(session: Session, core: Bastion, grant: Grant, key: TechnicianKey,
                       actor: Actor) -> str:
    scope = grant.scope or {}
    text = build_certificate(
        core.keys.technician_ca, user_key=key.public_key, grant_id=grant.id,
        principal=grant.technician.ident, not_before=grant.not_before,
        not_after=grant.not_after, channels=scope.get("channels", ()),
        forwards=bool(scope.get("forwards")))
    grant.certificate = text
    core.audit.append(session, action="grant.certificate_issued", outcome="ok", actor=actor,
                      technician=grant.technician.ident, target=grant.target.name,
                      account=grant.account_name, grant_id=grant.id, request_id=grant.request_id,
                      details={"key_fingerprint": key.fingerprint, "key_id": key_id(grant.id),
                               "valid_after": grant.not_before.isoformat(),
                               "valid_before": grant.not_after.isoformat()})
    return text


def issue_certificate(core: Bastion, grant: int | Grant, *, key_fingerprint: str | None = None,
                      actor: Actor | None = None) -> str:
    """(Re-)issue the grant's certificate for one of the technician's keys (the only one,
    or the one named by ``key_fingerprint``), store it on the grant and return it."""
    grant_id = grant if isinstance(grant, int) else grant.id
    with core.db.session() as session:
        row = load_grant(session, grant_id, lock=True)
        _check_usable(row, utcnow())
        key = _choose_key(row, key_fingerprint)
        return attach_certificate(session, core, row, key, actor or Actor.system())


def certificate_of(core: Bastion, grant_id: int) -> str | None:
    """The stored certificate (for download), or None if none was issued yet."""
    with core.db.session() as session:
        return load_grant(session, grant_id).certificate


def _check_usable(grant: Grant, now: datetime) -> None:
    if grant.status == "revoked":
        raise ApprovalError("grant_revoked",
                            f"grant {grant.id} was revoked: {grant.revoke_reason or 'no reason'}")
    if grant.status == "ended" or grant.not_after <= now:
        raise ApprovalError("grant_ended", f"grant {grant.id} has ended")


def check_certificate(core: Bastion, certificate: str | bytes | asyncssh.SSHCertificate, *,
                      now: datetime | None = None) -> GrantInfo:
    """May this certificate be used now? Signed by our technician CA, within its dates,
    for a grant that exists, is not revoked or ended, and names the same technician and
    key. Returns the grant; raises ApprovalError otherwise."""
    now = now or utcnow()
    try:
        cert = (certificate if isinstance(certificate, asyncssh.SSHCertificate)
                else asyncssh.import_certificate(certificate))
    except (asyncssh.KeyImportError, ValueError, TypeError) as exc:
        raise ApprovalError("certificate_invalid", f"not an OpenSSH certificate: {exc}") from None
    ca = core.keys.technician_ca
    # asyncssh verified the CA's signature on import; is that CA ours, for user certs?
    if (cert.is_x509 or cert.signing_key.public_data != ca.public_data
            or getattr(cert, "_cert_type", None) != USER_CERT):
        raise ApprovalError("certificate_invalid",
                            "not a user certificate signed by the technician CA")
    # asyncssh exposes key id and dates only as these attributes (no public accessor);
    # missing ones (a newer asyncssh) refuse rather than pass.
    ident = str(getattr(cert, "_key_id", ""))
    valid_after = int(getattr(cert, "_valid_after", 2**64 - 1))
    valid_before = int(getattr(cert, "_valid_before", 0))
    if not ident.startswith(KEY_ID_PREFIX) or not ident[len(KEY_ID_PREFIX):].isdigit():
        raise ApprovalError("certificate_invalid", f"certificate key id {ident!r} names no grant")
    stamp = int(now.timestamp())
    if stamp < valid_after:
        raise ApprovalError("certificate_not_yet_valid", "the certificate is not valid yet")
    if stamp >= valid_before:
        raise ApprovalError("certificate_expired", "the certificate has expired")
    with core.db.session() as session:
        grant = load_grant(session, int(ident[len(KEY_ID_PREFIX):]))
        _check_usable(grant, now)
        if not grant.not_before <= now:
            raise ApprovalError("certificate_not_yet_valid", f"grant {grant.id} starts later")
        if list(cert.principals) != [grant.technician.ident]:
            raise ApprovalError("certificate_invalid", "certificate principal does not match")
        registered = {asyncssh.import_public_key(k.public_key).public_data
                      for k in grant.technician.keys}
        if cert.key.public_data not in registered:
            raise ApprovalError("certificate_invalid",
                                "certificate is over a key no longer registered")
        return grant_info(grant)

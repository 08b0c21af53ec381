"""Who the browser must believe it is talking to: the RP id and origin, from the console's
public URL. One place, so registration, sign-in and approval can never disagree."""

from __future__ import annotations

import hashlib
import hmac
from dataclasses import dataclass
from urllib.parse import urlsplit

from bastion.context import Bastion

RP_NAME = "Bastion DPI"


@dataclass(frozen=True)
class RelyingParty:
    rp_id: str  # the host name, without port: WebAuthn scopes credentials to it
    origin: str  # scheme://host[:port], exactly as the browser reports it in clientDataJSON
    name: str = RP_NAME

    @property
    def rp_id_hash(self) -> bytes:
        return hashlib.sha256(self.rp_id.encode("utf-8")).digest()


def relying_party(core: Bastion) -> RelyingParty:
    parts = urlsplit(core.settings.web.public_url)
    host = (parts.hostname or "").lower()
    origin = f"{parts.scheme}://{host}"
    if parts.port is not None:
        origin += f":{parts.port}"
    return RelyingParty(rp_id=host, origin=origin)


def staff_user_handle(core: Bastion, staff_id: int) -> bytes:
    """The WebAuthn user handle of a staff member: opaque (no name, no database id a
    passkey could leak to another site), stable, and checkable without a table."""
    return hmac.new(core.keys.web_secret, f"webauthn-user:staff:{staff_id}".encode(),
                    hashlib.sha256).digest()

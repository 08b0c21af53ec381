"""WebAuthn Level 3's frame fields in clientDataJSON: ``crossOrigin`` and ``topOrigin``.

A browser sets ``crossOrigin: true`` and names the page's ``topOrigin`` when the ceremony
ran in an iframe embedded by another site. The console never embeds itself (its CSP says
``frame-ancestors 'none'``), so such an answer comes from a framing page, a clickjacking
attempt or a forged payload: every ceremony (registration, sign-in, approval) refuses it.
py_webauthn keeps ``crossOrigin`` but drops ``topOrigin``, hence the raw bytes here.
"""

from __future__ import annotations

import json
from typing import Any

from .errors import ApprovalError

FRAMED = ("the security key was used inside a page of another site (clientDataJSON reports "
          "{what}); open the bastion's console directly and try again")


def refuse_framed(client_data_json: bytes) -> None:
    """Raise ``cross_origin`` when the ceremony ran in a frame of another origin."""
    try:
        fields: Any = json.loads(client_data_json)
    except (ValueError, RecursionError):
        fields = None
    if not isinstance(fields, dict):  # the callers parsed it already: fail closed anyway
        raise ApprovalError("malformed_credential",
                            "the security-key answer cannot be read: clientDataJSON is not an object")
    cross = fields.get("crossOrigin", False)
    if cross is not False and cross is not None:
        raise ApprovalError("cross_origin", FRAMED.format(what=f"crossOrigin {json.dumps(cross)}"))
    if "topOrigin" in fields:
        top = str(fields["topOrigin"])[:200]
        raise ApprovalError("cross_origin", FRAMED.format(what=f"topOrigin {top!r}"))

"""Grants: list, show, the OpenSSH certificate (download, or issue for a chosen key), revoke.

A technician sees and downloads only their own. Revoking (approvers, admins) takes effect
at once for new connections, and live sessions under the grant close within 2 seconds
(the proxy's watchdog); the response lists the sessions asked to close.
"""

from __future__ import annotations

from flask import Blueprint, Response, jsonify
from flask.typing import ResponseReturnValue

from bastion.approvals import (
    ApprovalError,
    GrantInfo,
    certificate_of,
    issue_certificate,
    list_grants,
    revoke_grant,
)
from bastion.models import GRANT_STATES, utcnow

from ..access import requires
from ..identity import Principal, core
from .bodies import CertificateKey, Reason, parse
from .common import caller, query_choices, query_limit, technician_filter, visible_grant
from .errors import ApiError
from .views import grant_view

blueprint = Blueprint("grants", __name__)


@blueprint.get("/grants")
@requires("approver", "admin", "dpo", "technician")
def index() -> ResponseReturnValue:
    principal = caller()
    rows = list_grants(core(), statuses=query_choices("status", GRANT_STATES),
                       technician=technician_filter(principal), limit=query_limit())
    return jsonify(grants=[grant_view(row, principal) for row in rows])


@blueprint.get("/grants/<int:grant_id>")
@requires("approver", "admin", "dpo", "technician")
def show(grant_id: int) -> ResponseReturnValue:
    principal = caller()
    return jsonify(grant=grant_view(visible_grant(principal, grant_id), principal))


def _check_live(grant: GrantInfo) -> None:
    # Handing out the credential of a dead grant would only lead to a refusal at the
    # bastion, later and less clearly.
    if grant.status == "revoked":
        raise ApprovalError("grant_revoked",
                            f"grant {grant.id} was revoked: {grant.revoke_reason or 'no reason'}")
    if grant.status == "ended" or grant.not_after <= utcnow():
        raise ApprovalError("grant_ended", f"grant {grant.id} has ended")


def _certificate_response(grant_id: int, text: str, status: int = 200) -> ResponseReturnValue:
    return Response(text.strip() + "\n", status=status, mimetype="text/plain", headers={
        "Content-Disposition": f'attachment; filename="grant-{grant_id}-cert.pub"'})


def _audit_download(principal: Principal, grant: GrantInfo) -> None:
    # Who took a copy of the credential, and when: the DPO's question after an incident.
    bastion = core()
    with bastion.db.session() as db:
        bastion.audit.append(db, action="grant.certificate_downloaded", outcome="ok",
                             actor=principal.actor(), technician=grant.technician,
                             target=grant.target, account=grant.account, grant_id=grant.id,
                             request_id=grant.request_id, details={"via": "api"})


@blueprint.get("/grants/<int:grant_id>/certificate")
@requires("approver", "admin", "technician")
def certificate(grant_id: int) -> ResponseReturnValue:
    principal = caller()
    grant = visible_grant(principal, grant_id)
    _check_live(grant)
    text = certificate_of(core(), grant_id)
    if text is None:
        raise ApiError("certificate_not_issued",
                       f"no certificate was issued for grant {grant_id} yet (the technician has "
                       "several keys or none): POST to this address with the key's fingerprint")
    _audit_download(principal, grant)
    return _certificate_response(grant_id, text)


@blueprint.post("/grants/<int:grant_id>/certificate")
@requires("approver", "admin", "technician")
def issue(grant_id: int) -> ResponseReturnValue:
    principal = caller()
    visible_grant(principal, grant_id)
    body = parse(CertificateKey, optional=True)
    text = issue_certificate(core(), grant_id, key_fingerprint=body.key_fingerprint,
                             actor=principal.actor())
    return _certificate_response(grant_id, text, 201)


@blueprint.post("/grants/<int:grant_id>/revoke")
@requires("approver", "admin")
def revoke(grant_id: int) -> ResponseReturnValue:
    principal = caller()
    body = parse(Reason)
    done = revoke_grant(core(), grant_id, actor=principal.actor(), reason=body.reason)
    return jsonify(grant=grant_view(done.grant, principal), sessions_terminated=list(done.sessions))

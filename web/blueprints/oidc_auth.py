"""Staff sign-in with the hospital's OpenID Connect identity provider.

``/sign-in/oidc`` starts the authorization code flow (PKCE, state, nonce: the core's
``bastion.directory.oidc_client``); the provider sends the browser back to
``/sign-in/oidc/callback``, where the answer is checked, the person admitted under the
directory rules (``bastion.directory.admit``), and the security-key step follows as after
a password. The flow's secrets live in the signed session cookie, bound to this browser.

The session cookie is ``SameSite=Strict``, so the browser does not send it on the
provider's cross-site redirect back. The callback then answers a tiny page that reloads
the same address from this origin (``bounced=1``), a same-site navigation that carries the
cookie; nothing is decided on the cookie-less request.
"""

from __future__ import annotations

import time

from flask import Blueprint, abort, current_app, flash, redirect, request, session, url_for
from flask.typing import ResponseReturnValue
from flask_babel import get_locale

from bastion.approvals import ApprovalError
from bastion.directory import admit
from bastion.directory.admission import refuse
from bastion.directory.oidc_client import Flow, OidcClient, invalid

from .. import sign_in_refusals
from ..access import public, safe_next
from ..identity import core, current_identity
from .auth import begin_key_step, client_address, succeeded, throttled

blueprint = Blueprint("oidc_auth", __name__)

FLOW_KEY = "oidc_flow"
# Time enough to sign in at the provider (its own password, its own second factor).
FLOW_SECONDS = 600


def _client() -> OidcClient:
    if core().settings.oidc.issuer is None:
        abort(404)
    return OidcClient(core().settings, current_app.config["BASTION_PUBLIC_URL"]
                      + url_for("oidc_auth.callback"))


def _bounce_page(again: str) -> ResponseReturnValue:
    # Rendered without the context processors: they build forms, which put a CSRF token
    # in the session, and the cookie this cookie-less response would then set replaces
    # the browser's real one, flow and all.
    template = current_app.jinja_env.get_template("auth/oidc_return.html")
    return template.render(again=again, current_locale=str(get_locale()))


@blueprint.get("/sign-in/oidc")
@public()
def start() -> ResponseReturnValue:
    if current_identity().principal is not None:
        return redirect(url_for("home.index"))
    if throttled("(oidc)"):
        abort(429)
    try:
        url, flow = _client().start()
    except ApprovalError as error:
        flash(sign_in_refusals.message(error), "error")
        return redirect(url_for("auth.sign_in"))
    session[FLOW_KEY] = {**flow.to_dict(), "since": time.time(),
                         "next": safe_next(request.args.get("next"))}
    return redirect(url)


@blueprint.get("/sign-in/oidc/callback")
@public()
def callback() -> ResponseReturnValue:
    if core().settings.oidc.issuer is None:
        abort(404)
    raw = session.get(FLOW_KEY)
    if raw is None and request.args.get("bounced") != "1":
        return _bounce_page(request.full_path.rstrip("?") + "&bounced=1")
    session.pop(FLOW_KEY, None)  # one answer per flow: a replayed callback finds none
    answer = {key: value for key, value in request.args.items() if key != "bounced"}
    flow = Flow.from_dict(raw)
    try:
        if flow is None:
            raise invalid("no sign-in in progress in this browser (the answer was replayed, "
                          "or started elsewhere)")
        if time.time() - float(raw.get("since", 0)) > FLOW_SECONDS:  # type: ignore[union-attr]
            raise invalid("the sign-in at the identity provider took too long")
        person = _client().finish(flow, answer)
    except ApprovalError as error:
        bastion = core()
        with bastion.db.session() as db:
            refuse(db, bastion, None, username="(oidc)", source="oidc", error=error,
                   address=client_address())
        flash(sign_in_refusals.message(error), "error")
        return redirect(url_for("auth.sign_in"))
    try:
        staff_id = admit(core(), person, address=client_address())  # audits its refusals
    except ApprovalError as error:
        flash(sign_in_refusals.message(error), "error")
        return redirect(url_for("auth.sign_in"))
    succeeded()
    step = begin_key_step(staff_id, "oidc", raw.get("next"))  # type: ignore[union-attr]
    return redirect(url_for(step or "auth.sign_in"))

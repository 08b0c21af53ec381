"""A small OpenID Connect provider for the tests: discovery, JWKS, an authorization
endpoint that checks the client, redirect URI and PKCE challenge, and a token endpoint that
checks the code, the client secret and the PKCE verifier, then issues an RS256-signed ID
token (joserfc). It stands in for the hospital's identity provider (its own login page is
skipped: ``login_as`` says who is signed in there).

``forge`` makes the next ID token wrong in one way, as an attacker or a broken provider
would: signed with another key, for another audience, expired, carrying the nonce of an
earlier sign-in, or from another issuer."""

from __future__ import annotations

import base64
import hashlib
import secrets
import threading
import time
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlencode

from flask import Flask, abort, jsonify, redirect, request
from joserfc import jwt
from joserfc.jwk import KeySet, RSAKey
from werkzeug.serving import make_server

from .ports import free_port

CLIENT_ID = "dpi-bastion"
CLIENT_SECRET = "client secret shared with the test provider"  # noqa: S105 - test only
FORGERIES = ("bad_signature", "wrong_audience", "expired", "replayed_nonce", "wrong_issuer")


@dataclass(frozen=True)
class Account:
    sub: str
    username: str
    name: str
    groups: tuple[str, ...]


@dataclass
class OidcProvider:
    accounts: dict[str, Account] = field(default_factory=dict)
    login_as: str | None = None
    forge: str | None = None  # one of FORGERIES, for the next ID token only
    redirect_uris: tuple[str, ...] = ()
    seen_challenges: list[tuple[str, str]] = field(default_factory=list)  # (method, challenge)
    # A login page whose form the person submits, as at a real provider: the redirect back
    # is then a navigation the provider's page started (cross-site for the console).
    interactive: bool = False

    def __post_init__(self) -> None:
        self.key = RSAKey.generate_key(2048, parameters={"kid": "test-key-1", "use": "sig"},
                                       private=True)
        # Same kid, other key: what a forger without the provider's key can sign with.
        self.forger_key = RSAKey.generate_key(2048, parameters={"kid": "test-key-1"},
                                              private=True)
        self.codes: dict[str, dict[str, Any]] = {}
        self.nonces: list[str] = []
        self.port = free_port()
        self.issuer = f"http://127.0.0.1:{self.port}"
        self.app = self._make_app()

    def _make_app(self) -> Flask:
        app = Flask("test-oidc-provider")

        @app.get("/.well-known/openid-configuration")
        def discovery():  # noqa: ANN202
            return jsonify(issuer=self.issuer, authorization_endpoint=f"{self.issuer}/authorize",
                           token_endpoint=f"{self.issuer}/token", jwks_uri=f"{self.issuer}/jwks",
                           response_types_supported=["code"], subject_types_supported=["public"],
                           id_token_signing_alg_values_supported=["RS256"],
                           code_challenge_methods_supported=["S256"])

        @app.get("/jwks")
        def jwks():  # noqa: ANN202
            return jsonify(KeySet([self.key]).as_dict(private=False))

        @app.route("/authorize", methods=["GET", "POST"])
        def authorize():  # noqa: ANN202
            args = request.args
            if args.get("client_id") != CLIENT_ID or args.get("redirect_uri") not in self.redirect_uris:
                abort(400, "unknown client or redirect URI")
            if args.get("response_type") != "code" or "openid" not in args.get("scope", "").split():
                abort(400, "only the code flow with openid")
            method, challenge = args.get("code_challenge_method", ""), args.get("code_challenge", "")
            self.seen_challenges.append((method, challenge))
            if method != "S256" or not challenge:
                abort(400, "PKCE S256 required")
            if self.interactive and request.method == "GET":
                return ('<!doctype html><title>IdP</title><link rel="icon" href="data:,"><form method="post">'
                        '<button id="idp-sign-in" type="submit">Sign in</button></form>')
            account = self.accounts[self.login_as or ""]
            code = secrets.token_urlsafe(24)
            self.codes[code] = {"account": account, "challenge": challenge,
                                "nonce": args.get("nonce"), "redirect_uri": args["redirect_uri"]}
            return redirect(f"{args['redirect_uri']}?{urlencode({'code': code, 'state': args.get('state', '')})}")

        @app.post("/token")
        def token():  # noqa: ANN202
            auth = request.authorization
            if auth is None or (auth.username, auth.password) != (CLIENT_ID, CLIENT_SECRET):
                return jsonify(error="invalid_client"), 401
            form = request.form
            grant = self.codes.pop(form.get("code", ""), None)
            if form.get("grant_type") != "authorization_code" or grant is None:
                return jsonify(error="invalid_grant"), 400
            verifier = form.get("code_verifier", "")
            digest = base64.urlsafe_b64encode(hashlib.sha256(verifier.encode()).digest()).rstrip(b"=")
            if digest.decode() != grant["challenge"] or form.get("redirect_uri") != grant["redirect_uri"]:
                return jsonify(error="invalid_grant", error_description="PKCE or redirect"), 400
            return jsonify(access_token=secrets.token_urlsafe(16), token_type="Bearer",
                           expires_in=300, id_token=self.id_token(grant))

        return app

    def id_token(self, grant: dict[str, Any]) -> str:
        account: Account = grant["account"]
        now = int(time.time())
        claims = {"iss": self.issuer, "sub": account.sub, "aud": CLIENT_ID, "iat": now,
                  "exp": now + 300, "nonce": grant["nonce"], "preferred_username": account.username,
                  "name": account.name, "email": f"{account.username}@hopital.example",
                  "groups": list(account.groups)}
        key = self.key
        forge, self.forge = self.forge, None
        if forge == "bad_signature":
            key = self.forger_key
        elif forge == "wrong_audience":
            claims["aud"] = "another-application"
        elif forge == "expired":
            claims["iat"], claims["exp"] = now - 3600, now - 1800
        elif forge == "replayed_nonce":
            claims["nonce"] = self.nonces[-1]
        elif forge == "wrong_issuer":
            claims["iss"] = "https://idp.elsewhere.example"
        self.nonces.append(grant["nonce"])
        return jwt.encode({"alg": "RS256", "kid": key.kid}, claims, key)

    def __enter__(self) -> OidcProvider:
        self.server = make_server("127.0.0.1", self.port, self.app, threaded=True)
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.server.shutdown()
        self.thread.join(5)

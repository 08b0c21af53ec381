"""OpenID Connect sign-in, the relying party's side: Authlib's OAuth 2 client for the
authorization code flow with PKCE (S256), joserfc (Authlib's JOSE library) for the ID token.

``start`` gives the provider's authorization URL and the flow's secrets (state, nonce,
PKCE verifier) for the caller to keep with the browser's session; ``finish`` takes the
provider's answer on the redirect back, exchanges the code (with the verifier), and checks
the ID token: signature against the provider's published keys (JWKS), issuer, audience
(and authorized party), expiry and issue time, and the nonce of this very sign-in, so a
token replayed from another sign-in is refused. Any failure raises ``ApprovalError``
("identity_token_invalid") whose reasons say precisely what did not hold.
"""

from __future__ import annotations

import secrets
from dataclasses import asdict, dataclass
from typing import Any

import requests
from authlib.integrations.requests_client import OAuth2Session
from authlib.oauth2 import OAuth2Error
from joserfc import jwt
from joserfc.errors import (
    BadSignatureError,
    ExpiredTokenError,
    InvalidClaimError,
    JoseError,
    MissingClaimError,
)
from joserfc.jwk import KeySet

from bastion.approvals import ApprovalError
from bastion.config import OidcSettings, Settings

from .person import DirectoryPerson

# Asymmetric signatures only: "none" and HMAC (a key the client also holds) are refused.
ALGORITHMS = ["RS256", "PS256", "ES256"]
# Clock difference tolerated between the provider and this node, for exp/iat/nbf.
LEEWAY_SECONDS = 60


@dataclass(frozen=True)
class Flow:
    """One sign-in's secrets, kept with the browser's session until the provider answers."""

    state: str
    nonce: str
    code_verifier: str

    def to_dict(self) -> dict[str, str]:
        return asdict(self)

    @classmethod
    def from_dict(cls, raw: object) -> Flow | None:
        if not isinstance(raw, dict):
            return None
        try:
            return cls(str(raw["state"]), str(raw["nonce"]), str(raw["code_verifier"]))
        except KeyError:
            return None


def invalid(reason: str) -> ApprovalError:
    return ApprovalError("identity_token_invalid",
                         "the identity provider's answer could not be verified; start the "
                         "sign-in again, and tell IT if it happens again", reasons=[reason])


class OidcClient:
    def __init__(self, settings: Settings, redirect_uri: str) -> None:
        if settings.oidc.issuer is None:
            raise ValueError("[oidc] issuer is not set")
        self.config: OidcSettings = settings.oidc
        self.issuer = self.config.issuer.rstrip("/")  # type: ignore[union-attr]
        self.redirect_uri = redirect_uri
        self.secret: str | None = None
        if self.config.client_secret_file is not None:
            try:
                self.secret = settings.resolve(self.config.client_secret_file).read_text(
                    encoding="utf-8").strip()
            except OSError as exc:
                raise ApprovalError("directory_unavailable",
                                    "the identity provider's client secret cannot be read; "
                                    "tell IT", reasons=[f"[oidc] client_secret_file: {exc}"]
                                    ) from None
        self.verify: str | bool = (str(settings.resolve(self.config.ca_file))
                                   if self.config.ca_file else True)

    def _get(self, url: str) -> dict[str, Any]:
        try:
            reply = requests.get(url, timeout=self.config.timeout_seconds, verify=self.verify)
            reply.raise_for_status()
            document = reply.json()
        except (requests.RequestException, ValueError) as exc:
            raise ApprovalError("directory_unavailable",
                                "the identity provider cannot be reached; try again shortly "
                                "or ask IT", reasons=[f"{url}: {exc}"]) from None
        if not isinstance(document, dict):
            raise ApprovalError("directory_unavailable", "the identity provider answered "
                                "nonsense", reasons=[f"{url}: not a JSON object"])
        return document

    def discovery(self) -> dict[str, Any]:
        document = self._get(f"{self.issuer}/.well-known/openid-configuration")
        if str(document.get("issuer", "")).rstrip("/") != self.issuer:
            raise ApprovalError("directory_unavailable",
                                "the identity provider's discovery document names another "
                                "issuer; check [oidc] issuer",
                                reasons=[f"discovery says {document.get('issuer')!r}"])
        return document

    def _session(self) -> OAuth2Session:
        session = OAuth2Session(self.config.client_id, self.secret,
                                scope=" ".join(self.config.scopes),
                                redirect_uri=self.redirect_uri, code_challenge_method="S256",
                                token_endpoint_auth_method=("client_secret_basic" if self.secret
                                                            else "none"))
        session.verify = self.verify
        return session

    def start(self) -> tuple[str, Flow]:
        flow = Flow(secrets.token_urlsafe(32), secrets.token_urlsafe(32),
                    secrets.token_urlsafe(48))
        endpoint = self.discovery()["authorization_endpoint"]
        url, _ = self._session().create_authorization_url(
            endpoint, state=flow.state, code_verifier=flow.code_verifier, nonce=flow.nonce)
        return url, flow

    def finish(self, flow: Flow, answer: dict[str, str]) -> DirectoryPerson:
        if "error" in answer:
            raise invalid(f"the provider answered {answer['error']!r}: "
                          f"{answer.get('error_description', '')}"[:300])
        if not secrets.compare_digest(answer.get("state", ""), flow.state):
            raise invalid("state does not match this sign-in (a forged or replayed answer)")
        code = answer.get("code")
        if not code:
            raise invalid("the provider's answer has no authorization code")
        metadata = self.discovery()
        try:
            token = self._session().fetch_token(
                metadata["token_endpoint"], grant_type="authorization_code", code=code,
                code_verifier=flow.code_verifier, timeout=self.config.timeout_seconds)
        except (OAuth2Error, requests.RequestException, ValueError) as exc:
            raise invalid(f"the code exchange failed: {exc}") from None
        id_token = token.get("id_token")
        if not isinstance(id_token, str):
            raise invalid("the token response holds no ID token")
        claims = self.verify_id_token(id_token, metadata, flow.nonce)
        return self.person(claims)

    def verify_id_token(self, id_token: str, metadata: dict[str, Any],
                        nonce: str) -> dict[str, Any]:
        keys = KeySet.import_key_set(self._get(metadata["jwks_uri"]))  # type: ignore[arg-type]
        try:
            token = jwt.decode(id_token, keys, algorithms=ALGORITHMS)
        except BadSignatureError:
            raise invalid("the ID token's signature does not verify against the provider's "
                          "published keys (JWKS)") from None
        except JoseError as exc:
            raise invalid(f"the ID token cannot be read or its algorithm is refused: "
                          f"{exc.error}") from None
        claims = token.claims
        registry = jwt.JWTClaimsRegistry(
            leeway=LEEWAY_SECONDS,
            iss={"essential": True, "value": self.issuer},
            aud={"essential": True, "value": self.config.client_id},
            sub={"essential": True}, exp={"essential": True}, iat={"essential": True},
            nonce={"essential": True, "value": nonce})
        try:
            registry.validate(claims)
        except ExpiredTokenError:
            raise invalid("the ID token has expired") from None
        except (InvalidClaimError, MissingClaimError) as exc:
            raise invalid(_claim_problem(exc.claim)) from None
        except JoseError as exc:
            raise invalid(f"the ID token's claims do not hold: {exc.error}") from None
        audiences = claims["aud"] if isinstance(claims["aud"], list) else [claims["aud"]]
        if len(audiences) > 1 and claims.get("azp") != self.config.client_id:
            raise invalid("the ID token names several audiences but not this console as its "
                          "authorized party (azp)")
        return claims

    def person(self, claims: dict[str, Any]) -> DirectoryPerson:
        username = claims.get(self.config.username_claim)
        if not isinstance(username, str) or not username:
            raise invalid(f"the ID token has no {self.config.username_claim!r} claim")
        groups = claims.get(self.config.roles_claim) or []
        if isinstance(groups, str):
            groups = [groups]
        if not isinstance(groups, list) or not all(isinstance(g, str) for g in groups):
            raise invalid(f"the ID token's {self.config.roles_claim!r} claim is not a list of "
                          "names")
        # Some providers put a domain after the login (jdoe@hopital.example): the console
        # name is the part before it.
        login = username.split("@", 1)[0].strip().lower()
        return DirectoryPerson(
            source="oidc", username=login, external_id=f"{claims['iss']}|{claims['sub']}",
            full_name=str(claims.get("name") or login)[:200],
            email=claims.get("email") if isinstance(claims.get("email"), str) else None,
            groups=tuple(groups))


def _claim_problem(claim: str) -> str:
    return {
        "aud": "the ID token was issued for another client (audience)",
        "iss": "the ID token comes from another issuer",
        "nonce": "the ID token's nonce is not this sign-in's (a replayed token)",
        "iat": "the ID token's issue time is missing or in the future",
        "nbf": "the ID token is not valid yet",
        "sub": "the ID token names no subject",
        "exp": "the ID token has no expiry",
    }.get(claim, f"the ID token's {claim!r} claim does not hold")

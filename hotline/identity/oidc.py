"""The OpenID Connect relying party: one per kommune, many issuers at once.

Authorization code flow with PKCE (S256). ``state`` (stored hashed), ``nonce`` and the PKCE verifier are bound
server-side to (kommune, issuer) when the flow starts; the callback takes the kommune from that stored attempt,
never from the URL, and the attempt is consumed, so a state works once. The ID token is checked with joserfc
against the issuer's own keys: ``iss`` equal to the kommune's issuer, ``aud`` containing our client id, ``exp``,
``iat``, ``nonce``; the RFC 9207 ``iss`` response parameter is compared where the provider sends it.

Sign-out at the provider (OpenID Connect RP-Initiated Logout 1.0): when the provider's discovery document names
an ``end_session_endpoint``, :meth:`RelyingParty.end_session_url` builds the address to send the browser to, with
the ID token of the sign-in as ``id_token_hint`` (kept server-side with the session), the hotline's registered
``post_logout_redirect_uri`` and a fresh ``state``.

Discovery documents and key sets are cached per process for a few minutes: they are copies of what the provider
publishes, so replicas need not agree on them. An unknown ``kid`` refreshes the key set once (key rotation).
"""

from __future__ import annotations

import datetime as dt
import hashlib
import hmac
import os
import secrets
import warnings
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlencode, urlsplit

import httpx
from authlib.integrations.base_client.errors import OAuthError
from joserfc import jwt
from joserfc.errors import JoseError
from joserfc.jwk import KeySet
from joserfc.jws import extract_compact

from hotline.identity import repository
from hotline.identity.schemas import Grant
from hotline.identity.service import aware, grants_from_claims, hash_secret
from hotline.tenancy.files import DEV_IDP_PLACEHOLDER
from hotline.tenancy.schemas import IdentityConfig

with warnings.catch_warnings():
    # Authlib 1.9 announces that its HTTPX integration will move to the httpx2 package; the httpx API it wraps
    # here is unchanged, and the project pins httpx.
    warnings.filterwarnings("ignore", message="The httpx module is deprecated")
    from authlib.integrations.httpx_client import AsyncOAuth2Client

ATTEMPT_LIFETIME = dt.timedelta(minutes=10)
CLOCK_SKEW = dt.timedelta(seconds=60)
_CACHE_FOR = dt.timedelta(minutes=5)
# Asymmetric algorithms only: "none" and HMAC (which would make the client secret a signing key) are refused.
ALGORITHMS = ["RS256", "RS384", "RS512", "PS256", "PS384", "PS512", "ES256", "ES384", "ES512", "EdDSA"]


class SignInError(Exception):
    """A sign-in refused. ``reason`` is a short code for the audit log; the message is for the person."""

    def __init__(self, reason: str, message: str, *, kommune_code: str = "", issuer: str = "") -> None:
        super().__init__(message)
        self.reason = reason
        self.message = message
        self.kommune_code = kommune_code
        self.issuer = issuer


@dataclass(frozen=True)
class ProviderMetadata:
    issuer: str
    authorization_endpoint: str
    token_endpoint: str
    jwks_uri: str
    end_session_endpoint: str = ""
    iss_parameter_supported: bool = False


@dataclass(frozen=True)
class SignedIn:
    kommune_code: str
    issuer: str
    subject: str
    display_name: str
    grants: list[Grant]
    next_path: str
    id_token: str = field(repr=False)
    """Kept with the session for ``id_token_hint`` at sign-out; never sent to the browser or logged."""


def safe_next(path: str) -> str:
    """Where to go after sign-in: a path on this site only (no ``//host`` or ``/\\host`` open redirect)."""
    if path.startswith("/") and not path.startswith(("//", "/\\")) and "\\" not in path:
        return path
    return "/me"


def dev_client_secret(secret_key: str, kommune_code: str) -> str:
    """The development provider's client secret for one demo kommune: derived, so neither side stores it."""
    return hmac.new(secret_key.encode(), f"dev-idp client {kommune_code}".encode(), hashlib.sha256).hexdigest()


@dataclass
class RelyingParty:
    """Signs people in at their kommune's provider. ``dev_idp_url`` is set in demo mode only: it is what the
    ``{dev_idp}`` placeholder of demo tenant files resolves to; outside demo mode such issuers are refused."""

    secret_key: str
    dev_idp_url: str = ""
    http: httpx.AsyncClient = field(default_factory=lambda: httpx.AsyncClient(timeout=10, follow_redirects=False))
    environ: Mapping[str, str] = field(default_factory=lambda: os.environ)
    _metadata: dict[str, tuple[ProviderMetadata, dt.datetime]] = field(default_factory=dict)
    _keys: dict[str, tuple[KeySet, dt.datetime]] = field(default_factory=dict)

    async def close(self) -> None:
        await self.http.aclose()

    # -- configuration --------------------------------------------------------------------------------

    def issuer_of(self, config: IdentityConfig, kommune_code: str) -> str:
        if config.issuer.startswith(DEV_IDP_PLACEHOLDER):
            if not self.dev_idp_url:
                raise SignInError(
                    "dev_idp_outside_demo",
                    "This kommune is set up for the development identity provider, which runs in demo mode only.",
                    kommune_code=kommune_code,
                )
            return self.dev_idp_url.rstrip("/") + config.issuer[len(DEV_IDP_PLACEHOLDER) :]
        return config.issuer

    def client_secret(self, config: IdentityConfig, kommune_code: str) -> str:
        secret = self.environ.get(config.client_secret_env, "")
        if not secret and config.issuer.startswith(DEV_IDP_PLACEHOLDER) and self.dev_idp_url:
            secret = dev_client_secret(self.secret_key, kommune_code)
        if not secret:
            raise SignInError(
                "client_secret_missing",
                f"Sign-in for kommune {kommune_code} is not set up: the operators must set {config.client_secret_env}.",
                kommune_code=kommune_code,
            )
        return secret

    # -- what the provider publishes -----------------------------------------------------------------

    async def _get_json(self, url: str, kommune_code: str) -> dict[str, Any]:
        try:
            response = await self.http.get(url, headers={"Accept": "application/json"})
            response.raise_for_status()
            document = response.json()
        except (httpx.HTTPError, ValueError):
            raise SignInError(
                "provider_unreachable",
                "The kommune's identity provider did not answer. Try again in a moment.",
                kommune_code=kommune_code,
            ) from None
        if not isinstance(document, dict):
            raise SignInError("provider_bad_document", "The identity provider sent an unusable answer.")
        return document

    async def metadata(self, issuer: str, kommune_code: str, now: dt.datetime) -> ProviderMetadata:
        cached = self._metadata.get(issuer)
        if cached is not None and now - cached[1] < _CACHE_FOR:
            return cached[0]
        document = await self._get_json(f"{issuer.rstrip('/')}/.well-known/openid-configuration", kommune_code)
        if document.get("issuer") != issuer:
            # OpenID Connect Discovery 4.3: a document for another issuer is an attack or a misconfiguration.
            raise SignInError(
                "discovery_issuer_mismatch",
                "The identity provider's discovery document names another issuer.",
                kommune_code=kommune_code,
                issuer=issuer,
            )
        try:
            metadata = ProviderMetadata(
                issuer=issuer,
                authorization_endpoint=str(document["authorization_endpoint"]),
                token_endpoint=str(document["token_endpoint"]),
                jwks_uri=str(document["jwks_uri"]),
                end_session_endpoint=str(document.get("end_session_endpoint", "")),
                iss_parameter_supported=document.get("authorization_response_iss_parameter_supported") is True,
            )
        except KeyError as missing:
            raise SignInError(
                "discovery_incomplete", f"The identity provider's discovery document lacks {missing}."
            ) from None
        self._metadata[issuer] = (metadata, now)
        return metadata

    async def _key_set(self, jwks_uri: str, kommune_code: str, now: dt.datetime, *, refresh: bool) -> KeySet:
        cached = self._keys.get(jwks_uri)
        if cached is not None and not refresh and now - cached[1] < _CACHE_FOR:
            return cached[0]
        document = await self._get_json(jwks_uri, kommune_code)
        try:
            keys = KeySet.import_key_set(document)  # type: ignore[arg-type]
        except (JoseError, ValueError, KeyError, TypeError):
            raise SignInError("provider_bad_keys", "The identity provider publishes unusable keys.") from None
        self._keys[jwks_uri] = (keys, now)
        return keys

    # -- the flow -----------------------------------------------------------------------------------------

    async def start(
        self, kommune_code: str, config: IdentityConfig, *, redirect_uri: str, next_path: str, now: dt.datetime
    ) -> str:
        """Store a new attempt and return the provider's authorization URL to send the browser to."""
        issuer = self.issuer_of(config, kommune_code)
        metadata = await self.metadata(issuer, kommune_code, now)
        state, nonce, verifier = secrets.token_urlsafe(32), secrets.token_urlsafe(32), secrets.token_urlsafe(64)
        await repository.save_login_attempt(
            {
                "state_hash": hash_secret(state),
                "kommune_code": kommune_code,
                "issuer": issuer,
                "nonce": nonce,
                "code_verifier": verifier,
                "redirect_uri": redirect_uri,
                "next_path": next_path,
                "created_at": now,
            }
        )
        client = AsyncOAuth2Client(
            client_id=config.client_id,
            scope=" ".join(config.scopes),
            redirect_uri=redirect_uri,
            code_challenge_method="S256",
        )
        extra = {"kc_idp_hint": config.idp_hint} if config.idp_hint else {}
        url, _ = client.create_authorization_url(
            metadata.authorization_endpoint, state=state, code_verifier=verifier, nonce=nonce, **extra
        )
        await client.aclose()
        return str(url)

    async def finish(
        self,
        params: Mapping[str, str],
        config_for: Callable[[str], Awaitable[IdentityConfig | None]],
        now: dt.datetime,
    ) -> SignedIn:
        """Complete a sign-in from the callback's query ``params``. ``config_for`` looks up a kommune's identity
        configuration; the kommune is the one stored with the ``state``, never one named by the request."""
        state = params.get("state", "")
        attempt = await repository.take_login_attempt(hash_secret(state)) if state else None
        if attempt is None:
            raise SignInError("unknown_state", "This sign-in link is unknown, already used or forged. Start again.")
        kommune_code, issuer = attempt["kommune_code"], attempt["issuer"]

        def refuse(reason: str, message: str) -> SignInError:
            return SignInError(reason, message, kommune_code=kommune_code, issuer=issuer)

        if now - aware(attempt["created_at"]) > ATTEMPT_LIFETIME:
            raise refuse("state_expired", "The sign-in took too long. Start again.")
        config = await config_for(kommune_code)
        if config is None or self.issuer_of(config, kommune_code) != issuer:
            raise refuse("tenant_changed", "The kommune's sign-in was reconfigured meanwhile. Start again.")
        if "iss" in params and params["iss"] != issuer:
            # RFC 9207: the response came from another provider than the one we sent the browser to (mix-up).
            raise refuse("iss_mismatch", "The answer came from another identity provider than the kommune's.")
        metadata = await self.metadata(issuer, kommune_code, now)
        if "iss" not in params and metadata.iss_parameter_supported:
            # A provider that promises the parameter and omits it: the answer did not come from it.
            raise refuse("iss_missing", "The answer lacks the identity provider's issuer.")
        if "error" in params:
            raise refuse("provider_error", "The identity provider did not sign you in.")
        code = params.get("code", "")
        if not code:
            raise refuse("no_code", "The identity provider's answer lacks an authorization code.")

        client = AsyncOAuth2Client(
            client_id=config.client_id,
            client_secret=self.client_secret(config, kommune_code),
            redirect_uri=attempt["redirect_uri"],
            code_challenge_method="S256",
            timeout=10,
        )
        try:
            token = await client.fetch_token(
                metadata.token_endpoint,
                code=code,
                code_verifier=attempt["code_verifier"],
                grant_type="authorization_code",
            )
        except (OAuthError, httpx.HTTPError, ValueError):
            raise refuse("code_rejected", "The identity provider refused the authorization code.") from None
        finally:
            await client.aclose()
        id_token = token.get("id_token") if isinstance(token, Mapping) else None
        if not isinstance(id_token, str):
            raise refuse("no_id_token", "The identity provider sent no ID token.")
        claims = await self._verified_claims(id_token, metadata, config, attempt["nonce"], kommune_code, now)
        if config.kommune_claim and claims.get(config.kommune_claim) != kommune_code:
            raise refuse("wrong_kommune_claim", "The ID token is for another kommune.")
        grants = grants_from_claims(config, kommune_code, claims)
        if not grants:
            raise refuse("no_role", "You are signed in at your kommune but hold no role in the hotline.")
        name = claims.get("name") or " ".join(
            str(part) for part in (claims.get("given_name"), claims.get("family_name")) if part
        )
        next_path = attempt["next_path"]
        return SignedIn(
            kommune_code=kommune_code,
            issuer=issuer,
            subject=str(claims["sub"]),
            display_name=str(name)[:200],
            grants=grants,
            next_path=safe_next(next_path),
            id_token=id_token,
        )

    async def end_session_url(
        self,
        kommune_code: str,
        config: IdentityConfig,
        *,
        issuer: str,
        id_token: str,
        post_logout_redirect_uri: str,
        state: str,
        now: dt.datetime,
    ) -> str | None:
        """Where to send the browser so that the provider ends its own session too, or None when the provider
        offers no end-session endpoint or is no longer the one the person signed in at (the kommune moved to
        another provider meanwhile). Raises :class:`SignInError` when the provider cannot be asked."""
        if self.issuer_of(config, kommune_code) != issuer:
            return None
        endpoint = (await self.metadata(issuer, kommune_code, now)).end_session_endpoint
        if not endpoint:
            return None
        if urlsplit(endpoint).scheme not in {"https", "http"}:
            raise SignInError("provider_bad_document", "The identity provider names an unusable sign-out address.")
        query = urlencode(
            {
                "id_token_hint": id_token,
                "post_logout_redirect_uri": post_logout_redirect_uri,
                "state": state,
                "client_id": config.client_id,
            }
        )
        return f"{endpoint}{'&' if '?' in endpoint else '?'}{query}"

    async def _verified_claims(
        self,
        id_token: str,
        metadata: ProviderMetadata,
        config: IdentityConfig,
        nonce: str,
        kommune_code: str,
        now: dt.datetime,
    ) -> dict[str, Any]:
        def refuse(reason: str, message: str) -> SignInError:
            return SignInError(reason, message, kommune_code=kommune_code, issuer=metadata.issuer)

        try:
            header = extract_compact(id_token.encode()).protected
        except (JoseError, ValueError):
            raise refuse("malformed_token", "The ID token is not a signed JWT.") from None
        keys = await self._key_set(metadata.jwks_uri, kommune_code, now, refresh=False)
        kid = header.get("kid")
        if kid and all(key.kid != kid for key in keys.keys):
            # An unknown kid may mean the provider rotated its keys: fetch them once more.
            keys = await self._key_set(metadata.jwks_uri, kommune_code, now, refresh=True)
        try:
            decoded = jwt.decode(id_token, keys, algorithms=ALGORITHMS)
        except (JoseError, ValueError):
            raise refuse("bad_signature", "The ID token's signature or algorithm is not acceptable.") from None
        claims: dict[str, Any] = dict(decoded.claims)
        if claims.get("iss") != metadata.issuer:
            raise refuse("wrong_issuer", "The ID token was issued by another provider than the kommune's.")
        audience = claims.get("aud")
        audiences = [audience] if isinstance(audience, str) else audience if isinstance(audience, list) else []
        if config.client_id not in audiences:
            raise refuse("wrong_audience", "The ID token was issued for another application.")
        if len(audiences) > 1 and claims.get("azp") != config.client_id:
            raise refuse("wrong_audience", "The ID token was issued for another application.")
        stamp = now.timestamp()
        exp, iat = claims.get("exp"), claims.get("iat")
        if not isinstance(exp, int | float) or exp < stamp - CLOCK_SKEW.total_seconds():
            raise refuse("expired", "The ID token has expired.")
        if not isinstance(iat, int | float) or iat > stamp + CLOCK_SKEW.total_seconds():
            raise refuse("not_yet_valid", "The ID token is not valid yet.")
        nbf = claims.get("nbf")
        if isinstance(nbf, int | float) and nbf > stamp + CLOCK_SKEW.total_seconds():
            raise refuse("not_yet_valid", "The ID token is not valid yet.")
        token_nonce = claims.get("nonce")
        if not isinstance(token_nonce, str) or not hmac.compare_digest(token_nonce, nonce):
            raise refuse("bad_nonce", "The ID token does not belong to this sign-in (nonce).")
        subject = claims.get("sub")
        if not isinstance(subject, str) or not subject:
            raise refuse("no_subject", "The ID token names no user.")
        return claims

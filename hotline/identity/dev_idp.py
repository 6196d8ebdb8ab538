"""The development identity provider: a small but real OpenID Connect provider for ``hotline demo`` and the tests.

It serves one issuer per kommune, ``<base>/<code>`` (e.g. ``http://127.0.0.1:8000/dev-idp/0751``), each with its
own RSA signing key, so a token of one kommune's issuer presented for another fails as it would in production.
Discovery, JWKS, an authorization endpoint that shows a picker of demo people (agent, kommune admin, auditor,
coordinator) instead of a password form, and a token endpoint with client authentication and PKCE (S256 only).

It is mounted by the app in demo mode only (``create_app`` checks ``settings.demo``); tests run it on its own
under uvicorn on a free port. Codes live in this process's memory: a development provider has one process.
"""

from __future__ import annotations

import base64
import datetime as dt
import hashlib
import hmac
import secrets
from collections.abc import Callable
from dataclasses import dataclass, field
from html import escape
from typing import Annotated, Any
from urllib.parse import urlencode

from joserfc import jwt
from joserfc.jwk import RSAKey
from litestar import Litestar, Request, Response, Router, get, post
from litestar.enums import RequestEncodingType
from litestar.params import Body, PathParameter
from litestar.response import Redirect

from hotline.identity.guards import public
from hotline.identity.oidc import dev_client_secret

KommuneParameter = Annotated[str, PathParameter(max_length=8)]
CODE_LIFETIME = dt.timedelta(minutes=2)
TOKEN_LIFETIME = dt.timedelta(minutes=5)


@dataclass(frozen=True)
class Persona:
    key: str
    label_da: str
    roles: tuple[str, ...]


PERSONAS = (
    Persona("agent", "Aftenmedarbejder (agent)", ("agent",)),
    Persona("admin", "Kommuneadministrator", ("kommune_admin",)),
    Persona("auditor", "Revisor", ("auditor",)),
    Persona("agent-admin", "Agent og kommuneadministrator", ("agent", "kommune_admin")),
    Persona("coordinator", "Koordinator (kun fra føderationens egen udbyder)", ("coordinator", "agent")),
)


@dataclass
class _Code:
    code: str
    kommune: str
    persona: Persona
    client_id: str
    redirect_uri: str
    challenge: str
    nonce: str | None
    issued: dt.datetime


def _utc_now() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


@dataclass
class DevIdentityProvider:
    """``base_url`` is where the provider's routes are reachable (its issuers are ``base_url/<code>``)."""

    base_url: str
    secret_key: str
    clock: Callable[[], dt.datetime] = _utc_now
    kommune_names: dict[str, str] = field(default_factory=dict)
    send_iss: bool = True
    _keys: dict[str, RSAKey] = field(default_factory=dict)
    _codes: dict[str, _Code] = field(default_factory=dict)

    def issuer(self, kommune: str) -> str:
        return f"{self.base_url.rstrip('/')}/{kommune}"

    def key(self, kommune: str) -> RSAKey:
        if kommune not in self._keys:
            self._keys[kommune] = RSAKey.generate_key(
                2048, parameters={"kid": f"dev-{kommune}-{secrets.token_hex(4)}", "use": "sig", "alg": "RS256"}
            )
        return self._keys[kommune]

    def claims_for(self, kommune: str, persona: Persona, client_id: str, nonce: str | None) -> dict[str, Any]:
        now = int(self.clock().timestamp())
        place = self.kommune_names.get(kommune, kommune)
        claims: dict[str, Any] = {
            "iss": self.issuer(kommune),
            "sub": f"dev-{kommune}-{persona.key}",
            "aud": client_id,
            "iat": now,
            "exp": now + int(TOKEN_LIFETIME.total_seconds()),
            "name": f"Demo {persona.key} ({place})",
            "roles": list(persona.roles),
            "kommune_code": kommune,
        }
        if nonce is not None:
            claims["nonce"] = nonce
        return claims

    def id_token(self, kommune: str, claims: dict[str, Any]) -> str:
        """Sign ``claims`` with the kommune issuer's key (tests override this to forge tokens)."""
        key = self.key(kommune)
        return jwt.encode({"alg": "RS256", "kid": key.kid}, claims, key)

    # -- the endpoints' logic -------------------------------------------------------------------------

    def discovery(self, kommune: str) -> dict[str, Any]:
        issuer = self.issuer(kommune)
        return {
            "issuer": issuer,
            "authorization_endpoint": f"{issuer}/authorize",
            "token_endpoint": f"{issuer}/token",
            "jwks_uri": f"{issuer}/jwks",
            "response_types_supported": ["code"],
            "subject_types_supported": ["public"],
            "id_token_signing_alg_values_supported": ["RS256"],
            "code_challenge_methods_supported": ["S256"],
            "token_endpoint_auth_methods_supported": ["client_secret_basic", "client_secret_post"],
            "authorization_response_iss_parameter_supported": self.send_iss,
            "scopes_supported": ["openid", "profile", "email"],
        }

    def jwks(self, kommune: str) -> dict[str, Any]:
        return {"keys": [self.key(kommune).as_dict(private=False)]}

    def approve(self, kommune: str, params: dict[str, str]) -> str:
        """Issue a code for the chosen persona; returns the redirect back to the client."""
        persona = next((p for p in PERSONAS if p.key == params.get("persona")), None)
        if persona is None:
            raise ValueError("unknown persona")
        if params.get("code_challenge_method") != "S256" or not params.get("code_challenge"):
            raise ValueError("PKCE with S256 is required")
        redirect_uri = params.get("redirect_uri", "")
        if not redirect_uri.startswith(("http://", "https://")):
            raise ValueError("bad redirect_uri")
        code = secrets.token_urlsafe(32)
        self._codes[code] = _Code(
            code=code,
            kommune=kommune,
            persona=persona,
            client_id=params.get("client_id", ""),
            redirect_uri=redirect_uri,
            challenge=params["code_challenge"],
            nonce=params.get("nonce"),
            issued=self.clock(),
        )
        answer = {"code": code, "state": params.get("state", "")}
        if self.send_iss:
            answer["iss"] = self.issuer(kommune)
        return f"{redirect_uri}{'&' if '?' in redirect_uri else '?'}{urlencode(answer)}"

    def token(self, kommune: str, form: dict[str, str], authorization: str) -> tuple[int, dict[str, Any]]:
        client_id, client_secret = form.get("client_id", ""), form.get("client_secret", "")
        if authorization.lower().startswith("basic "):
            decoded = base64.b64decode(authorization[6:]).decode()
            client_id, _, client_secret = decoded.partition(":")
            from urllib.parse import unquote_plus

            client_id, client_secret = unquote_plus(client_id), unquote_plus(client_secret)
        if not hmac.compare_digest(client_secret, dev_client_secret(self.secret_key, kommune)):
            return 401, {"error": "invalid_client"}
        grant = self._codes.pop(form.get("code", ""), None)  # a code works once
        if grant is None or grant.kommune != kommune or grant.client_id != client_id:
            return 400, {"error": "invalid_grant", "error_description": "unknown or used code"}
        if self.clock() - grant.issued > CODE_LIFETIME or form.get("redirect_uri") != grant.redirect_uri:
            return 400, {"error": "invalid_grant"}
        verifier = form.get("code_verifier", "")
        challenge = base64.urlsafe_b64encode(hashlib.sha256(verifier.encode()).digest()).rstrip(b"=").decode()
        if not hmac.compare_digest(challenge, grant.challenge):
            return 400, {"error": "invalid_grant", "error_description": "PKCE verification failed"}
        claims = self.claims_for(kommune, grant.persona, client_id, grant.nonce)
        return 200, {
            "access_token": secrets.token_urlsafe(32),
            "token_type": "Bearer",
            "expires_in": int(TOKEN_LIFETIME.total_seconds()),
            "id_token": self.id_token(kommune, claims),
        }

    def picker(self, kommune: str, params: dict[str, str]) -> str:
        place = escape(self.kommune_names.get(kommune, kommune))
        items = []
        for persona in PERSONAS:
            query = escape(urlencode({**params, "persona": persona.key}))
            items.append(
                f'<li><a href="{escape(self.issuer(kommune))}/approve?{query}">{escape(persona.label_da)}</a></li>'
            )
        return (
            '<!doctype html><html lang="da"><head><meta charset="utf-8">'
            '<meta name="viewport" content="width=device-width, initial-scale=1">'
            f"<title>Udviklings-login · {place}</title></head><body><main>"
            f"<h1>Udviklingsudbyder for {place} ({escape(kommune)})</h1>"
            "<p>Kun til demo og test: vælg, hvem du vil logge ind som. Ingen adgangskode.</p>"
            f"<ul>{''.join(items)}</ul></main></body></html>"
        )

    # -- HTTP ------------------------------------------------------------------------------------------

    def router(self, path: str = "/dev-idp") -> Router:
        provider = self

        def check(kommune: KommuneParameter) -> None:
            if not (kommune.isdigit() and len(kommune) == 4):
                from litestar.exceptions import NotFoundException

                raise NotFoundException(detail="No such issuer")

        @get("/{kommune:str}/.well-known/openid-configuration", opt=public(), include_in_schema=False)
        async def discovery(kommune: KommuneParameter) -> dict[str, Any]:
            check(kommune)
            return provider.discovery(kommune)

        @get("/{kommune:str}/jwks", opt=public(), include_in_schema=False)
        async def jwks(kommune: KommuneParameter) -> dict[str, Any]:
            check(kommune)
            return provider.jwks(kommune)

        @get("/{kommune:str}/authorize", opt=public(), include_in_schema=False)
        async def authorize(request: Request[Any, Any, Any], kommune: KommuneParameter) -> Response[str]:
            check(kommune)
            page = provider.picker(kommune, dict(request.query_params))
            return Response(page, media_type="text/html")

        @get("/{kommune:str}/approve", opt=public(), include_in_schema=False)
        async def approve(request: Request[Any, Any, Any], kommune: KommuneParameter) -> Response[Any]:
            check(kommune)
            try:
                return Redirect(path=provider.approve(kommune, dict(request.query_params)))
            except ValueError as exc:
                return Response({"error": "invalid_request", "error_description": str(exc)}, status_code=400)

        @post("/{kommune:str}/token", opt=public(), include_in_schema=False, status_code=200)
        async def token(
            request: Request[Any, Any, Any],
            kommune: KommuneParameter,
            data: Annotated[dict[str, str], Body(media_type=RequestEncodingType.URL_ENCODED)],
        ) -> Response[dict[str, Any]]:
            check(kommune)
            status, body = provider.token(kommune, data, request.headers.get("authorization", ""))
            return Response(body, status_code=status, headers={"Cache-Control": "no-store"})

        return Router(path=path, route_handlers=[discovery, jwks, authorize, approve, token])

    def standalone_app(self) -> Litestar:
        """The provider as an app of its own (tests serve it with uvicorn on a free port)."""
        return Litestar(route_handlers=[self.router()], openapi_config=None)

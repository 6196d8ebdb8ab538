"""The development identity provider: a small but real OpenID Connect provider for ``hotline demo`` and the tests.

It serves one issuer per kommune, ``<base>/<code>`` (e.g. ``http://127.0.0.1:8000/dev-idp/0751``), each with its
own RSA signing key, so a token of one kommune's issuer presented for another fails as it would in production.
Discovery, JWKS, an authorization endpoint that shows a picker of demo people (agent, kommune admin, auditor,
coordinator) instead of a password form, and a token endpoint with client authentication and PKCE (S256 only).

Like a real provider it keeps its own session: choosing a person sets a cookie (per issuer), and a later
authorization request from that browser is answered at once, without the picker (``prompt=login`` or a
``login_hint`` naming another person shows it again). The end-session endpoint (OpenID Connect RP-Initiated Logout
1.0) ends that session: it requires an ``id_token_hint`` signed by the issuer for a known client, and redirects only
to a ``post_logout_redirect_uri`` registered for that client. It asks no confirmation (a demo has no one to ask),
which is why the hint is required rather than merely recommended.

It is mounted by the app in demo mode only (``create_app`` checks ``settings.demo``); tests run it on its own
under uvicorn on a free port. Codes live in this process's memory: a development provider has one process.
"""

from __future__ import annotations

import base64
import datetime as dt
import functools
import hashlib
import hmac
import secrets
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from html import escape
from typing import Annotated, Any
from urllib.parse import urlencode, urlsplit

from joserfc import jwt
from joserfc.errors import JoseError
from joserfc.jwk import RSAKey
from litestar import Litestar, Request, Response, Router, get, post, route
from litestar.datastructures import Cookie
from litestar.enums import RequestEncodingType
from litestar.params import Body, PathParameter
from litestar.response import Redirect

from hotline.identity.guards import public
from hotline.identity.oidc import dev_client_secret
from hotline.tenancy.files import reference_kommuner

KommuneParameter = Annotated[str, PathParameter(max_length=8)]
CODE_LIFETIME = dt.timedelta(minutes=2)
TOKEN_LIFETIME = dt.timedelta(minutes=5)
SESSION_LIFETIME = dt.timedelta(hours=12)
SESSION_COOKIE = "dev_idp_session"
DEMO_CLIENT_ID = "digital-hotline"
"""The client id every demo tenant file names (``hotline.tenancy.demo_federation``)."""


class EndSessionRefused(ValueError):
    """An end-session request the provider will not follow (answered 400, nothing ended)."""


@dataclass(frozen=True)
class Persona:
    key: str
    label_da: str
    roles: tuple[str, ...]
    label_en: str = ""
    about_da: str = ""
    """One line on what the role can do in the hotline (shown on the picker)."""
    about_en: str = ""

    def label(self, language: str) -> str:
        return self.label_en if language == "en" and self.label_en else self.label_da

    def about(self, language: str) -> str:
        return self.about_en if language == "en" and self.about_en else self.about_da


PERSONAS = (
    Persona(
        "agent",
        "Aftenmedarbejder (agent)",
        ("agent",),
        "Evening agent",
        "Tager opkald fra den fælles kø, ser borgerens kommunes regler, sender svar på kommunens brevpapir, "
        "overdrager sager og skriver sig op til vagter.",
        "Takes calls from the shared queue, sees the caller's kommune rules, sends letterhead replies, hands "
        "enquiries off and signs up to shifts.",
    ),
    Persona(
        "admin",
        "Kommuneadministrator",
        ("kommune_admin",),
        "Kommune admin",
        "Styrer kommunen: overdragelser, nøgletal, kommunens regler i vidensbanken, brevpapir, maskinadgang og "
        "revisionslog.",
        "Runs the kommune's part: hand-offs, figures, the kommune's rules in the knowledge bank, letterhead, "
        "machine access and the audit log.",
    ),
    Persona(
        "auditor",
        "Revisor",
        ("auditor",),
        "Auditor",
        "Læser kommunens revisionslog: hvem har set og ændret hvad. Ændrer intet.",
        "Reads the kommune's audit log: who saw and changed what. Changes nothing.",
    ),
    Persona(
        "agent-admin",
        "Agent og kommuneadministrator",
        ("agent", "kommune_admin"),
        "Agent and kommune admin",
        "Begge dele: tager opkald om aftenen og administrerer kommunen.",
        "Both: takes calls in the evening and runs the kommune's part.",
    ),
    Persona(
        "coordinator",
        "Koordinator (kun fra føderationens egen udbyder)",
        ("coordinator", "agent"),
        "Coordinator (only from the federation's own provider)",
        "Planlægger vagter, følger køen på tavlen, udgiver driftsbeskeder og læser føderationens nøgletal og "
        "afregning. Kun hvor kommunens login må give rollen (i demoen Aarhus); ellers bliver det en agent.",
        "Plans the rota, watches the queue on the wallboard, publishes surge notices, reads the federation's "
        "figures and settlement. Only where the kommune's login may grant it (Aarhus in the demo); else an agent.",
    ),
)

_TEXTS: dict[str, dict[str, str]] = {
    "da": {
        "banner": "Udviklingsudbyder · kun til demo og test",
        "title": "Udviklingsudbyder for {place}",
        "not_real": (
            "Dette er ikke et rigtigt login. Demoen har sin egen lille OpenID Connect-udbyder, hvor du vælger en "
            "person i stedet for at skrive en adgangskode. I drift logger medarbejderne ind gennem deres egen "
            "kommunes login."
        ),
        "choose": "Vælg, hvem du vil logge ind som",
        "back": "Bagefter sendes du tilbage til hotlinen.",
        "issuer": "Udsteder",
        "signed_out_title": "Logget ud",
        "signed_out": "Du er logget ud hos udviklingsudbyderen for {place}",
        "close": "Luk browseren, hvis du deler computeren med andre.",
    },
    "en": {
        "banner": "Development provider · for demo and tests only",
        "title": "Development provider for {place}",
        "not_real": (
            "This is not a real sign-in. The demo has its own small OpenID Connect provider where you pick a person "
            "instead of typing a password. In production, staff sign in through their own kommune's login."
        ),
        "choose": "Choose who to sign in as",
        "back": "You are then sent back to the hotline.",
        "issuer": "Issuer",
        "signed_out_title": "Signed out",
        "signed_out": "You are signed out at the development provider for {place}",
        "close": "Close the browser if you share this computer with others.",
    },
}
LANGUAGE_COOKIE = "hotline_lang"
"""The hotline's language cookie: the demo serves the provider on the hotline's own origin, so it can follow it."""


@functools.cache
def _reference_names() -> dict[str, str]:
    return {code: row["name"] for code, row in reference_kommuner().items()}


def page_language(ui_locales: str, cookie: str | None) -> str:
    """English when the request asks for it (OpenID Connect ``ui_locales`` first, then the hotline's cookie)."""
    for candidate in (*ui_locales.split(), cookie or ""):
        if candidate[:2] in ("da", "en"):
            return candidate[:2]
    return "da"


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
    session_id: str
    auth_time: int


@dataclass
class _Session:
    """The provider's own sign-in of one browser at one issuer."""

    session_id: str
    kommune: str
    persona: Persona
    started: dt.datetime


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
    offer_end_session: bool = True
    """Whether discovery announces ``end_session_endpoint`` (tests switch it off to play a provider without)."""
    post_logout_redirect_uris: Mapping[str, frozenset[str]] = field(default_factory=dict)
    """Client id -> the post-logout redirect URIs registered for it; anything else is refused."""
    _keys: dict[str, RSAKey] = field(default_factory=dict)
    _codes: dict[str, _Code] = field(default_factory=dict)
    _sessions: dict[str, _Session] = field(default_factory=dict)

    def issuer(self, kommune: str) -> str:
        return f"{self.base_url.rstrip('/')}/{kommune}"

    def key(self, kommune: str) -> RSAKey:
        if kommune not in self._keys:
            self._keys[kommune] = RSAKey.generate_key(
                2048, parameters={"kid": f"dev-{kommune}-{secrets.token_hex(4)}", "use": "sig", "alg": "RS256"}
            )
        return self._keys[kommune]

    def cookie_path(self, kommune: str) -> str:
        return urlsplit(self.issuer(kommune)).path or "/"

    def place(self, kommune: str) -> str:
        """The kommune's name, e.g. "Odder Kommune" (the configured names, else the reference list)."""
        return self.kommune_names.get(kommune) or _reference_names().get(kommune) or kommune

    def claims_for(
        self,
        kommune: str,
        persona: Persona,
        client_id: str,
        nonce: str | None,
        *,
        session_id: str = "",
        auth_time: int | None = None,
    ) -> dict[str, Any]:
        now = int(self.clock().timestamp())
        place = self.place(kommune)
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
        if session_id:
            claims["sid"] = session_id
        if auth_time is not None:
            claims["auth_time"] = auth_time
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
        } | ({"end_session_endpoint": f"{issuer}/end_session"} if self.offer_end_session else {})

    def jwks(self, kommune: str) -> dict[str, Any]:
        return {"keys": [self.key(kommune).as_dict(private=False)]}

    # -- the provider's own sessions ----------------------------------------------------------------------

    def session_of(self, kommune: str, session_id: str | None) -> _Session | None:
        """The browser's live session at this issuer, if its cookie names one."""
        session = self._sessions.get(session_id or "")
        if session is None or session.kommune != kommune:
            return None
        if self.clock() - session.started > SESSION_LIFETIME:
            self._sessions.pop(session.session_id, None)
            return None
        return session

    def start_session(self, kommune: str, persona_key: str) -> _Session:
        persona = next((p for p in PERSONAS if p.key == persona_key), None)
        if persona is None:
            raise ValueError("unknown persona")
        session = _Session(secrets.token_urlsafe(32), kommune, persona, self.clock())
        self._sessions[session.session_id] = session
        return session

    def silent_answer(self, kommune: str, params: dict[str, str], session: _Session | None) -> str | None:
        """The redirect for an authorization request the provider answers without showing the picker: at once
        for a browser signed in here, ``login_required`` for ``prompt=none`` without a session; else None."""
        prompt = params.get("prompt", "").split()
        hint = params.get("login_hint", "")
        if session is not None and "login" not in prompt and hint in ("", session.persona.key):
            return self.approve(kommune, params, session)
        if "none" in prompt:
            redirect_uri = params.get("redirect_uri", "")
            if not redirect_uri.startswith(("http://", "https://")):
                raise ValueError("bad redirect_uri")
            answer = {"error": "login_required", "state": params.get("state", "")}
            return f"{redirect_uri}{'&' if '?' in redirect_uri else '?'}{urlencode(answer)}"
        return None

    @staticmethod
    def check_request(params: dict[str, str]) -> str:
        """Refuse an unusable authorization request (ValueError); returns its redirect URI."""
        if params.get("code_challenge_method") != "S256" or not params.get("code_challenge"):
            raise ValueError("PKCE with S256 is required")
        redirect_uri = params.get("redirect_uri", "")
        if not redirect_uri.startswith(("http://", "https://")):
            raise ValueError("bad redirect_uri")
        return redirect_uri

    def approve(self, kommune: str, params: dict[str, str], session: _Session) -> str:
        """Issue a code for the session's persona; returns the redirect back to the client."""
        persona = session.persona
        redirect_uri = self.check_request(params)
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
            session_id=session.session_id,
            auth_time=int(session.started.timestamp()),
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
        claims = self.claims_for(
            kommune, grant.persona, client_id, grant.nonce, session_id=grant.session_id, auth_time=grant.auth_time
        )
        return 200, {
            "access_token": secrets.token_urlsafe(32),
            "token_type": "Bearer",
            "expires_in": int(TOKEN_LIFETIME.total_seconds()),
            "id_token": self.id_token(kommune, claims),
        }

    def end_session(self, kommune: str, params: Mapping[str, str], browser_session: str | None) -> str | None:
        """RP-Initiated Logout: check the request, end the provider's session, and return where to send the
        browser (the registered ``post_logout_redirect_uri`` with ``state``), or None to show a signed-out page.
        Raises :class:`EndSessionRefused` before anything is ended when the request is not acceptable."""
        hint = params.get("id_token_hint", "")
        if not hint:
            raise EndSessionRefused("id_token_hint is required")
        try:
            token = jwt.decode(hint, self.key(kommune), algorithms=["RS256"])
        except (JoseError, ValueError):
            raise EndSessionRefused("id_token_hint is not signed by this issuer") from None
        claims = token.claims
        # An expired hint is accepted on purpose (the spec asks for it): the hotline's session outlives the token.
        if claims.get("iss") != self.issuer(kommune):
            raise EndSessionRefused("id_token_hint was issued by another issuer")
        audience = claims.get("aud")
        client = audience if isinstance(audience, str) else claims.get("azp")
        if not isinstance(client, str) or client not in self.post_logout_redirect_uris:
            raise EndSessionRefused("id_token_hint was issued to an unknown client")
        if params.get("client_id", client) != client:
            raise EndSessionRefused("client_id does not match the id_token_hint's audience")
        target = params.get("post_logout_redirect_uri", "")
        if target and target not in self.post_logout_redirect_uris[client]:
            raise EndSessionRefused("post_logout_redirect_uri is not registered for this client")
        subject = claims.get("sub")
        ended = {str(claims.get("sid", ""))}
        browser = self.session_of(kommune, browser_session)
        if browser is not None and f"dev-{kommune}-{browser.persona.key}" == subject:
            ended.add(browser.session_id)
        for session_id in ended:
            self._sessions.pop(session_id, None)
        if not target:
            return None
        state = params.get("state", "")
        return f"{target}{'&' if '?' in target else '?'}{urlencode({'state': state})}" if state else target

    def _page(self, language: str, title: str, body: str) -> str:
        """The provider's own page: the hotline's stylesheet, but plainly marked as the development provider."""
        texts = _TEXTS[language]
        return (
            f'<!doctype html><html lang="{language}"><head><meta charset="utf-8">'
            '<meta name="viewport" content="width=device-width, initial-scale=1">'
            f"<title>{escape(title)}</title>"
            '<link rel="stylesheet" href="/static/hotline.css"><link rel="icon" href="data:,"></head>'
            '<body class="dev-idp">'
            f'<header class="dev-idp-banner"><p>{escape(texts["banner"])}</p></header>'
            f'<main id="main" class="dev-idp-main">{body}</main></body></html>'
        )

    def signed_out_page(self, kommune: str, language: str = "da") -> str:
        texts = _TEXTS[language]
        place = f"{self.place(kommune)} ({kommune})"
        heading = escape(texts["signed_out"].format(place=place))
        body = f'<h1>{heading}</h1><p class="lead">{escape(texts["close"])}</p>'
        return self._page(language, f"{texts['signed_out_title']} · {place}", body)

    def picker(self, kommune: str, params: dict[str, str], language: str = "da") -> str:
        texts = _TEXTS[language]
        place = f"{self.place(kommune)} ({kommune})"
        items = []
        for persona in PERSONAS:
            query = escape(urlencode({**params, "persona": persona.key}))
            about_id = f"about-{escape(persona.key)}"
            items.append(
                f'<li><a href="{escape(self.issuer(kommune))}/approve?{query}" aria-describedby="{about_id}">'
                f"{escape(persona.label(language))}</a>"
                f'<p id="{about_id}">{escape(persona.about(language))}</p></li>'
            )
        body = (
            f"<h1>{escape(texts['title'].format(place=place))}</h1>"
            f'<p class="notice dev-idp-note">{escape(texts["not_real"])}</p>'
            f'<h2 id="personas-heading">{escape(texts["choose"])}</h2>'
            f"<p>{escape(texts['back'])}</p>"
            f'<ul class="dev-idp-personas" aria-labelledby="personas-heading">{"".join(items)}</ul>'
            f'<p class="small muted">{escape(texts["issuer"])}: <span class="code">{escape(self.issuer(kommune))}'
            "</span></p>"
        )
        return self._page(language, texts["title"].format(place=place), body)

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

        def session_cookie(kommune: str, value: str) -> Cookie:
            return Cookie(
                key=SESSION_COOKIE,
                value=value,
                path=provider.cookie_path(kommune),
                httponly=True,
                samesite="lax",
                max_age=int(SESSION_LIFETIME.total_seconds()) if value else 0,
            )

        def refused(message: str) -> Response[Any]:
            return Response({"error": "invalid_request", "error_description": message}, status_code=400)

        @get("/{kommune:str}/authorize", opt=public(), include_in_schema=False)
        async def authorize(request: Request[Any, Any, Any], kommune: KommuneParameter) -> Response[Any]:
            check(kommune)
            params = dict(request.query_params)
            session = provider.session_of(kommune, request.cookies.get(SESSION_COOKIE))
            try:
                answer = provider.silent_answer(kommune, params, session)
            except ValueError as exc:
                return refused(str(exc))
            if answer is not None:
                return Redirect(path=answer)
            language = page_language(params.get("ui_locales", ""), request.cookies.get(LANGUAGE_COOKIE))
            return Response(provider.picker(kommune, params, language), media_type="text/html")

        @get("/{kommune:str}/approve", opt=public(), include_in_schema=False)
        async def approve(request: Request[Any, Any, Any], kommune: KommuneParameter) -> Response[Any]:
            check(kommune)
            params = dict(request.query_params)
            try:
                provider.check_request(params)  # before a session exists: a refused request starts none
                session = provider.start_session(kommune, params.get("persona", ""))
                answer = provider.approve(kommune, params, session)
            except ValueError as exc:
                return refused(str(exc))
            return Redirect(path=answer, cookies=[session_cookie(kommune, session.session_id)])

        @route(
            "/{kommune:str}/end_session",
            http_method=["GET", "POST"],
            opt=public(),
            include_in_schema=False,
        )
        async def end_session(request: Request[Any, Any, Any], kommune: KommuneParameter) -> Response[Any]:
            check(kommune)
            params = dict(request.query_params)
            if request.method == "POST":
                form = await request.form()
                params |= {key: value for key, value in form.items() if isinstance(value, str)}
            try:
                target = provider.end_session(kommune, params, request.cookies.get(SESSION_COOKIE))
            except EndSessionRefused as exc:
                return refused(str(exc))
            gone = [session_cookie(kommune, "")]
            if target is not None:
                return Redirect(path=target, status_code=303, cookies=gone)
            language = page_language(params.get("ui_locales", ""), request.cookies.get(LANGUAGE_COOKIE))
            return Response(provider.signed_out_page(kommune, language), media_type="text/html", cookies=gone)

        @post("/{kommune:str}/token", opt=public(), include_in_schema=False, status_code=200)
        async def token(
            request: Request[Any, Any, Any],
            kommune: KommuneParameter,
            data: Annotated[dict[str, str], Body(media_type=RequestEncodingType.URL_ENCODED)],
        ) -> Response[dict[str, Any]]:
            check(kommune)
            status, body = provider.token(kommune, data, request.headers.get("authorization", ""))
            return Response(body, status_code=status, headers={"Cache-Control": "no-store"})

        return Router(path=path, route_handlers=[discovery, jwks, authorize, approve, token, end_session])

    def standalone_app(self) -> Litestar:
        """The provider as an app of its own (tests serve it with uvicorn on a free port)."""
        return Litestar(route_handlers=[self.router()], openapi_config=None)

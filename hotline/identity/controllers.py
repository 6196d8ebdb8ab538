"""HTTP handlers of the identity area: sign-in and sign-out, the "me" page, each kommune's audit log and machine
credentials (pages for admins, JSON for the API). Each handler declares its access in ``opt`` (see guards.py)."""

from __future__ import annotations

import datetime as dt
import hmac
import secrets
from typing import Annotated, Any

from litestar import Controller, Request, Response, get, post
from litestar.datastructures import Cookie
from litestar.enums import RequestEncodingType
from litestar.exceptions import HTTPException, NotFoundException
from litestar.params import Body, PathParameter, QueryParameter
from litestar.response import Redirect, Template

from hotline.db.engine import INTEGER_MAX
from hotline.identity import audit, service
from hotline.identity.guards import client_ip, kommune_access, principal_of, public, signed_in
from hotline.identity.oidc import SignInError, safe_next
from hotline.identity.schemas import PERMISSIONS, AuditOut
from hotline.identity.service import SESSION_COOKIE, CredentialError, EndedSession, Principal
from hotline.identity.start_page import start_page
from hotline.tenancy import service as tenancy
from hotline.tenancy.schemas import IdentityConfig
from hotline.web.templating import page

CodeParameter = Annotated[str, PathParameter(description="4-digit kommune code, e.g. 0751", max_length=16)]
IdParameter = Annotated[int, PathParameter(ge=1, le=INTEGER_MAX)]
FormData = Annotated[dict[str, Any], Body(media_type=RequestEncodingType.URL_ENCODED)]
ADMIN_ROLES = ("kommune_admin", "coordinator")
AUDIT_READERS = ("kommune_admin", "auditor", "coordinator")
# People the demo's sign-in page offers directly (kommune, persona hint).
DEMO_SHORTCUTS = (("0727", "agent"), ("0751", "admin"), ("0615", "admin"), ("0751", "coordinator"))
SIGNED_OUT_PATH = "/auth/signed-out"
# The ``state`` sent to the provider's end-session endpoint, kept in the browser until it comes back, so that the
# signed-out page says "signed out at your kommune's login too" only when that provider really sent it back.
LOGOUT_STATE_COOKIE = "hotline_logout_state"
LOGOUT_STATE_LIFETIME = dt.timedelta(minutes=10)


def _services(request: Request[Any, Any, Any]) -> Any:
    return request.app.state.services


async def _principal(request: Request[Any, Any, Any]) -> Principal:
    principal = await principal_of(request)
    if principal is None:  # the guard has already refused anonymous callers
        raise HTTPException(status_code=401, detail="Sign in first")
    return principal


async def _identity_config(code: str) -> IdentityConfig | None:
    tenant = await tenancy.get_tenant(code) if code.isdigit() and len(code) == 4 else None
    return tenant.definition.identity if tenant is not None else None


async def _known_kommune(code: str) -> None:
    # A coordinator may act for any kommune, but only for one that exists.
    if not (code.isdigit() and len(code) == 4) or await tenancy.get_tenant(code) is None:
        raise NotFoundException(detail=f"No kommune with code {code!r}")


def _session_cookie(request: Request[Any, Any, Any], value: str, *, expire: bool = False) -> Cookie:
    settings = _services(request).settings
    return Cookie(
        key=SESSION_COOKIE,
        value=value,
        path="/",
        httponly=True,
        samesite="lax",  # the return from the provider is a cross-site top-level navigation
        secure=not settings.demo,
        max_age=0 if expire else settings.identity.session_absolute_hours * 3600,
    )


def _logout_state_cookie(request: Request[Any, Any, Any], value: str) -> Cookie:
    return Cookie(
        key=LOGOUT_STATE_COOKIE,
        value=value,
        path=SIGNED_OUT_PATH,
        httponly=True,
        samesite="lax",  # the provider sends the browser back with a cross-site top-level navigation
        secure=not _services(request).settings.demo,
        max_age=int(LOGOUT_STATE_LIFETIME.total_seconds()) if value else 0,
    )


async def _signed_out(
    request: Request[Any, Any, Any], principal: Principal, ended: EndedSession | None, action: str, **detail: Any
) -> Redirect:
    """After the local session has ended: send the browser on to the provider's end-session endpoint when the
    provider has one, else to the signed-out page. The local sign-out stands whatever the provider does."""
    services = _services(request)
    now = services.clock()
    cookies = [_session_cookie(request, "", expire=True)]
    target, at_provider = SIGNED_OUT_PATH, "not_offered"
    config = await _identity_config(ended.kommune_code) if ended is not None and ended.id_token else None
    if ended is not None and config is not None:
        state = secrets.token_urlsafe(32)
        try:
            url = await services.relying_party.end_session_url(
                ended.kommune_code,
                config,
                issuer=ended.issuer,
                id_token=ended.id_token,
                post_logout_redirect_uri=services.settings.post_logout_redirect_uri,
                state=state,
                now=now,
            )
        except SignInError:
            url, at_provider = None, "failed"
        if url is not None:
            target, at_provider = url, "redirected"
            cookies.append(_logout_state_cookie(request, state))
    await audit.record(
        action,
        actor=principal.actor,
        kommune_code=principal.home_kommune,
        now=now,
        ip=client_ip(request),
        detail={**detail, "provider_sign_out": at_provider},
    )
    return Redirect(path=target, status_code=303, cookies=cookies)


class AuthController(Controller):
    """Signing in at the kommune's provider, and signing out."""

    path = "/auth"
    include_in_schema = False

    @get("/login", name="login", opt=public())
    async def login_page(
        self, request: Request[Any, Any, Any], next_path: Annotated[str, QueryParameter(name="next")] = "/me"
    ) -> Template:
        tenants = [t for t in await tenancy.load_tenants() if t.definition.identity is not None]
        settings = _services(request).settings
        names = {t.code: t.name for t in tenants}
        shortcuts = [(code, hint, names[code]) for code, hint in DEMO_SHORTCUTS if code in names]
        return page(
            request,
            "identity/login.html",
            {"tenants": tenants, "next": next_path, "demo": settings.demo, "shortcuts": shortcuts},
        )

    @get("/login/{code:str}", name="login-start", opt=public())
    async def start(
        self,
        request: Request[Any, Any, Any],
        code: CodeParameter,
        next_path: Annotated[str, QueryParameter(name="next", max_length=500)] = "/me",
    ) -> Redirect:
        services = _services(request)
        config = await _identity_config(code)
        if config is None:
            raise NotFoundException(detail=f"Kommune {code!r} has no sign-in set up.")
        now = services.clock()
        await service.forget_stale_login_attempts(now, dt.timedelta(hours=1))
        try:
            url = await services.relying_party.start(
                code,
                config,
                redirect_uri=f"{services.settings.base_url}/auth/callback",
                next_path=safe_next(next_path),
                now=now,
            )
        except SignInError as exc:
            raise HTTPException(status_code=502, detail=exc.message) from None
        return Redirect(path=url)

    @get("/callback", name="login-callback", opt=public())
    async def callback(self, request: Request[Any, Any, Any]) -> Response[Any]:
        services = _services(request)
        now = services.clock()
        params = {key: value for key, value in request.query_params.items() if isinstance(value, str)}
        try:
            signed = await services.relying_party.finish(params, _identity_config, now)
        except SignInError as exc:
            await audit.record(
                audit.SIGN_IN_FAILED,
                actor=audit.ANONYMOUS,
                kommune_code=exc.kommune_code,
                now=now,
                ip=client_ip(request),
                target=exc.issuer[:200],
                outcome="refused",
                detail={"reason": exc.reason},
            )
            raise HTTPException(status_code=400, detail=f"Sign-in refused: {exc.message}") from None
        old = request.cookies.get(SESSION_COOKIE)
        if old:
            await service.end_session(old)  # a new id at every sign-in: no session fixation
        session_id = await service.sign_in(
            issuer=signed.issuer,
            subject=signed.subject,
            home_kommune=signed.kommune_code,
            display_name=signed.display_name,
            grants=signed.grants,
            now=now,
            ip=client_ip(request),
            id_token=signed.id_token,
        )
        await audit.record(
            audit.SIGN_IN,
            actor=audit.Actor(id=f"{signed.issuer}|{signed.subject}", name=signed.display_name),
            kommune_code=signed.kommune_code,
            now=now,
            ip=client_ip(request),
            detail={"roles": sorted({g.role for g in signed.grants})},
        )
        return Redirect(path=signed.next_path, cookies=[_session_cookie(request, session_id)])

    @post("/logout", name="logout", opt=signed_in(), status_code=303)
    async def logout(self, request: Request[Any, Any, Any]) -> Redirect:
        principal = await _principal(request)
        ended = await service.end_session(request.cookies.get(SESSION_COOKIE, ""))
        return await _signed_out(request, principal, ended, audit.SIGN_OUT)

    @post("/logout-everywhere", name="logout-everywhere", opt=signed_in(), status_code=303)
    async def logout_everywhere(self, request: Request[Any, Any, Any]) -> Redirect:
        principal = await _principal(request)
        # This browser's session first, while its ID token is still there for the provider's sign-out.
        ended = await service.end_session(request.cookies.get(SESSION_COOKIE, ""))
        others = await service.end_every_session(principal.user_id)
        return await _signed_out(
            request, principal, ended, audit.SIGN_OUT_EVERYWHERE, sessions=others + (ended is not None)
        )

    @get("/signed-out", name="signed-out", opt=public())
    async def signed_out_page(
        self,
        request: Request[Any, Any, Any],
        returned_state: Annotated[str, QueryParameter(name="state", max_length=200)] = "",
    ) -> Template:
        expected = request.cookies.get(LOGOUT_STATE_COOKIE, "")
        at_provider = bool(
            returned_state and expected and hmac.compare_digest(returned_state.encode(), expected.encode())
        )
        response = page(request, "identity/signed_out.html", {"at_provider": at_provider})
        response.cookies.append(_logout_state_cookie(request, ""))  # a state works once
        return response


class MeController(Controller):
    path = "/me"
    include_in_schema = False

    @get("/", name="me", opt=signed_in())
    async def me(self, request: Request[Any, Any, Any]) -> Template:
        """The start page after sign-in: where each of the person's roles goes next (see ``start_page.py``)."""
        principal = await _principal(request)
        services = _services(request)
        now = services.clock()
        context = {
            "principal": principal,
            "home": await tenancy.get_tenant(principal.home_kommune),
            "start": await start_page(principal, now),
            "demo": services.settings.demo,
            "now": now,
        }
        return page(request, "identity/me.html", context)


def _parse_date(text: str) -> dt.date | None:
    try:
        return dt.date.fromisoformat(text) if text else None
    except ValueError:
        raise HTTPException(status_code=400, detail=f"{text!r} is not a date (use YYYY-MM-DD)") from None


class AuditFilters:
    """The audit log's filters, from the query string."""

    def __init__(self, action: str, actor: str, since: str, until: str) -> None:
        self.action, self.actor, self.since_text, self.until_text = action, actor, since, until
        self.since, self.until = _parse_date(since), _parse_date(until)

    async def entries(self, code: str) -> list[AuditOut]:
        return await audit.entries(code, action=self.action, actor=self.actor, since=self.since, until=self.until)


Text100 = Annotated[str, QueryParameter(max_length=100)]
DateText = Annotated[str, QueryParameter(max_length=10)]


async def _record_audit_view(request: Request[Any, Any, Any], principal: Principal, code: str, what: str) -> None:
    await audit.record(
        audit.AUDIT_VIEWED,
        actor=principal.actor,
        kommune_code=code,
        now=_services(request).clock(),
        ip=client_ip(request),
        target=what,
    )


class KommuneAdminController(Controller):
    """A kommune's audit log and machine credentials, for its admins (and auditors for the log)."""

    path = "/admin/kommuner/{code:str}"
    include_in_schema = False

    @get("/audit", name="admin-audit", opt=kommune_access(*AUDIT_READERS))
    async def audit_page(
        self,
        request: Request[Any, Any, Any],
        code: CodeParameter,
        action: Text100 = "",
        actor: Text100 = "",
        since: DateText = "",
        until: DateText = "",
    ) -> Template:
        principal = await _principal(request)
        filters = AuditFilters(action, actor, since, until)
        rows = await filters.entries(code)
        await _record_audit_view(request, principal, code, "audit page")
        return page(request, "identity/audit.html", {"code": code, "rows": rows, "filters": filters})

    @get("/audit.csv", name="admin-audit-csv", opt=kommune_access(*AUDIT_READERS))
    async def audit_csv(
        self,
        request: Request[Any, Any, Any],
        code: CodeParameter,
        action: Text100 = "",
        actor: Text100 = "",
        since: DateText = "",
        until: DateText = "",
    ) -> Response[str]:
        principal = await _principal(request)
        rows = await AuditFilters(action, actor, since, until).entries(code)
        await _record_audit_view(request, principal, code, "audit csv export")
        return Response(
            audit.as_csv(rows),
            media_type="text/csv; charset=utf-8",
            headers={"Content-Disposition": f'attachment; filename="audit-{code}.csv"', "Cache-Control": "no-store"},
        )

    @get("/tokens", name="admin-tokens", opt=kommune_access(*ADMIN_ROLES))
    async def credentials_page(self, request: Request[Any, Any, Any], code: CodeParameter) -> Template:
        return await self._credentials(request, code)

    async def _credentials(
        self, request: Request[Any, Any, Any], code: str, *, shown: dict[str, str] | None = None, status: int = 200
    ) -> Template:
        context = {
            "code": code,
            "tokens": await service.api_tokens(code),
            "secrets": await service.webhook_secrets(code),
            "permissions": PERMISSIONS,
            "shown": shown,
        }
        return page(request, "identity/tokens.html", context, status_code=status)

    async def _changed(self, request: Request[Any, Any, Any], code: str, what: str, **detail: Any) -> None:
        principal = await _principal(request)
        await audit.record(
            audit.CONFIG_CHANGED,
            actor=principal.actor,
            kommune_code=code,
            now=_services(request).clock(),
            ip=client_ip(request),
            target=what,
            detail=detail,
        )

    @post("/tokens", name="admin-token-create", opt=kommune_access(*ADMIN_ROLES), status_code=201)
    async def create_token(self, request: Request[Any, Any, Any], code: CodeParameter, data: FormData) -> Template:
        await _known_kommune(code)
        principal = await _principal(request)
        wanted = data.get("permission", [])
        permissions = [wanted] if isinstance(wanted, str) else list(wanted)
        try:
            token_id, token = await service.create_api_token(
                code,
                str(data.get("name", "")),
                permissions,
                created_by=principal.actor.name,
                now=_services(request).clock(),
            )
        except CredentialError as exc:
            raise HTTPException(status_code=400, detail=str(exc)) from None
        await self._changed(request, code, f"api_token:{token_id}", change="created", permissions=permissions)
        return await self._credentials(request, code, shown={"kind": "token", "value": token}, status=201)

    @post("/tokens/{token_id:int}/revoke", name="admin-token-revoke", opt=kommune_access(*ADMIN_ROLES), status_code=303)
    async def revoke_token(
        self, request: Request[Any, Any, Any], code: CodeParameter, token_id: IdParameter
    ) -> Redirect:
        if not await service.revoke_api_token(code, token_id, _services(request).clock()):
            raise NotFoundException(detail="No such active token in this kommune")
        await self._changed(request, code, f"api_token:{token_id}", change="revoked")
        return Redirect(path=f"/admin/kommuner/{code}/tokens", status_code=303)

    @post("/webhook-secrets", name="admin-secret-create", opt=kommune_access(*ADMIN_ROLES), status_code=201)
    async def create_secret(self, request: Request[Any, Any, Any], code: CodeParameter, data: FormData) -> Template:
        await _known_kommune(code)
        principal = await _principal(request)
        services = _services(request)
        try:
            secret_id, secret = await service.create_webhook_secret(
                services.secret_box,
                code,
                str(data.get("name", "")),
                created_by=principal.actor.name,
                now=services.clock(),
            )
        except CredentialError as exc:
            raise HTTPException(status_code=400, detail=str(exc)) from None
        await self._changed(request, code, f"webhook_secret:{secret_id}", change="created")
        return await self._credentials(request, code, shown={"kind": "secret", "value": secret}, status=201)

    @post(
        "/webhook-secrets/{secret_id:int}/revoke",
        name="admin-secret-revoke",
        opt=kommune_access(*ADMIN_ROLES),
        status_code=303,
    )
    async def revoke_secret(
        self, request: Request[Any, Any, Any], code: CodeParameter, secret_id: IdParameter
    ) -> Redirect:
        if not await service.revoke_webhook_secret(code, secret_id, _services(request).clock()):
            raise NotFoundException(detail="No such active webhook secret in this kommune")
        await self._changed(request, code, f"webhook_secret:{secret_id}", change="revoked")
        return Redirect(path=f"/admin/kommuner/{code}/tokens", status_code=303)


class IdentityApiController(Controller):
    """The audit log for kommune systems (API token with ``audit:read``) and signed-in admins and auditors."""

    path = "/api/kommuner/{code:str}"
    tags = ("identity",)

    @get(
        "/audit",
        operation_id="listAuditEntries",
        summary="The kommune's audit log, newest first, filtered by action, actor and date range (YYYY-MM-DD)",
        opt=kommune_access(*AUDIT_READERS, permission="audit:read"),
    )
    async def audit_entries(
        self,
        request: Request[Any, Any, Any],
        code: CodeParameter,
        action: Text100 = "",
        actor: Text100 = "",
        since: DateText = "",
        until: DateText = "",
    ) -> list[AuditOut]:
        principal = await _principal(request)
        rows = await AuditFilters(action, actor, since, until).entries(code)
        await _record_audit_view(request, principal, code, "audit api")
        return rows

"""Authorization in one place: every route handler declares what it needs in ``opt={"access": ...}`` and the one
guard, :func:`access_guard`, installed on the whole app, enforces it.

A handler without a declaration is refused (and a test walks the route table so that none exists). Declarations:

- :data:`PUBLIC`: anyone (directory, health, static files, sign-in pages).
- :func:`signed_in`: any signed-in person.
- :func:`kommune_access`: one of ``roles`` held for the kommune named by a path parameter (or federation-wide), or
  an API token of that kommune with ``permission``.
- :func:`federation_access`: one of ``roles`` held federation-wide.

Every refusal of a known person or token is written to the audit log with the kommune it concerned.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Any

from litestar.connection import ASGIConnection
from litestar.exceptions import NotAuthorizedException, PermissionDeniedException
from litestar.handlers.base import BaseRouteHandler

from hotline.identity import audit, service
from hotline.identity.schemas import EVERY_KOMMUNE, ROLES
from hotline.identity.service import SESSION_COOKIE, Principal

ACCESS_KEY = "access"


@dataclass(frozen=True)
class Access:
    """What a handler needs. See the module docstring."""

    public: bool = False
    roles: tuple[str, ...] = ()
    kommune_param: str = ""
    permission: str = ""
    federation_only: bool = False

    def describe(self) -> str:
        if self.public:
            return "public"
        scope = f"kommune {{{self.kommune_param}}}" if self.kommune_param else "federation"
        token = f", or API token with {self.permission}" if self.permission else ""
        return f"{' / '.join(self.roles)} for {scope}{token}"


PUBLIC = Access(public=True)


def public() -> dict[str, Any]:
    return {ACCESS_KEY: PUBLIC}


def signed_in() -> dict[str, Any]:
    return {ACCESS_KEY: Access(roles=ROLES)}


def kommune_access(*roles: str, param: str = "code", permission: str = "") -> dict[str, Any]:
    return {ACCESS_KEY: Access(roles=roles, kommune_param=param, permission=permission)}


def federation_access(*roles: str) -> dict[str, Any]:
    return {ACCESS_KEY: Access(roles=roles, federation_only=True)}


@dataclass(frozen=True)
class Limits:
    idle: dt.timedelta
    absolute: dt.timedelta


def client_ip(connection: ASGIConnection[Any, Any, Any, Any]) -> str:
    # Behind the reverse proxy uvicorn's --proxy-headers sets the client from X-Forwarded-For (trusted hops only).
    return connection.client.host if connection.client else ""


async def principal_of(connection: ASGIConnection[Any, Any, Any, Any]) -> Principal | None:
    """The person or system behind the request (resolved once per request and kept in its state)."""
    state = connection.state
    if "principal_resolved" in state:
        principal: Principal | None = state.principal
        return principal
    services = connection.app.state.services
    now = services.clock()
    principal = None
    authorization = connection.headers.get("authorization", "")
    if authorization.lower().startswith("bearer "):
        principal = await service.token_principal(authorization[7:].strip(), now)
    else:
        session_id = connection.cookies.get(SESSION_COOKIE)
        if session_id:
            limits = services.session_limits
            principal = await service.session_principal(session_id, now, idle=limits.idle, absolute=limits.absolute)
    state.principal = principal
    state.principal_resolved = True
    return principal


def allows(access: Access, principal: Principal, kommune: str) -> bool:
    if access.public:
        return True
    if access.kommune_param:
        if principal.kind == "token":
            return bool(access.permission) and principal.has_permission(access.permission, kommune)
        return principal.has_role(access.roles, kommune) is not None
    if principal.kind == "token":
        return False
    if access.federation_only:
        return any(grant.kommune == EVERY_KOMMUNE and grant.role in access.roles for grant in principal.grants)
    return principal.has_role(access.roles) is not None


def declared_access(declaration: Any, path_params: set[str] | dict[str, Any]) -> Access | None:
    """A handler's declaration as an :class:`Access`. Besides :class:`Access` itself, a plain string is accepted
    (the knowledge bank's handlers write them): ``"public"``, or a role name, held for the kommune of the ``code``
    path parameter when the path has one, else federation-wide."""
    if isinstance(declaration, Access):
        return declaration
    if declaration == "public":
        return PUBLIC
    if isinstance(declaration, str) and declaration in ROLES:
        if "code" in path_params:
            return Access(roles=(declaration,), kommune_param="code")
        return Access(roles=(declaration,), federation_only=True)
    return None


async def access_guard(connection: ASGIConnection[Any, Any, Any, Any], handler: BaseRouteHandler) -> None:
    """The one guard: read the handler's declaration, identify the caller, allow or refuse (and audit)."""
    declaration = handler.opt.get(ACCESS_KEY)
    if declaration is None and connection.scope.get("method") == "OPTIONS":
        return  # Litestar's automatic OPTIONS answer lists the methods and touches no data.
    access = declared_access(declaration, connection.path_params)
    if access is None:
        raise PermissionDeniedException(detail="This endpoint declares no access rule, so it is closed.")
    if access.public:
        return
    principal = await principal_of(connection)
    if principal is None:
        raise NotAuthorizedException(detail="Sign in first: this page needs a signed-in user or an API token.")
    kommune = str(connection.path_params.get(access.kommune_param, "")) if access.kommune_param else ""
    if allows(access, principal, kommune):
        return
    services = connection.app.state.services
    await audit.record(
        audit.PERMISSION_DENIED,
        actor=principal.actor,
        kommune_code=kommune or principal.home_kommune,
        now=services.clock(),
        ip=client_ip(connection),
        target=f"{connection.scope.get('method', '')} {connection.url.path}"[:200],
        outcome="denied",
        detail={"needs": access.describe(), "holds": principal.role_names or [principal.actor.role]},
    )
    raise PermissionDeniedException(detail="You do not have access to this: it belongs to another role or kommune.")

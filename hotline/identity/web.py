"""How the identity area plugs into the app: CSRF protection, rate limits and loading the signed-in person for
every page. ``hotline/server/app.py`` assembles these.

- CSRF: Litestar's CSRF middleware (double-submit cookie signed with HOTLINE_SECRET_KEY) on every unsafe request,
  except requests that carry ``Authorization: Bearer``: those are authenticated by the token alone (the guard then
  ignores any session cookie), and a browser never attaches such a header to a cross-site request by itself. The
  development provider's token endpoint (demo only) is a server-to-server call and is excluded too.
- Rate limits: Litestar's limiter per client address, one budget for sign-in (``/auth/``) and one for ``/api/``
  (except the HMAC-signed telephony webhook, see :data:`TELEPHONY_WEBHOOK_PATH`).
  Its store is this process's memory: with N replicas a client gets up to N times the budget (see SECURITY.md).
"""

from __future__ import annotations

from typing import Any

from litestar import Request
from litestar.config.csrf import CSRFConfig
from litestar.enums import ScopeType
from litestar.middleware import DefineMiddleware
from litestar.middleware.csrf import CSRFMiddleware
from litestar.middleware.rate_limit import RateLimitConfig
from litestar.types import Empty, Receive, Scope, Send
from litestar.utils.scope.state import ScopeState

from hotline.config import Settings
from hotline.identity.guards import principal_of

DEV_IDP_PATH = "/dev-idp"
CSRF_COOKIE = "hotline_csrf"


class BearerAwareCSRFMiddleware(CSRFMiddleware):
    """CSRF checks for cookie-authenticated requests; token-authenticated API calls pass (see module docstring)."""

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == ScopeType.HTTP:
            for name, value in scope.get("headers", ()):
                if name == b"authorization" and value[:7].lower() == b"bearer ":
                    await self.app(scope, receive, send)
                    return
        await super().__call__(scope, receive, send)


def csrf_middleware(settings: Settings) -> DefineMiddleware:
    config = CSRFConfig(
        secret=settings.server.secret_key,
        cookie_name=CSRF_COOKIE,
        cookie_secure=not settings.demo,
        cookie_httponly=True,
        cookie_samesite="lax",
        exclude=[f"^{DEV_IDP_PATH}/"] if settings.demo else None,
    )
    return DefineMiddleware(BearerAwareCSRFMiddleware, config=config)


async def _is_sign_in(request: Request[Any, Any, Any]) -> bool:  # async: Litestar runs a sync one in a thread
    return request.url.path.startswith("/auth/")


# The telephony webhook is posted by a platform from one address at the rate calls come in; it is authenticated
# by its HMAC signature (every refused signature is audited), so a per-address budget would only throttle the
# kommune's own calls. It is not counted against the API budget.
TELEPHONY_WEBHOOK_PATH = "/api/telephony/events"


async def _is_api(request: Request[Any, Any, Any]) -> bool:
    path = request.url.path
    return path.startswith("/api/") and path != TELEPHONY_WEBHOOK_PATH


def rate_limits(settings: Settings) -> list[DefineMiddleware]:
    identity = settings.identity
    return [
        RateLimitConfig(
            rate_limit=("minute", identity.login_rate_limit),
            check_throttle_handler=_is_sign_in,
            store="rate_limit_sign_in",
        ).middleware,
        RateLimitConfig(
            rate_limit=("minute", identity.api_rate_limit), check_throttle_handler=_is_api, store="rate_limit_api"
        ).middleware,
    ]


async def load_principal(request: Request[Any, Any, Any]) -> None:
    """Make the signed-in person available to every page (the header shows the name and "Log ud")."""
    await principal_of(request)


async def load_principal_for_error_page(request: Request[Any, Any, Any], *, look_up: bool) -> None:
    """Before an error page whose request no handler took (an unknown address: no ``before_request`` and no CSRF
    middleware ran): the signed-in person when ``look_up`` allows a database read, and the browser's own CSRF
    token for the header's sign-out form, as the CSRF middleware gives every safe request."""
    if look_up:
        await principal_of(request)
    state = ScopeState.from_scope(request.scope)
    cookie = request.cookies.get(CSRF_COOKIE)
    if state.csrf_token is Empty and cookie:
        state.csrf_token = cookie

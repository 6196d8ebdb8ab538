"""Server-side sessions: idle and absolute limits, sign-out and sign-out everywhere, cookie flags, CSRF on every
form and state-changing request, and the rate limit on sign-in."""

from __future__ import annotations

import datetime as dt

import httpx
import msgspec
import pytest
from litestar import Litestar

from hotline.config import Settings
from hotline.identity import audit
from hotline.identity.tables import AuditEntry, UserSession
from hotline.lib.embedded_nats import EmbeddedNatsServer
from hotline.server.app import create_app
from tests.fixtures.app import FixedClock, running
from tests.fixtures.databases import Database
from tests.fixtures.identity import ForgingProvider, sign_in


async def _csrf(client: httpx.AsyncClient) -> str:
    return (await client.get("/tenants")).cookies.get("hotline_csrf") or client.cookies["hotline_csrf"]


async def test_a_session_ends_after_45_idle_minutes(
    oidc_client: httpx.AsyncClient, idp: ForgingProvider, clock: FixedClock
) -> None:
    await sign_in(oidc_client, "0727")
    clock.now += dt.timedelta(minutes=44)
    assert (await oidc_client.get("/me")).status_code == 200
    clock.now += dt.timedelta(minutes=44)  # 44 minutes since the last request: still within the idle limit
    assert (await oidc_client.get("/me")).status_code == 200
    clock.now += dt.timedelta(minutes=46)
    assert (await oidc_client.get("/me")).status_code == 401


async def test_a_session_ends_12_hours_after_sign_in_however_busy(
    oidc_client: httpx.AsyncClient, idp: ForgingProvider, clock: FixedClock
) -> None:
    await sign_in(oidc_client, "0727")
    for _ in range(16):  # a request every 40 minutes: never idle
        clock.now += dt.timedelta(minutes=40)
        assert (await oidc_client.get("/me")).status_code == 200
    clock.now += dt.timedelta(hours=1, minutes=21)
    assert (await oidc_client.get("/me")).status_code == 401


async def test_sign_out_ends_the_session_and_is_audited(oidc_client: httpx.AsyncClient, idp: ForgingProvider) -> None:
    await sign_in(oidc_client, "0727")
    cookie = oidc_client.cookies["hotline_session"]
    csrf = await _csrf(oidc_client)
    out = await oidc_client.post("/auth/logout", data={"_csrf_token": csrf})
    assert out.status_code == 303
    assert (await oidc_client.get("/me")).status_code == 401
    oidc_client.cookies.set("hotline_session", cookie)  # the old id is dead, not only forgotten by the browser
    assert (await oidc_client.get("/me")).status_code == 401
    assert await AuditEntry.count().where(AuditEntry.action == audit.SIGN_OUT).run() == 1


async def test_sign_out_everywhere_ends_every_session_of_the_person(
    oidc_client: httpx.AsyncClient, idp: ForgingProvider
) -> None:
    await sign_in(oidc_client, "0751", "admin")
    laptop = oidc_client.cookies["hotline_session"]
    oidc_client.cookies.clear()
    await sign_in(oidc_client, "0751", "admin")
    csrf = await _csrf(oidc_client)
    assert (await oidc_client.post("/auth/logout-everywhere", data={"_csrf_token": csrf})).status_code == 303
    oidc_client.cookies.set("hotline_session", laptop)
    assert (await oidc_client.get("/me")).status_code == 401
    assert await UserSession.count().where(UserSession.revoked == False).run() == 0  # noqa: E712


async def test_a_form_post_without_the_csrf_token_is_refused_and_changes_nothing(
    oidc_client: httpx.AsyncClient, idp: ForgingProvider
) -> None:
    await sign_in(oidc_client, "0751", "admin")
    await _csrf(oidc_client)
    forged = await oidc_client.post("/admin/kommuner/0751/tokens", data={"name": "evil", "permission": "audit:read"})
    assert forged.status_code == 403
    assert (await oidc_client.post("/auth/logout")).status_code == 403
    assert (await oidc_client.get("/me")).status_code == 200


async def test_outside_demo_the_session_cookie_is_secure(
    settings: Settings, kommuner: Database, nats_server: EmbeddedNatsServer, clock: FixedClock
) -> None:
    from hotline.identity.controllers import _session_cookie

    production = msgspec.structs.replace(settings, demo=False)
    app = create_app(production, engine=kommuner.engine, nats_servers=[nats_server.url], clock=clock)

    class FakeRequest:
        def __init__(self, app: Litestar) -> None:
            self.app = app

    cookie = _session_cookie(FakeRequest(app), "value")  # type: ignore[arg-type]
    assert (cookie.secure, cookie.httponly, cookie.samesite) == (True, True, "lax")


@pytest.fixture
def tight_app(settings: Settings, kommuner: Database, nats_server: EmbeddedNatsServer, clock: FixedClock) -> Litestar:
    identity = msgspec.structs.replace(settings.identity, login_rate_limit=5, api_rate_limit=8)
    tight = msgspec.structs.replace(settings, identity=identity)
    return create_app(tight, engine=kommuner.engine, nats_servers=[nats_server.url], clock=clock)


async def test_sign_in_and_the_api_are_rate_limited_per_client(tight_app: Litestar) -> None:
    async with running(tight_app):
        assert await tight_app.state.services.nats.wait_connected(5)
        transport = httpx.ASGITransport(app=tight_app)
        async with httpx.AsyncClient(transport=transport, base_url="http://testserver.local") as client:
            logins = [(await client.get("/auth/login")).status_code for _ in range(6)]
            assert logins == [200] * 5 + [429]
            api = [(await client.get("/api/tenants")).status_code for _ in range(9)]
            assert api == [200] * 8 + [429]
            assert (await client.get("/tenants")).status_code == 200  # pages are not limited

"""Every route handler declares its access, and tenant isolation holds for every one of them: a matrix over the
app's own route table × role × own/other kommune, so a new endpoint is covered the day it is added.

The acting people belong to Horsens (0615); "other" is Aarhus (0751). Expected outcomes come from rules, not from
the handlers' declarations: anonymous → 401; a role held only for Horsens (kommune_admin, auditor) or a Horsens
API token → 403 on anything of Aarhus, always, audited; otherwise allowed exactly when the declaration names the
role (or the token's permission).
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import httpx
import msgspec
import pytest
from litestar import Litestar
from litestar.handlers.http_handlers import HTTPRouteHandler
from litestar.routes import HTTPRoute

from hotline.config import Settings
from hotline.identity import audit, service
from hotline.identity.guards import ACCESS_KEY, Access, declared_access
from hotline.identity.schemas import EVERY_KOMMUNE, PERMISSIONS, Grant
from hotline.identity.tables import AuditEntry
from hotline.lib.embedded_nats import EmbeddedNatsServer
from hotline.server.app import create_app
from tests.fixtures.app import FixedClock, running
from tests.fixtures.databases import Database
from tests.fixtures.identity import session_cookie_for

OWN, OTHER = "0615", "0751"
ACTORS = ("anonymous", "agent", "kommune_admin", "auditor", "coordinator", "api_token")
# Roles a kommune's provider grants for that kommune only; everything of another kommune is closed to them.
KOMMUNE_SCOPED = {"kommune_admin", "auditor", "api_token"}
PUBLIC_PREFIXES = (
    "/tenants",
    "/api/tenants",
    "/health/",
    "/static",
    "/schema",
    "/auth/login",
    "/auth/callback",
    "/auth/signed-out",  # where a provider sends the browser after signing out: it shows a message only
)
# Public at the HTTP level, authenticated by its HMAC signature instead (tests/calls/test_telephony.py).
SIGNED_WEBHOOKS = ("/api/telephony/events",)


@dataclass(frozen=True)
class Endpoint:
    method: str
    path: str
    access: Access | None
    kommune_param: bool


def endpoints(app: Litestar) -> Iterator[Endpoint]:
    for route in app.routes:
        if not isinstance(route, HTTPRoute):
            continue
        for handler in route.route_handlers:
            if not isinstance(handler, HTTPRouteHandler) or handler.http_methods == {"OPTIONS"}:
                continue
            access = declared_access(handler.opt.get(ACCESS_KEY), set(route.path_parameters))
            for method in sorted(handler.http_methods - {"HEAD"}) or ["HEAD"]:
                yield Endpoint(method, route.path, access, "code" in route.path_parameters)


@pytest.fixture
def matrix_app(settings: Settings, db: Database, nats_server: EmbeddedNatsServer, clock: FixedClock) -> Litestar:
    # Generous limits: the matrix sends hundreds of requests from one address on purpose.
    identity = msgspec.structs.replace(settings.identity, login_rate_limit=10_000, api_rate_limit=10_000)
    roomy = msgspec.structs.replace(settings, identity=identity)
    return create_app(roomy, engine=db.engine, nats_servers=[nats_server.url], clock=clock)


def test_every_route_handler_declares_its_access(matrix_app: Litestar) -> None:
    found = list(endpoints(matrix_app))
    assert len(found) > 20
    missing = [f"{e.method} {e.path}" for e in found if e.access is None]
    assert missing == [], "declare opt={'access': ...} on these handlers (see hotline/identity/guards.py)"


def test_public_endpoints_are_exactly_the_intended_ones(matrix_app: Litestar) -> None:
    public = sorted({e.path for e in endpoints(matrix_app) if e.access is not None and e.access.public})
    unexpected = [
        path
        for path in public
        if not (
            path == "/"
            or path.startswith(PUBLIC_PREFIXES)
            or path.startswith(("/kb", "/api/kb/", "/dev-idp/"))
            or path in SIGNED_WEBHOOKS
            # The citizen's survey (the random one-use token is the key) and a kommune's published best times.
            or path in {"/survey/{token:str}", "/k/{code:str}/best-times"}
        )
    ]
    assert unexpected == []
    assert not any(path.startswith("/admin") for path in public)


def _path(template: str, kommune: str) -> str:
    def value(match: re.Match[str]) -> str:
        name, kind = match.group(1), match.group(2)
        if name == "code":
            return kommune
        return "999999" if kind == "int" else "x"

    return re.sub(r"\{(\w+):(\w+)\}", value, template)


def _expected_allowed(actor: str, access: Access, *, own: bool) -> bool:
    if actor == "api_token":
        return bool(access.kommune_param) and bool(access.permission) and own
    if actor in KOMMUNE_SCOPED and access.kommune_param and not own:
        return False
    if access.federation_only:
        return actor in access.roles and actor not in KOMMUNE_SCOPED
    if access.kommune_param:
        return actor in access.roles
    return actor in access.roles


async def _credentials(actor: str, now: Any) -> dict[str, str]:
    grants = {
        "agent": [Grant("agent", EVERY_KOMMUNE)],
        "kommune_admin": [Grant("kommune_admin", OWN)],
        "auditor": [Grant("auditor", OWN)],
        "coordinator": [Grant("coordinator", EVERY_KOMMUNE)],
    }
    if actor == "anonymous":
        return {}
    if actor == "api_token":
        _, token = await service.create_api_token(OWN, "matrix", PERMISSIONS, created_by="test", now=now)
        return {"authorization": f"Bearer {token}"}
    return {"cookie": f"hotline_session={await session_cookie_for(grants[actor], OWN, now=now, name=actor)}"}


async def test_isolation_matrix_over_every_endpoint_role_and_kommune(
    matrix_app: Litestar, kommuner: Database, clock: FixedClock
) -> None:
    table = [e for e in endpoints(matrix_app) if e.access is not None and not e.access.public]
    assert any(e.path.startswith("/admin/kommuner/") for e in table)
    assert any(e.path.startswith("/api/kommuner/") for e in table)
    problems: list[str] = []
    checked = 0
    async with running(matrix_app):
        assert await matrix_app.state.services.nats.wait_connected(5)
        transport = httpx.ASGITransport(app=matrix_app)
        async with httpx.AsyncClient(transport=transport, base_url="http://testserver.local") as client:
            csrf = (await client.get("/tenants")).cookies["hotline_csrf"]
            for endpoint in table:
                assert endpoint.access is not None
                for actor in ACTORS:
                    for own in (True, False) if endpoint.kommune_param else (True,):
                        kommune = OWN if own else OTHER
                        path = _path(endpoint.path, kommune)
                        headers = {"x-csrftoken": csrf, "cookie": f"hotline_csrf={csrf}", "accept": "application/json"}
                        credentials = await _credentials(actor, clock.now)
                        if "cookie" in credentials:
                            headers["cookie"] += "; " + credentials.pop("cookie")
                        headers.update(credentials)
                        client.cookies.clear()
                        before = await AuditEntry.count().where(AuditEntry.action == audit.PERMISSION_DENIED).run()
                        response = await client.request(endpoint.method, path, headers=headers, data={"name": "x"})
                        checked += 1
                        where = f"{endpoint.method} {path} as {actor} ({'own' if own else 'other'})"
                        if actor == "anonymous":
                            if response.status_code != 401:
                                problems.append(f"{where}: {response.status_code}, expected 401")
                            continue
                        allowed = _expected_allowed(actor, endpoint.access, own=own)
                        if actor in KOMMUNE_SCOPED and endpoint.kommune_param and not own:
                            assert not allowed
                        if allowed and response.status_code in (401, 403):
                            problems.append(f"{where}: {response.status_code}, expected access")
                        if not allowed:
                            after = (
                                await AuditEntry.select()
                                .where(AuditEntry.action == audit.PERMISSION_DENIED)
                                .order_by(AuditEntry.id, ascending=False)
                                .run()
                            )
                            if response.status_code != 403:
                                problems.append(f"{where}: {response.status_code}, expected 403")
                            elif len(after) != before + 1 or after[0]["kommune_code"] != (
                                kommune if endpoint.kommune_param else OWN
                            ):
                                problems.append(f"{where}: refused but not audited with the right kommune")
    assert problems == []
    # Every non-public endpoint × six actors, twice (own/other) where the endpoint names a kommune.
    assert checked == sum(len(ACTORS) * (2 if e.kommune_param else 1) for e in table)
    assert checked >= 150

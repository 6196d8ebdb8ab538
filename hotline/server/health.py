"""Liveness and readiness. Ready means every dependency answers: a load balancer takes a replica out of rotation
while its database, NATS (and later SMTP and the knowledge replica) are down."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable
from typing import Any

import msgspec
from litestar import Controller, Request, Response, get
from litestar.openapi.datastructures import ResponseSpec
from litestar.status_codes import HTTP_200_OK, HTTP_503_SERVICE_UNAVAILABLE

from hotline.identity.guards import public
from hotline.server.nats import NatsConnection


class DependencyStatus(msgspec.Struct, frozen=True):
    ok: bool
    detail: str
    latency_ms: float


class Readiness(msgspec.Struct, frozen=True):
    status: str
    checks: dict[str, DependencyStatus]


class Liveness(msgspec.Struct, frozen=True):
    status: str


ReadinessCheck = Callable[[], Awaitable[tuple[bool, str]]]
_CHECK_TIMEOUT = 2.0


async def database_check() -> tuple[bool, str]:
    from hotline.tenancy.tables import Kommune

    await Kommune.raw("SELECT 1").run()
    return True, Kommune._meta.db.engine_type


def nats_check(connection: NatsConnection) -> ReadinessCheck:
    async def check() -> tuple[bool, str]:
        client = connection.client
        if client is None or not client.is_connected:
            return False, "not connected"
        await client.flush(timeout=1)
        url = client.connected_url
        return True, f"{url.hostname}:{url.port}" if url else "connected"

    return check


async def _run(check: ReadinessCheck) -> DependencyStatus:
    started = time.perf_counter()
    try:
        ok, detail = await asyncio.wait_for(check(), _CHECK_TIMEOUT)
    except TimeoutError:
        ok, detail = False, f"no answer within {_CHECK_TIMEOUT} s"
    except Exception as exc:  # a failing dependency is a status to report, not an error of this endpoint
        ok, detail = False, type(exc).__name__
    return DependencyStatus(ok=ok, detail=detail, latency_ms=round((time.perf_counter() - started) * 1000, 2))


class HealthController(Controller):
    path = "/health"
    tags = ("health",)

    @get("/live", operation_id="healthLive", summary="The process is alive", cache=False, opt=public())
    async def live(self) -> Liveness:
        return Liveness(status="ok")

    @get(
        "/ready",
        operation_id="healthReady",
        summary="Every dependency answers (503 while any is down)",
        cache=False,
        opt=public(),
        responses={503: ResponseSpec(data_container=Readiness, description="A dependency is down")},
    )
    async def ready(self, request: Request[Any, Any, Any]) -> Response[Readiness]:
        checks: dict[str, ReadinessCheck] = request.app.state.services.readiness
        results = await asyncio.gather(*(_run(check) for check in checks.values()))
        statuses = dict(zip(checks, results, strict=True))
        ok = bool(statuses) and all(status.ok for status in statuses.values())
        return Response(
            Readiness(status="ready" if ok else "unavailable", checks=statuses),
            status_code=HTTP_200_OK if ok else HTTP_503_SERVICE_UNAVAILABLE,
        )

"""The app factory: reading this file tells what the service is made of.

Controllers of every area, the templates, static files, exception handlers, and the lifespan that opens the
database, connects to NATS (and, as later areas arrive, starts the knowledge replica and the outbox worker).
"""

from __future__ import annotations

import asyncio
import datetime as dt
import logging
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from litestar import Litestar, Request, Response
from litestar.config.compression import CompressionConfig
from litestar.datastructures import State
from litestar.exceptions import HTTPException, NotFoundException, ValidationException
from litestar.openapi.config import OpenAPIConfig
from litestar.plugins.jinja import JinjaTemplateEngine
from litestar.response import Template
from litestar.static_files import create_static_files_router
from litestar.status_codes import HTTP_500_INTERNAL_SERVER_ERROR
from litestar.template.config import TemplateConfig
from piccolo.engine.base import Engine

from hotline import __version__
from hotline.config import Settings
from hotline.db.engine import close_database, open_database
from hotline.server.health import HealthController, ReadinessCheck, database_check, nats_check
from hotline.server.nats import NatsConnection
from hotline.tenancy.controllers import TenantApiController, TenantPagesController, root_redirect
from hotline.tenancy.opening_hours import warm_up
from hotline.web import templating

log = logging.getLogger(__name__)
WEB = Path(__file__).resolve().parent.parent / "web"

Clock = Callable[[], dt.datetime]


def utc_now() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


@dataclass
class Services:
    """What the handlers share within one process; kept in ``app.state.services``."""

    settings: Settings
    clock: Clock = utc_now
    engine: Engine | None = None  # type: ignore[type-arg]
    nats: NatsConnection | None = None
    readiness: dict[str, ReadinessCheck] = field(default_factory=dict)


def services_of(state: State) -> Services:
    services: Services = state.services
    return services


def _lifespan(services: Services, *, own_database: bool, nats_servers: list[str]) -> Callable[[Litestar], Any]:
    @asynccontextmanager
    async def lifespan(_: Litestar) -> AsyncIterator[None]:
        if own_database:
            services.engine = await open_database(services.settings.database_url, services.settings.database.pool_size)
        this_year = services.clock().year
        await asyncio.to_thread(warm_up, ("DK",), (this_year, this_year + 1))
        services.readiness["database"] = database_check
        connection = NatsConnection(services.settings.nats, nats_servers)
        services.nats = connection
        services.readiness["nats"] = nats_check(connection)
        await connection.start()
        try:
            yield
        finally:
            await connection.close()
            if own_database and services.engine is not None:
                await close_database(services.engine)

    return lifespan


def _wants_html(request: Request[Any, Any, Any]) -> bool:
    return not request.url.path.startswith(("/api", "/health", "/schema")) and "text/html" in request.headers.get(
        "accept", ""
    )


def _http_error(request: Request[Any, Any, Any], exc: HTTPException) -> Response[Any]:
    """A clear message for every 4xx: JSON for the API, a page for people."""
    if _wants_html(request):
        return Template(
            template_name="error.html",
            context={"status": exc.status_code, "detail": exc.detail},
            status_code=exc.status_code,
        )
    body: dict[str, Any] = {"status_code": exc.status_code, "detail": exc.detail}
    if isinstance(exc, ValidationException) and exc.extra:
        body["extra"] = exc.extra
    return Response(body, status_code=exc.status_code, headers=getattr(exc, "headers", None))


def _server_error(request: Request[Any, Any, Any], exc: Exception) -> Response[Any]:
    # The message may carry personal data from a query or a payload: log the type and the path only.
    log.error("unhandled %s on %s %s", type(exc).__name__, request.method, request.url.path, exc_info=exc)
    detail = "Internal error: the request was not completed. It has been logged."
    if _wants_html(request):
        return Template(template_name="error.html", context={"status": 500, "detail": detail}, status_code=500)
    return Response({"status_code": 500, "detail": detail}, status_code=HTTP_500_INTERNAL_SERVER_ERROR)


def create_app(
    settings: Settings,
    *,
    engine: Engine | None = None,  # type: ignore[type-arg]
    nats_servers: list[str] | None = None,
    clock: Clock = utc_now,
) -> Litestar:
    """Assemble the service. ``engine`` is an already bound database (tests, the demo); otherwise the app opens
    ``settings.database_url`` itself. ``nats_servers`` overrides ``settings.nats.servers`` (the demo's embedded
    server)."""
    services = Services(settings=settings, clock=clock, engine=engine)
    return Litestar(
        route_handlers=[
            root_redirect,
            HealthController,
            TenantApiController,
            TenantPagesController,
            create_static_files_router(path="/static", directories=[WEB / "static"], name="static"),
        ],
        state=State({"services": services}),
        lifespan=[
            _lifespan(services, own_database=engine is None, nats_servers=nats_servers or list(settings.nats.servers))
        ],
        template_config=TemplateConfig(
            directory=WEB / "templates",
            engine=JinjaTemplateEngine,
            engine_callback=templating.configure,
        ),
        before_request=templating.choose_language,
        exception_handlers={HTTPException: _http_error, NotFoundException: _http_error, Exception: _server_error},
        compression_config=CompressionConfig(backend="gzip", exclude=["/health"]),
        openapi_config=OpenAPIConfig(
            title="Digital Hotline",
            version=__version__,
            description="API of the shared evening and weekend hotline of the kommuner.",
        ),
        debug=False,
    )

"""The app factory: reading this file tells what the service is made of.

Controllers of every area, the templates, static files, exception handlers, and the lifespan that opens the
database, connects to NATS (and, as later areas arrive, starts the knowledge replica and the outbox worker).
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import gc
import logging
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from http import HTTPStatus
from pathlib import Path
from typing import Any

from litestar import Litestar, Request, Response, Router
from litestar.config.compression import CompressionConfig
from litestar.datastructures import State
from litestar.enums import ScopeType
from litestar.exceptions import HTTPException, NotFoundException, ValidationException
from litestar.openapi.config import OpenAPIConfig
from litestar.plugins.jinja import JinjaTemplateEngine
from litestar.response import Template
from litestar.static_files import create_static_files_router
from litestar.status_codes import HTTP_500_INTERNAL_SERVER_ERROR
from litestar.template.config import TemplateConfig
from litestar.types import Scope
from piccolo.engine.base import Engine

from hotline import __version__
from hotline.calls.controllers import ConsoleApiController, ConsolePagesController, TelephonyController
from hotline.calls.runtime import CallsRuntime
from hotline.calls.wallboard import WallboardController
from hotline.config import Settings
from hotline.db.engine import close_database, open_database
from hotline.federation.controllers import (
    FederationApiController,
    ForecastController,
    RotaController,
    SettlementController,
    settlement_csv,
)
from hotline.figures.controllers import (
    BestTimesPublicController,
    FederationFiguresController,
    FiguresAdminController,
    SurveyController,
)
from hotline.handoffs.controllers import HandOffInboxController, Open311Controller, OverdueController
from hotline.handoffs.publisher import HandOffsRuntime
from hotline.identity import web as identity_web
from hotline.identity.controllers import AuthController, IdentityApiController, KommuneAdminController, MeController
from hotline.identity.dev_idp import DEMO_CLIENT_ID, DevIdentityProvider
from hotline.identity.guards import Limits, access_guard, public
from hotline.identity.oidc import RelyingParty
from hotline.identity.service import SecretBox
from hotline.knowledge.admin import (
    KnowledgeCoordinatorController,
    KnowledgeKommuneAdminController,
    KnowledgeReportController,
)
from hotline.knowledge.controllers import KnowledgeApiController, KnowledgePagesController
from hotline.letters.controllers import (
    LetterheadAdminController,
    LettersApiController,
    LettersPagesController,
    MailboxController,
)
from hotline.letters.worker import LettersRuntime, smtp_check
from hotline.server.health import HealthController, ReadinessCheck, database_check, nats_check
from hotline.server.nats import NatsConnection
from hotline.tenancy.controllers import TenantApiController, TenantPagesController, root_redirect
from hotline.tenancy.opening_hours import warm_up
from hotline.web import templating
from hotline.web.i18n import MESSAGES
from kb_sync.publisher import OutboxPublisher
from kb_sync.replica import Replica
from kb_sync.runtime import KnowledgeSync, replica_check

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
    kb_replica: Replica | None = None
    kb_publisher: OutboxPublisher | None = None
    relying_party: RelyingParty | None = None
    secret_box: SecretBox | None = None
    session_limits: Limits | None = None
    letters: LettersRuntime | None = None
    handoffs: HandOffsRuntime | None = None
    calls: CallsRuntime | None = None


def services_of(state: State) -> Services:
    services: Services = state.services
    return services


REPLICA_FREEZE_WAIT: float = 300.0  # seconds: how long a started process waits for the replica to freeze it too


def freeze_long_lived() -> None:
    """Exclude what exists now from the cyclic garbage collector (``gc.freeze``).

    A started process holds many long-lived objects (the knowledge replica, templates, the tenants' calendars,
    the routes). Each full (generation 2) collection walked them all: 50-130 ms with the event loop stopped, which
    was the tail of the screen-pop latency under load (``hotline bench calls``). Frozen objects are still freed by
    reference counting; only cycles among them are never collected, which is fine for what lives as long as the
    process. Collect first so that garbage is not frozen with them.
    """
    gc.collect()
    gc.freeze()


async def _freeze_when_ready(replica: Replica) -> None:
    """Freeze again once the replica's cold start has loaded it (usually it is already ready at start-up)."""
    if await replica.wait_ready(REPLICA_FREEZE_WAIT):
        freeze_long_lived()


def _lifespan(services: Services, *, own_database: bool, nats_servers: list[str]) -> Callable[[Litestar], Any]:
    @asynccontextmanager
    async def lifespan(app: Litestar) -> AsyncIterator[None]:
        if own_database:
            services.engine = await open_database(services.settings.database_url, services.settings.database.pool_size)
        this_year = services.clock().year
        await asyncio.to_thread(warm_up, ("DK",), (this_year, this_year + 1))
        services.readiness["database"] = database_check
        connection = NatsConnection(services.settings.nats, nats_servers)
        services.nats = connection
        services.readiness["nats"] = nats_check(connection)
        await connection.start()
        knowledge = KnowledgeSync(connection, clock=services.clock)
        services.kb_replica, services.kb_publisher = knowledge.replica, knowledge.publisher
        services.readiness["knowledge"] = replica_check(knowledge.replica)
        await knowledge.start()
        # Letters: the renderer's pool and, when a relay is configured, the outbox worker and its readiness check.
        services.letters = LettersRuntime.create(services.settings.smtp, services.clock)
        if services.settings.smtp.host:
            services.readiness["smtp"] = smtp_check(services.settings.smtp)
        services.letters.start()
        # Hand-offs: outbox publisher to the kommuner's NATS subjects, status responder, escalation sweep.
        letters_runtime = services.letters
        services.handoffs = HandOffsRuntime(
            connection,
            clock=services.clock,
            renderer=lambda: letters_runtime.renderer,
            letters_notify=letters_runtime.notify,
            base_url=services.settings.base_url,
        )
        await services.handoffs.start()
        # Calls: the live fan-out to agents' consoles over NATS and the queue's tick.
        if services.calls is not None and services.secret_box is not None:
            await services.calls.start(
                environment=app.template_engine.engine,  # type: ignore[union-attr]
                replica=services.kb_replica,
                nats=connection,
                secret_box=services.secret_box,
            )
        # A served process (it opened its own database) freezes its start-up objects out of the garbage collector,
        # now and once the replica is loaded. Tests and the demo pass their own engine and keep the default (tests
        # run many apps in one process, whose frozen objects would never be collected).
        freezer: asyncio.Task[None] | None = None
        if own_database:
            freeze_long_lived()
            if not knowledge.replica.ready:
                freezer = asyncio.create_task(_freeze_when_ready(knowledge.replica), name="gc-freeze")
        try:
            yield
        finally:
            if freezer is not None and not freezer.done():
                freezer.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await freezer
            if services.calls is not None:
                await services.calls.stop()
            if services.relying_party is not None:
                await services.relying_party.close()
            await services.handoffs.stop()
            await services.letters.stop()
            await knowledge.stop()
            await connection.close()
            if own_database and services.engine is not None:
                await close_database(services.engine)

    return lifespan


def _wants_html(request: Request[Any, Any, Any]) -> bool:
    return not request.url.path.startswith(("/api", "/health", "/schema")) and "text/html" in request.headers.get(
        "accept", ""
    )


def _error_page(status: int, detail: str = "") -> Template:
    """The page for people: a title and a message in the page's language (Danish or English), and the error's
    own (English, technical) detail beneath when it says more than the status's standard phrase."""
    title_key = "error.not_found" if status == 404 else f"error.title.{status}"
    message_key = f"error.text.{status}"
    try:
        standard = HTTPStatus(status).phrase
    except ValueError:
        standard = ""
    return Template(
        template_name="error.html",
        context={
            "status": status,
            "title_key": title_key if title_key in MESSAGES["da"] else "error.title",
            "message_key": message_key if message_key in MESSAGES["da"] else "error.text.other",
            # An HTTPException's detail is written by a handler; an unexpected error passes none (it may hold data).
            "technical": detail if detail and detail != standard else "",
        },
        status_code=status,
        headers={"Cache-Control": "no-store"},
    )


def _http_error(request: Request[Any, Any, Any], exc: HTTPException) -> Response[Any]:
    """A clear message for every 4xx: JSON for the API, a page for people."""
    if _wants_html(request):
        page = _error_page(exc.status_code, str(exc.detail or ""))
        page.headers.update(getattr(exc, "headers", None) or {})
        return page
    body: dict[str, Any] = {"status_code": exc.status_code, "detail": exc.detail}
    if isinstance(exc, ValidationException) and exc.extra:
        body["extra"] = exc.extra
    return Response(body, status_code=exc.status_code, headers=getattr(exc, "headers", None))


def _server_error(request: Request[Any, Any, Any], exc: Exception) -> Response[Any]:
    # The message may carry personal data from a query or a payload: log the type and the path only.
    log.error("unhandled %s on %s %s", type(exc).__name__, request.method, request.url.path, exc_info=exc)
    detail = "Internal error: the request was not completed. It has been logged."
    if _wants_html(request):
        return _error_page(500)
    return Response({"status_code": 500, "detail": detail}, status_code=HTTP_500_INTERNAL_SERVER_ERROR)


async def _before_error_page(exc: Exception, scope: Scope) -> None:
    """Before an HTML error page is rendered: the request's language and signed-in person. A request no route took
    (an unknown address) ran no ``before_request``, so without this the page would speak Danish to an English
    reader and show "Log ind" to someone signed in. Best effort: anything failing here leaves the page without
    them and never turns it into a 500. The person is looked up only for an HTTP error (a 4xx): after an
    unexpected error the database may be the trouble, and the header then falls back on the session cookie."""
    if scope.get("type") != ScopeType.HTTP:
        return
    request: Request[Any, Any, Any] = Request(scope)
    try:
        if not _wants_html(request):
            return
        if "lang" not in request.state:
            await templating.choose_language(request)
        await identity_web.load_principal_for_error_page(request, look_up=isinstance(exc, HTTPException))
    except Exception as problem:
        log.warning("error page without the person: %s on %s", type(problem).__name__, request.url.path)


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
    identity = settings.identity
    # The development identity provider exists in demo mode only: outside it, nothing mounts it or trusts it.
    dev_idp_url = (identity.dev_idp_url or f"{settings.base_url}/dev-idp") if settings.demo else ""
    services = Services(
        settings=settings,
        clock=clock,
        engine=engine,
        relying_party=RelyingParty(secret_key=settings.server.secret_key, dev_idp_url=dev_idp_url),
        secret_box=SecretBox(settings.server.secret_key),
        calls=CallsRuntime(clock=clock, telephony=settings.telephony),
        session_limits=Limits(
            idle=dt.timedelta(minutes=identity.session_idle_minutes),
            absolute=dt.timedelta(hours=identity.session_absolute_hours),
        ),
    )
    demo_only: list[Any] = (
        [
            DevIdentityProvider(
                base_url=f"{settings.base_url}/dev-idp",
                secret_key=settings.server.secret_key,
                post_logout_redirect_uris={DEMO_CLIENT_ID: frozenset({settings.post_logout_redirect_uri})},
            ).router(),
            MailboxController,  # what the demo's SMTP sink received
        ]
        if settings.demo
        else []
    )

    async def before_request(request: Request[Any, Any, Any]) -> None:
        await templating.choose_language(request)
        await identity_web.load_principal(request)

    return Litestar(
        route_handlers=[
            root_redirect,
            HealthController,
            TenantApiController,
            TenantPagesController,
            KnowledgeApiController,
            KnowledgePagesController,
            KnowledgeKommuneAdminController,
            KnowledgeCoordinatorController,
            KnowledgeReportController,
            AuthController,
            MeController,
            KommuneAdminController,
            LettersApiController,
            LettersPagesController,
            LetterheadAdminController,
            IdentityApiController,
            Open311Controller,
            HandOffInboxController,
            OverdueController,
            TelephonyController,
            ConsoleApiController,
            ConsolePagesController,
            FiguresAdminController,
            FederationFiguresController,
            SurveyController,
            BestTimesPublicController,
            WallboardController,
            ForecastController,
            RotaController,
            SettlementController,
            settlement_csv,
            FederationApiController,
            *demo_only,
            create_static_files_router(path="/static", directories=[WEB / "static"], name="static", opt=public()),
        ],
        guards=[access_guard],
        middleware=[identity_web.csrf_middleware(settings), *identity_web.rate_limits(settings)],
        state=State({"services": services}),
        lifespan=[
            _lifespan(services, own_database=engine is None, nats_servers=nats_servers or list(settings.nats.servers))
        ],
        template_config=TemplateConfig(
            directory=WEB / "templates",
            engine=JinjaTemplateEngine,
            engine_callback=templating.configure,
        ),
        before_request=before_request,
        exception_handlers={HTTPException: _http_error, NotFoundException: _http_error, Exception: _server_error},
        after_exception=[_before_error_page],
        compression_config=CompressionConfig(backend="gzip", exclude=["/health", "/console/events"]),
        openapi_config=OpenAPIConfig(
            title="Digital Hotline",
            version=__version__,
            description="API of the shared evening and weekend hotline of the kommuner.",
            openapi_router=Router(path="/schema", route_handlers=[], opt=public()),
        ),
        debug=False,
    )

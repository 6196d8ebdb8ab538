"""HTTP handlers of the calls area: the signed telephony webhook, the agent console (page, live events, JSON API).

The webhook is public at the HTTP level and authenticated by its HMAC signature (:mod:`hotline.calls.telephony`),
checked in ``before_request`` on the raw body before anything is decoded, so an unsigned request learns nothing
about the body's shape. The console is for agents only.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator
from typing import Annotated, Any

from litestar import Controller, Request, Response, get, post
from litestar.exceptions import (
    ClientException,
    HTTPException,
    NotAuthorizedException,
    NotFoundException,
    PermissionDeniedException,
    ValidationException,
)
from litestar.params import HeaderParameter, JSONBody, PathParameter, QueryParameter
from litestar.response import ServerSentEvent, ServerSentEventMessage, Template
from litestar.status_codes import HTTP_406_NOT_ACCEPTABLE, HTTP_409_CONFLICT, HTTP_422_UNPROCESSABLE_ENTITY

from hotline.calls import repository as repo
from hotline.calls import service
from hotline.calls.runtime import KEEPALIVE_SECONDS, CallsRuntime
from hotline.calls.schemas import CallOut, IngestResult, PresenceIn, PresenceOut, TransferIn, WrapUpIn
from hotline.calls.service import ConsoleError, Effects
from hotline.calls.telephony import (
    KOMMUNE_HEADER,
    SIGNATURE_HEADER,
    EventBatch,
    SignatureError,
    matches,
    parse_signature,
)
from hotline.identity import audit
from hotline.identity.guards import client_ip, federation_access, principal_of, public
from hotline.identity.service import Principal
from hotline.knowledge.search import snippet
from hotline.web.templating import page

AGENT = federation_access("agent")
CallIdParameter = Annotated[str, PathParameter(description="The platform's call id", max_length=64)]
_KOMMUNE = "^[0-9]{4}$"
SEARCH_HITS = 8


def _runtime(request: Request[Any, Any, Any]) -> CallsRuntime:
    runtime: CallsRuntime = request.app.state.services.calls
    return runtime


def _refused(error: ConsoleError) -> HTTPException:
    if error.status == 404:
        return NotFoundException(detail=str(error))
    if error.status == 409:
        return ClientException(detail=str(error), status_code=HTTP_409_CONFLICT)
    return ValidationException(detail=str(error), extra=[{"key": error.field, "message": str(error)}])


async def _agent(request: Request[Any, Any, Any]) -> Principal:
    principal = await principal_of(request)
    if principal is None or principal.kind != "user":
        raise PermissionDeniedException(detail="The console is for signed-in agents")
    return principal


async def verify_signature(request: Request[Any, Any, Any]) -> None:
    """Refuse (401, audited) a request without a valid, fresh signature by a secret of the named kommune."""
    request.state.arrived_ns = time.time_ns()
    runtime = _runtime(request)
    services = request.app.state.services
    now = services.clock()
    kommune = request.headers.get(KOMMUNE_HEADER, "")
    header = request.headers.get(SIGNATURE_HEADER, "")
    body = await request.body()
    problem = ""
    if not kommune or len(kommune) != 4 or not kommune.isdigit():
        problem = f"{KOMMUNE_HEADER} must be the 4-digit code of the kommune that issued the webhook secret"
    elif not header:
        problem = f"{SIGNATURE_HEADER} is missing: sign the body (see docs/TELEPHONY.md)"
    else:
        try:
            timestamp, digests = parse_signature(header, now)
        except SignatureError as exc:
            problem = str(exc)
        else:
            for reload in (False, True):
                for secret_id, secret in await runtime.webhook_secrets(kommune, reload=reload):
                    if matches(secret, body, timestamp, digests):
                        request.state.integration = f"{kommune}:{secret_id}"
                        await runtime.secret_used(secret_id)
                        return
            problem = f"{SIGNATURE_HEADER} does not match any active webhook secret of kommune {kommune}"
    await audit.record(
        "telephony_signature_refused",
        actor=audit.Actor(id=f"telephony:{kommune}"[:300] if kommune.isdigit() else "telephony"),
        kommune_code=kommune if kommune.isdigit() and len(kommune) == 4 else "",
        now=now,
        ip=client_ip(request),
        target="/api/telephony/events",
        outcome="refused",
    )
    raise NotAuthorizedException(detail=problem)


def _unprocessable(request: Request[Any, Any, Any], exc: ValidationException) -> Response[Any]:
    """The telephony contract answers a malformed or unknown event with 422 (the request was understood and
    authenticated, its content is wrong), naming the field as every other 4xx here does."""
    body: dict[str, Any] = {"status_code": HTTP_422_UNPROCESSABLE_ENTITY, "detail": exc.detail}
    if exc.extra:
        body["extra"] = exc.extra
    return Response(body, status_code=HTTP_422_UNPROCESSABLE_ENTITY)


class TelephonyController(Controller):
    path = "/api/telephony"
    tags = ("telephony",)

    @post(
        "/events",
        operation_id="postTelephonyEvents",
        # Signed by the platform, not sent by a browser: no session cookie is involved, so CSRF does not apply.
        opt={**public(), "exclude_from_csrf": True},
        status_code=200,
        before_request=verify_signature,
        exception_handlers={ValidationException: _unprocessable},
        summary="Report call events (HMAC-signed; idempotent per call id and event kind)",
        description=(
            "A batch of 1-500 events. Sign with the webhook secret a kommune admin issued: "
            "X-Hotline-Signature: t=<unix seconds>,v1=<hex HMAC-SHA256(secret, '<t>.' + raw body)>. "
            "Accepted events are stored before the answer; a repeat of an event (same call id and kind) is "
            "counted as a duplicate and ignored. Events may arrive in any order. See docs/TELEPHONY.md."
        ),
    )
    async def events(
        self,
        request: Request[Any, Any, Any],
        data: JSONBody[EventBatch],
        x_hotline_kommune: Annotated[
            str,
            HeaderParameter(name="X-Hotline-Kommune", pattern=_KOMMUNE, description="Code of the issuing kommune"),
        ],
        x_hotline_signature: Annotated[
            str,
            HeaderParameter(name="X-Hotline-Signature", description="t=<unix seconds>,v1=<hex HMAC-SHA256>"),
        ],
    ) -> IngestResult:
        runtime = _runtime(request)
        now = request.app.state.services.clock()
        effects = Effects()
        async with repo.transaction():
            result = await service.ingest(
                data,
                integration=str(getattr(request.state, "integration", "")),
                now=now,
                router=runtime.router,
                effects=effects,
            )
            if effects.queue_changed:
                await service.assign(now, runtime.options, effects)
        await runtime.dispatch(effects, arrived_ns=int(getattr(request.state, "arrived_ns", 0)))
        return result


class ConsoleApiController(Controller):
    path = "/api/console"
    tags = ("console",)

    @post("/presence", operation_id="setPresence", opt=AGENT, status_code=200, summary="Set my presence")
    async def presence(self, request: Request[Any, Any, Any], data: JSONBody[PresenceIn]) -> PresenceOut:
        agent = await _agent(request)
        runtime = _runtime(request)
        effects = Effects()
        try:
            async with repo.transaction():
                out = await service.set_presence(
                    agent.user_id,
                    data.state,
                    runtime.clock(),
                    effects,
                    display_name=agent.actor.name,
                    home_kommune=agent.home_kommune,
                    languages=data.languages,
                    skills=data.skills,
                )
                if data.state == "available":
                    await service.assign(runtime.clock(), runtime.options, effects)
        except ConsoleError as error:
            raise _refused(error) from error
        await runtime.dispatch(effects)
        return out

    @post("/calls/{call_id:str}/answer", operation_id="answerCall", opt=AGENT, status_code=200, summary="Answer a call")
    async def answer(self, request: Request[Any, Any, Any], call_id: CallIdParameter) -> CallOut:
        agent = await _agent(request)
        runtime = _runtime(request)
        effects = Effects()
        try:
            async with repo.transaction():
                out = await service.answer(agent.user_id, call_id, runtime.clock(), effects)
        except ConsoleError as error:
            raise _refused(error) from error
        await runtime.dispatch(effects)
        return out

    @post(
        "/calls/{call_id:str}/transfer",
        operation_id="transferCall",
        opt=AGENT,
        status_code=200,
        summary="Record a warm transfer to one of the caller's kommune's department numbers",
    )
    async def transfer(
        self, request: Request[Any, Any, Any], call_id: CallIdParameter, data: JSONBody[TransferIn]
    ) -> CallOut:
        agent = await _agent(request)
        runtime = _runtime(request)
        try:
            async with repo.transaction():
                return await service.transfer(agent.user_id, call_id, data.to_number, runtime.clock(), runtime.router)
        except ConsoleError as error:
            raise _refused(error) from error

    @post(
        "/calls/{call_id:str}/wrap-up",
        operation_id="wrapUpCall",
        opt=AGENT,
        status_code=200,
        summary="Record outcome, topic and notes (CPR numbers are masked), hand off if needed",
    )
    async def wrap_up(
        self, request: Request[Any, Any, Any], call_id: CallIdParameter, data: JSONBody[WrapUpIn]
    ) -> CallOut:
        from hotline.handoffs.service import HandOffError

        agent = await _agent(request)
        runtime = _runtime(request)
        if not runtime.known_topics:
            await runtime.refresh_topics()
        effects = Effects()
        try:
            async with repo.transaction():
                out = await service.wrap_up(
                    agent.user_id,
                    call_id,
                    data,
                    runtime.clock(),
                    effects,
                    known_topics=runtime.known_topics,
                    agent_name=agent.actor.name or agent.actor.id,
                )
                await service.assign(runtime.clock(), runtime.options, effects)
        except ConsoleError as error:
            raise _refused(error) from error
        except HandOffError as error:
            field = f"handoff.{error.field}" if error.field in ("description", "citizen_email") else error.field
            raise ValidationException(detail=str(error), extra=[{"key": field, "message": str(error)}]) from error
        await runtime.dispatch(effects)
        return out


class ConsolePagesController(Controller):
    path = "/console"
    include_in_schema = False

    @get("/", name="console", opt=AGENT, cache=False)
    async def console(self, request: Request[Any, Any, Any]) -> Template:
        agent = await _agent(request)
        runtime = _runtime(request)
        if not runtime.known_topics:
            await runtime.refresh_topics()
        presence = await service.presence_of(agent.user_id)
        lang = str(getattr(request.state, "lang", "da"))
        renderer = runtime.renderer
        known = sorted(runtime.known_topics)
        topics = renderer.topic_choices(lang) if renderer is not None else [(code, code) for code in known]
        return page(
            request,
            "calls/console.html",
            {
                "agent": agent,
                "presence": presence.state if presence else "offline",
                "topics": topics,
                "outcomes": ("solved", "handed_off", "callback", "misrouted", "not_municipal"),
            },
        )

    @get("/search", name="console-search", opt=AGENT, cache=False)
    async def search(
        self,
        request: Request[Any, Any, Any],
        q: Annotated[str, QueryParameter(max_length=200)] = "",
        kommune: Annotated[str, QueryParameter(max_length=4)] = "",
    ) -> Template:
        """The screen-pop's knowledge search: hits in the pop itself (the caller's kommune first), from the
        in-memory replica, with the topics' names and each article's text one click away."""
        await _agent(request)
        runtime = _runtime(request)
        lang = str(getattr(request.state, "lang", "da"))
        renderer = runtime.renderer
        replica = renderer.replica if renderer is not None else None
        ready = replica is not None and replica.ready
        query = q.strip()
        code = kommune if kommune.isdigit() and len(kommune) == 4 else None
        found = replica.search(query, code, limit=SEARCH_HITS) if replica is not None and ready and query else []
        hits = [
            {
                "record": record,
                "topic": renderer.topic_name(record.topic, lang) if renderer is not None else record.topic,
                "snippet": snippet(record, query),
            }
            for record, _score in found
        ]
        return page(
            request,
            "calls/_pop_results.html",
            {"q": query, "kommune": code or "", "hits": hits, "ready": ready},
        )

    @get("/events", name="console-events", opt=AGENT, cache=False)
    async def events(self, request: Request[Any, Any, Any]) -> ServerSentEvent:
        agent = await _agent(request)
        if "text/event-stream" not in request.headers.get("accept", ""):
            raise ClientException(
                detail="This is a live event stream: request it with Accept: text/event-stream (EventSource)",
                status_code=HTTP_406_NOT_ACCEPTABLE,
            )
        runtime = _runtime(request)
        lang = str(getattr(request.state, "lang", "da"))
        connection = await runtime.connect(agent.user_id, agent.actor, lang)

        async def stream() -> AsyncIterator[ServerSentEventMessage]:
            try:
                while True:
                    try:
                        message = await asyncio.wait_for(connection.queue.get(), KEEPALIVE_SECONDS)
                    except TimeoutError:
                        yield ServerSentEventMessage(comment="keep-alive")
                        continue
                    if message is None:
                        return
                    if message.event == "screen-pop":
                        message = runtime.screen_pop_sent(connection, message)
                    yield message
            finally:
                runtime.disconnect(connection)

        return ServerSentEvent(stream(), headers={"cache-control": "no-store", "x-accel-buffering": "no"})

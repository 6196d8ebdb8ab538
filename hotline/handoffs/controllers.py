"""HTTP handlers of the hand-offs area: the Open311 GeoReport v2 API for the kommuner's own systems, the kommune
admin's inbox (list, detail with history, status change) and the coordinator's federation-wide overdue list.

Every handler is parse → service → return; the rules live in :mod:`hotline.handoffs.service`. The Open311
endpoint of a kommune is ``/api/open311/v2/<kommune code>`` (the jurisdiction is part of the endpoint URL, so the
access guard can bind a kommune's API token to its own hand-offs); a ``jurisdiction_id`` given as well must match.
"""

from __future__ import annotations

import datetime as dt
import re
from typing import Annotated, Any
from zoneinfo import ZoneInfo

import msgspec
from litestar import Controller, Request, get, post
from litestar.enums import RequestEncodingType
from litestar.exceptions import NotFoundException, ValidationException
from litestar.params import Body, PathParameter, QueryParameter
from litestar.response import Redirect, Template

from hotline.handoffs import service
from hotline.handoffs.schemas import STATUSES, HandOffOut, Open311Request, Open311Service, StatusUpdateIn
from hotline.identity import audit
from hotline.identity.guards import client_ip, federation_access, kommune_access, principal_of
from hotline.web.templating import page

CodeParameter = Annotated[
    str, PathParameter(description="The jurisdiction: a 4-digit kommune code, e.g. 0751", max_length=16)
]
RequestIdParameter = Annotated[
    str, PathParameter(description="The service request (hand-off) id, optionally with .json", max_length=64)
]
FormData = Annotated[dict[str, Any], Body(media_type=RequestEncodingType.URL_ENCODED)]
_CODE = re.compile(r"^[0-9]{4}$")
CPH = ZoneInfo("Europe/Copenhagen")
OPEN311 = kommune_access("kommune_admin", "coordinator", permission="handoffs")
INBOX = kommune_access("kommune_admin", "coordinator")
_status_decoder = msgspec.json.Decoder(StatusUpdateIn)


def _now(request: Request[Any, Any, Any]) -> dt.datetime:
    now: dt.datetime = request.app.state.services.clock()
    return now


def _kommune(code: str, jurisdiction_id: str = "") -> str:
    if not _CODE.match(code):
        raise NotFoundException(detail=f"jurisdiction_id: no kommune with code {code!r}; use e.g. 0751")
    if jurisdiction_id and jurisdiction_id != code:
        raise _invalid("jurisdiction_id", f"{jurisdiction_id!r} does not match the endpoint's kommune {code}")
    return code


def _invalid(field: str, message: str) -> ValidationException:
    return ValidationException(detail=f"{field}: {message}", extra=[{"key": field, "message": message}])


def _refused(error: service.HandOffError) -> Exception:
    if error.problem == "not_found":
        return NotFoundException(detail=str(error))
    if error.problem == "conflict":
        exc = ValidationException(detail=str(error), extra=[{"key": error.field, "message": error.message}])
        exc.status_code = 409
        return exc
    return _invalid(error.field, error.message)


async def _actor(request: Request[Any, Any, Any]) -> audit.Actor:
    principal = await principal_of(request)
    return principal.actor if principal is not None else audit.ANONYMOUS


def _runtime_hooks(request: Request[Any, Any, Any]) -> Any:
    return request.app.state.services.handoffs


def _renderer(request: Request[Any, Any, Any]) -> Any:
    letters = request.app.state.services.letters
    return letters.renderer if letters is not None else None


def _date(field: str, value: str) -> dt.datetime | None:
    if not value:
        return None
    try:
        moment = dt.datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        raise _invalid(field, f"{value!r} is not an ISO 8601 date-time, e.g. 2026-11-25T19:00:00+01:00") from None
    return moment if moment.tzinfo is not None else moment.replace(tzinfo=CPH)


def _open311_statuses(status: str) -> str:
    """Open311 knows ``open`` and ``closed``; ``open`` covers our ``acknowledged`` too."""
    wanted: set[str] = set()
    for part in (p.strip() for p in status.split(",") if p.strip()):
        if part not in STATUSES:
            raise _invalid("status", f"unknown status {part!r}; use open, acknowledged or closed")
        wanted.update(("open", "acknowledged") if part == "open" else (part,))
    return ",".join(sorted(wanted))


async def _status_body(request: Request[Any, Any, Any]) -> StatusUpdateIn:
    """JSON or form-encoded (Open311 clients post forms)."""
    content_type = request.headers.get("content-type", "")
    try:
        if content_type.startswith("application/json"):
            return _status_decoder.decode(await request.body())
        form = await request.form()
        unknown = set(form) - {"status", "status_notes", "jurisdiction_id", "api_key"}
        if unknown:
            raise _invalid(sorted(unknown)[0], "is not a field of a status update")
        if "status" not in form:
            raise _invalid("status", "is missing; use open, acknowledged or closed")
        return StatusUpdateIn(
            status=str(form.get("status", "")),
            status_notes=str(form.get("status_notes", "")),
            jurisdiction_id=str(form.get("jurisdiction_id", "")),
        )
    except msgspec.ValidationError as exc:
        field = re.search(r"`\$\.(\w+)`", str(exc))
        raise _invalid(field.group(1) if field else "body", str(exc)) from None
    except msgspec.DecodeError as exc:
        raise _invalid("body", f"is not JSON: {exc}") from None


class Open311Controller(Controller):
    """GeoReport v2 for the kommune's own case systems (API token with the ``handoffs`` permission)."""

    path = "/api/open311/v2/{code:str}"
    tags = ("open311",)

    @get(
        "/services.json",
        operation_id="open311Services",
        opt=OPEN311,
        summary="The kommune's topics that it takes hand-offs on, as Open311 services",
    )
    async def services(
        self,
        code: CodeParameter,
        jurisdiction_id: Annotated[str, QueryParameter(max_length=16)] = "",
        lang: Annotated[str, QueryParameter(max_length=8)] = "da",
    ) -> list[Open311Service]:
        try:
            return await service.open311_services(_kommune(code, jurisdiction_id), lang)
        except service.HandOffError as error:
            raise _refused(error) from error

    @get(
        "/requests.json",
        operation_id="open311Requests",
        opt=OPEN311,
        summary="The kommune's hand-offs as Open311 service requests, newest first",
    )
    async def requests(
        self,
        request: Request[Any, Any, Any],
        code: CodeParameter,
        jurisdiction_id: Annotated[str, QueryParameter(max_length=16)] = "",
        service_request_id: Annotated[str, QueryParameter(max_length=4000)] = "",
        service_code: Annotated[str, QueryParameter(max_length=64)] = "",
        status: Annotated[str, QueryParameter(max_length=64)] = "",
        start_date: Annotated[str, QueryParameter(max_length=40)] = "",
        end_date: Annotated[str, QueryParameter(max_length=40)] = "",
    ) -> list[Open311Request]:
        kommune = _kommune(code, jurisdiction_id)
        ids = [part.strip() for part in service_request_id.split(",") if part.strip()]
        try:
            found = await service.list_handoffs(
                kommune,
                _now(request),
                status=_open311_statuses(status),
                created_from=_date("start_date", start_date),
                created_to=_date("end_date", end_date),
                ids=ids,
            )
            names = await service.topic_names()
        except service.HandOffError as error:
            raise _refused(error) from error
        return [
            service.open311_request(h, names.get(h.topic, ""))
            for h in found
            if not service_code or h.topic == service_code
        ]

    @get(
        "/requests/{request_id:str}",
        operation_id="open311Request",
        opt=OPEN311,
        summary="One hand-off (requests/<id>.json), as a one-element list like Open311",
    )
    async def request_one(
        self,
        request: Request[Any, Any, Any],
        code: CodeParameter,
        request_id: RequestIdParameter,
        jurisdiction_id: Annotated[str, QueryParameter(max_length=16)] = "",
    ) -> list[Open311Request]:
        kommune = _kommune(code, jurisdiction_id)
        try:
            handoff = await service.get_handoff(kommune, request_id.removesuffix(".json"), _now(request))
        except service.HandOffError as error:
            raise _refused(error) from error
        names = await service.topic_names()
        return [service.open311_request(handoff, names.get(handoff.topic, ""))]

    @post(
        "/requests/{request_id:str}/status",
        operation_id="open311PostStatus",
        opt=OPEN311,
        status_code=200,
        summary="The kommune's system reports progress: open, acknowledged or closed, with a note",
    )
    async def post_status(
        self, request: Request[Any, Any, Any], code: CodeParameter, request_id: RequestIdParameter
    ) -> list[Open311Request]:
        body = await _status_body(request)
        kommune = _kommune(code, body.jurisdiction_id)
        actor = await _actor(request)
        try:
            handoff, mailed = await service.update_status(
                kommune_code=kommune,
                handoff_id=request_id.removesuffix(".json"),
                status=body.status,
                note=body.status_notes,
                source="open311",
                actor=actor.id,
                now=_now(request),
                renderer=_renderer(request),
            )
        except service.HandOffError as error:
            raise _refused(error) from error
        runtime = _runtime_hooks(request)
        if runtime is not None:
            runtime.changed(mailed)
        return [service.open311_request(handoff)]


# -- the kommune admin's inbox ------------------------------------------------------------------------------


def _local(moment: dt.datetime | None) -> dt.datetime | None:
    return moment.astimezone(CPH) if moment is not None else None


class HandOffInboxController(Controller):
    path = "/admin/{code:str}/handoffs"
    tags = ("handoffs",)
    include_in_schema = False

    @get("/", operation_id="handoffInbox", opt=INBOX, summary="The kommune's hand-offs: due, overdue, done")
    async def inbox(
        self,
        request: Request[Any, Any, Any],
        code: CodeParameter,
        status: Annotated[str, QueryParameter(max_length=64)] = "open,acknowledged",
        overdue: Annotated[str, QueryParameter(max_length=8)] = "",
        department: Annotated[str, QueryParameter(max_length=64)] = "",
    ) -> Template:
        kommune = _kommune(code)
        now = _now(request)
        try:
            found = await service.list_handoffs(
                kommune, now, status=status, overdue_only=overdue == "1", department=department, limit=500
            )
        except service.HandOffError as error:
            raise _refused(error) from error
        context = {
            "code": kommune,
            "kommune_name": await service.kommune_name(kommune),
            "handoffs": found,
            "filters": {"status": status, "overdue": overdue == "1", "department": department},
            "statuses": STATUSES,
            "departments": await service.departments_of(kommune),
            "now": now,
            "local": _local,
            "names": await service.topic_names(request.state.lang),
        }
        return page(request, "handoffs/inbox.html", context)

    @get("/{handoff_id:str}", operation_id="handoffDetail", opt=INBOX, summary="One hand-off with its history")
    async def detail(
        self, request: Request[Any, Any, Any], code: CodeParameter, handoff_id: RequestIdParameter
    ) -> Template:
        return await self._detail(request, _kommune(code), handoff_id)

    async def _detail(
        self,
        request: Request[Any, Any, Any],
        code: str,
        handoff_id: str,
        *,
        error: str = "",
        status_code: int = 200,
    ) -> Template:
        now = _now(request)
        try:
            handoff = await service.get_handoff(code, handoff_id, now)
        except service.HandOffError as refused:
            raise _refused(refused) from refused
        if handoff.citizen_email or handoff.citizen_phone:
            await audit.record(
                audit.PERSONAL_DATA_VIEWED,
                actor=await _actor(request),
                kommune_code=code,
                now=now,
                ip=client_ip(request),
                target=f"handoff {handoff.handoff_id}",
                detail={"what": "citizen contact of a hand-off"},
            )
        context = {
            "code": code,
            "handoff": handoff,
            "history": await service.history(handoff.handoff_id),
            "statuses": STATUSES,
            "now": now,
            "local": _local,
            "error": error,
            "names": await service.topic_names(request.state.lang),
        }
        return page(request, "handoffs/detail.html", context, status_code=status_code)

    @post(
        "/{handoff_id:str}/status",
        operation_id="handoffChangeStatus",
        opt=INBOX,
        status_code=200,
        summary="Change a hand-off's status with a note",
    )
    async def change_status(
        self, request: Request[Any, Any, Any], code: CodeParameter, handoff_id: RequestIdParameter, data: FormData
    ) -> Template | Redirect:
        kommune = _kommune(code)
        actor = await _actor(request)
        try:
            _, mailed = await service.update_status(
                kommune_code=kommune,
                handoff_id=handoff_id,
                status=str(data.get("status", "")),
                note=str(data.get("note", "")),
                source="admin",
                actor=actor.id,
                now=_now(request),
                renderer=_renderer(request),
            )
        except service.HandOffError as error:
            if error.problem == "not_found":
                raise _refused(error) from error
            return await self._detail(request, kommune, handoff_id, error=str(error), status_code=422)
        runtime = _runtime_hooks(request)
        if runtime is not None:
            runtime.changed(mailed)
        return Redirect(path=f"/admin/{kommune}/handoffs/{handoff_id}", status_code=303)


class OverdueController(Controller):
    path = "/handoffs"
    tags = ("handoffs",)
    include_in_schema = False

    @get(
        "/overdue",
        operation_id="handoffsOverdue",
        opt=federation_access("coordinator"),
        summary="Every overdue hand-off in the federation",
    )
    async def overdue(self, request: Request[Any, Any, Any]) -> Template:
        now = _now(request)
        found: list[HandOffOut] = await service.list_handoffs(None, now, overdue_only=True, limit=1000)
        context = {
            "handoffs": found,
            "kommuner": await service.kommune_names(),
            "now": now,
            "local": _local,
            "names": await service.topic_names(request.state.lang),
        }
        return page(request, "handoffs/overdue.html", context)

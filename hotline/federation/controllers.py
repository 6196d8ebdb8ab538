"""HTTP handlers of the federation area: the forecast, the rota and the settlement (pages, the CSV, the PDF
statements and a small JSON API). Each handler declares its access; the rules live in the service modules.

Access: the coordinator plans, configures and settles; a kommune admin reads the forecast, pledges for its own
kommune and reads its own statement; an agent signs up to shifts. Refusals name the field (400), or 403 for a
pledge for another kommune, which is audited like the guard's refusals.
"""

from __future__ import annotations

import datetime as dt
import re
from typing import Annotated, Any

from litestar import Controller, Request, Response, get, post
from litestar.enums import RequestEncodingType
from litestar.exceptions import (
    HTTPException,
    NotFoundException,
    PermissionDeniedException,
    ServiceUnavailableException,
    ValidationException,
)
from litestar.params import Body, PathParameter, QueryParameter
from litestar.response import Redirect, Template

from hotline.federation import charts, forecast, repository, rota, settings, statement
from hotline.federation.forecast import CPH
from hotline.federation.schemas import AllocationKey, FederationError, HourForecast, Settlement
from hotline.federation.settlement import compute_settlement
from hotline.identity import audit
from hotline.identity.guards import ACCESS_KEY, Access, client_ip, federation_access, kommune_access, principal_of
from hotline.identity.service import Principal
from hotline.letters.rendering import PdfRenderer
from hotline.web.templating import page

FormData = Annotated[dict[str, Any], Body(media_type=RequestEncodingType.URL_ENCODED)]
DateQuery = Annotated[str, QueryParameter(max_length=32)]
TextQuery = Annotated[str, QueryParameter(max_length=40)]
CodeParameter = Annotated[str, PathParameter(description="4-digit kommune code, e.g. 0751", max_length=16)]
ShiftParameter = Annotated[int, PathParameter(ge=1)]
COORDINATOR = federation_access("coordinator")
AGENT = federation_access("agent")
READERS: dict[str, Any] = {ACCESS_KEY: Access(roles=("coordinator", "kommune_admin"))}
ROTA_PEOPLE: dict[str, Any] = {ACCESS_KEY: Access(roles=("coordinator", "kommune_admin", "agent"))}
STATEMENT = kommune_access("kommune_admin", "coordinator")
PDF_HEADERS = {"Content-Security-Policy": "default-src 'none'; sandbox", "X-Content-Type-Options": "nosniff"}
_STATEMENT_FILE = re.compile(r"^([0-9]{4})\.pdf$")


def _now(request: Request[Any, Any, Any]) -> dt.datetime:
    now: dt.datetime = request.app.state.services.clock()
    return now


def _today(request: Request[Any, Any, Any]) -> dt.date:
    return _now(request).astimezone(CPH).date()


async def _principal(request: Request[Any, Any, Any]) -> Principal:
    principal = await principal_of(request)
    if principal is None:  # the guard has already refused anonymous callers
        raise HTTPException(status_code=401, detail="Sign in first")
    return principal


def _refused(error: FederationError) -> HTTPException:
    if error.not_found:
        return NotFoundException(detail=error.message)
    if error.forbidden:
        return PermissionDeniedException(detail=error.message)
    return ValidationException(detail=error.message, extra=[{"key": error.field, "message": error.message}])


def _text(form: dict[str, Any], name: str) -> str:
    value = form.get(name, "")
    if isinstance(value, list):
        value = value[0] if value else ""
    return str(value)[:100]


def _list(form: dict[str, Any], name: str) -> list[str]:
    value = form.get(name, [])
    return [str(v)[:20] for v in (value if isinstance(value, list) else [value])]


def _day(text: str, field: str, default: dt.date) -> dt.date:
    if not text:
        return default
    return rota.parse_date(text, field)


def _is_coordinator(principal: Principal) -> bool:
    return principal.has_role(("coordinator",)) is not None


def _pdf_renderer(request: Request[Any, Any, Any]) -> PdfRenderer:
    runtime = request.app.state.services.letters
    if runtime is None:
        raise ServiceUnavailableException(detail="PDF rendering is not available in this process")
    renderer: PdfRenderer = runtime.renderer.pdf
    return renderer


async def _config_changed(request: Request[Any, Any, Any], principal: Principal, what: str, **detail: Any) -> None:
    await audit.record(
        audit.CONFIG_CHANGED,
        actor=principal.actor,
        kommune_code=principal.home_kommune,
        now=_now(request),
        ip=client_ip(request),
        target=what,
        detail=detail,
    )


# -- forecast -----------------------------------------------------------------------------------------------------


async def _forecast_days(first: dt.date, days: int, config: settings.FederationConfig) -> list[list[HourForecast]]:
    return [
        await forecast.forecast_day(
            first + dt.timedelta(days=offset),
            target=config.target,
            threshold_seconds=config.threshold_seconds,
            shrinkage=config.shrinkage,
            max_occupancy=config.max_occupancy,
        )
        for offset in range(days)
    ]


def _evening(hours: list[HourForecast], shown: set[int]) -> list[HourForecast]:
    seen: set[int] = set()
    result = []
    for hour in hours:
        if hour.start.hour in shown and hour.start.hour not in seen:
            seen.add(hour.start.hour)
            result.append(hour)
    return result


class ForecastController(Controller):
    path = "/forecast"
    tags = ("federation",)
    include_in_schema = False

    @get("/", operation_id="forecastPage", opt=READERS, summary="Calls and agents needed per evening")
    async def forecast_page(self, request: Request[Any, Any, Any], day: DateQuery = "") -> Template:
        try:
            first = _day(day, "day", _today(request))
        except FederationError as error:
            raise _refused(error) from error
        config = await settings.load()
        week = await _forecast_days(first, 7, config)
        shown = {h.start.hour for hours in week for h in hours if h.calls >= 0.25} or set(range(16, 22))
        evenings = []
        for hours in week:
            evening = _evening(hours, shown)
            evenings.append(
                {
                    "day": hours[0].start.date() if hours else first,
                    "hours": evening,
                    "chart": charts.forecast_chart(evening),
                    "calls": sum(h.calls for h in hours),
                    "peak": max((h.agents_needed for h in hours), default=0),
                    "holiday": forecast.is_holiday(hours[0].start.date()) if hours else False,
                }
            )
        principal = await _principal(request)
        context = {
            "first": first,
            "previous": first - dt.timedelta(days=7),
            "next": first + dt.timedelta(days=7),
            "evenings": evenings,
            "config": config,
            "can_edit": _is_coordinator(principal),
            "dec": lambda value, digits=1: statement.decimal(value, digits, request.state.lang),
        }
        return page(request, "federation/forecast.html", context)

    @post("/settings", operation_id="saveForecastSettings", opt=COORDINATOR, status_code=303)
    async def save_settings(self, request: Request[Any, Any, Any], data: FormData) -> Redirect:
        principal = await _principal(request)
        form = {k: v for k, v in data.items() if k in {"target", "threshold_seconds", "shrinkage", "max_occupancy"}}
        try:
            async with repository.transaction():
                config = settings.from_form(form, await settings.load())
                await settings.save(config, by=principal.actor.name, now=_now(request))
                await _config_changed(request, principal, "federation:forecast_settings", fields=sorted(form))
        except FederationError as error:
            raise _refused(error) from error
        return Redirect("/forecast", status_code=303)


class FederationApiController(Controller):
    path = "/api/federation"
    tags = ("federation",)

    @get("/forecast", operation_id="forecastDay", opt=READERS, summary="The staffing forecast for one day, per hour")
    async def forecast_api(self, request: Request[Any, Any, Any], day: DateQuery = "") -> list[HourForecast]:
        try:
            chosen = _day(day, "day", _today(request))
        except FederationError as error:
            raise _refused(error) from error
        config = await settings.load()
        return (await _forecast_days(chosen, 1, config))[0]

    @get("/settlement", operation_id="settlement", opt=COORDINATOR, summary="The settlement of a period (JSON)")
    async def settlement_api(
        self,
        request: Request[Any, Any, Any],
        start: DateQuery = "",
        end: DateQuery = "",
        key: TextQuery = "",
        weight_calls: TextQuery = "",
        weight_minutes: TextQuery = "",
        weight_population: TextQuery = "",
    ) -> Settlement:
        query = {"key": key, "weight_calls": weight_calls, "weight_minutes": weight_minutes}
        query["weight_population"] = weight_population
        settlement, _ = await _settlement_for(request, start, end, query)
        return settlement


# -- rota -------------------------------------------------------------------------------------------------------------


def _back_to_week(form: dict[str, Any]) -> Redirect:
    week = _text(form, "week")
    target = f"/rota?week={week}" if re.fullmatch(r"[0-9]{4}-[0-9]{2}-[0-9]{2}", week) else "/rota"
    return Redirect(target, status_code=303)


class RotaController(Controller):
    path = "/rota"
    tags = ("federation",)
    include_in_schema = False

    @get("/", operation_id="rotaPage", opt=ROTA_PEOPLE, summary="The week's shifts against the forecast")
    async def rota_page(self, request: Request[Any, Any, Any], week: DateQuery = "") -> Template:
        principal = await _principal(request)
        try:
            monday = rota.monday_of(_day(week, "week", _today(request)))
        except FederationError as error:
            raise _refused(error) from error
        config = await settings.load()
        view = await rota.week(
            monday,
            user_id=principal.user_id,
            now=_now(request),
            target=config.target,
            threshold_seconds=config.threshold_seconds,
            shrinkage=config.shrinkage,
            max_occupancy=config.max_occupancy,
        )
        pledges = await rota.pledge_status(monday, monday + dt.timedelta(days=6))
        coordinator = _is_coordinator(principal)
        admin_of = sorted({g.kommune for g in principal.grants if g.role == "kommune_admin"})
        context = {
            "view": view,
            "pledges": pledges,
            "previous": monday - dt.timedelta(days=7),
            "next": monday + dt.timedelta(days=7),
            "is_coordinator": coordinator,
            "is_agent": principal.has_role(("agent",)) is not None,
            "pledge_for": ["*"] if coordinator else admin_of,
            "weekdays": rota.WEEKDAYS,
            "dec": lambda value, digits=1: statement.decimal(value, digits, request.state.lang),
        }
        return page(request, "federation/rota.html", context)

    @post("/shifts", operation_id="planShift", opt=COORDINATOR, status_code=303)
    async def plan_shift(self, request: Request[Any, Any, Any], data: FormData) -> Redirect:
        principal = await _principal(request)
        try:
            plan = rota.plan_shift(
                _text(data, "date"),
                _text(data, "start"),
                _text(data, "end"),
                _text(data, "agents_wanted"),
                _now(request),
            )
            async with repository.transaction():
                await rota.create_shifts([plan], by=principal.actor.name, now=_now(request))
        except FederationError as error:
            raise _refused(error) from error
        return _back_to_week(data)

    @post("/shifts/bulk", operation_id="planShifts", opt=COORDINATOR, status_code=303)
    async def plan_bulk(self, request: Request[Any, Any, Any], data: FormData) -> Redirect:
        principal = await _principal(request)
        try:
            plans = rota.plan_bulk(
                _text(data, "from"),
                _text(data, "to"),
                _list(data, "weekdays"),
                _text(data, "start"),
                _text(data, "end"),
                _text(data, "agents_wanted"),
                _now(request),
            )
            async with repository.transaction():
                await rota.create_shifts(plans, by=principal.actor.name, now=_now(request))
        except FederationError as error:
            raise _refused(error) from error
        return _back_to_week(data)

    @post("/shifts/{shift_id:int}/delete", operation_id="deleteShift", opt=COORDINATOR, status_code=303)
    async def delete_shift(self, request: Request[Any, Any, Any], data: FormData, shift_id: ShiftParameter) -> Redirect:
        try:
            async with repository.transaction():
                await rota.delete_shift(shift_id, now=_now(request))
        except FederationError as error:
            raise _refused(error) from error
        return _back_to_week(data)

    @post("/shifts/{shift_id:int}/signup", operation_id="signUpToShift", opt=AGENT, status_code=303)
    async def sign_up(self, request: Request[Any, Any, Any], data: FormData, shift_id: ShiftParameter) -> Redirect:
        principal = await _principal(request)
        try:
            async with repository.transaction():
                await rota.sign_up(
                    shift_id,
                    user_id=principal.user_id,
                    home_kommune=principal.home_kommune,
                    name=principal.actor.name,
                    now=_now(request),
                )
        except FederationError as error:
            raise _refused(error) from error
        return _back_to_week(data)

    @post("/shifts/{shift_id:int}/withdraw", operation_id="withdrawFromShift", opt=AGENT, status_code=303)
    async def withdraw(self, request: Request[Any, Any, Any], data: FormData, shift_id: ShiftParameter) -> Redirect:
        principal = await _principal(request)
        try:
            async with repository.transaction():
                await rota.withdraw(shift_id, user_id=principal.user_id, now=_now(request))
        except FederationError as error:
            raise _refused(error) from error
        return _back_to_week(data)

    @post("/pledges", operation_id="pledgeHours", opt=READERS, status_code=303)
    async def pledge(self, request: Request[Any, Any, Any], data: FormData) -> Redirect:
        principal = await _principal(request)
        may = None if _is_coordinator(principal) else {g.kommune for g in principal.grants if g.role == "kommune_admin"}
        try:
            plan = await rota.plan_pledge(
                _text(data, "kommune_code"),
                _text(data, "period_start"),
                _text(data, "period_end"),
                _text(data, "hours"),
                may=may,
            )
            async with repository.transaction():
                pledge_id = await rota.save_pledge(plan, by=principal.actor.name, now=_now(request))
                await audit.record(
                    audit.CONFIG_CHANGED,
                    actor=principal.actor,
                    kommune_code=plan.kommune_code,
                    now=_now(request),
                    ip=client_ip(request),
                    target=f"pledge:{pledge_id}",
                    detail={"hours": plan.hours},
                )
        except FederationError as error:
            if error.forbidden:
                await audit.record(
                    audit.PERMISSION_DENIED,
                    actor=principal.actor,
                    kommune_code=_text(data, "kommune_code")[:4] if _text(data, "kommune_code").isdigit() else "",
                    now=_now(request),
                    ip=client_ip(request),
                    target="POST /rota/pledges",
                    outcome="denied",
                    detail={"needs": "kommune_admin of the pledged kommune"},
                )
            raise _refused(error) from error
        return _back_to_week(data)


# -- settlement ------------------------------------------------------------------------------------------------------


def _previous_month(today: dt.date) -> tuple[dt.date, dt.date]:
    last = today.replace(day=1) - dt.timedelta(days=1)
    return last.replace(day=1), last


async def _settlement_for(
    request: Request[Any, Any, Any], start: str, end: str, query: dict[str, str]
) -> tuple[Settlement, settings.FederationConfig]:
    config = await settings.load()
    default_start, default_end = _previous_month(_today(request))
    try:
        first = _day(start, "start", default_start)
        last = _day(end, "end", default_end)
        key: AllocationKey = (
            settings.key_from_form({k: v for k, v in query.items() if v}, config.key)
            if query.get("key")
            else config.key
        )
        return await compute_settlement(first, last, key, config.hourly_cost_ore), config
    except FederationError as error:
        raise _refused(error) from error


class SettlementController(Controller):
    path = "/settlement"
    tags = ("federation",)
    include_in_schema = False

    @get("/", operation_id="settlementPage", opt=COORDINATOR, summary="Who owes whom for a period")
    async def settlement_page(
        self,
        request: Request[Any, Any, Any],
        start: DateQuery = "",
        end: DateQuery = "",
        key: TextQuery = "",
        weight_calls: TextQuery = "",
        weight_minutes: TextQuery = "",
        weight_population: TextQuery = "",
    ) -> Template:
        query = {"key": key, "weight_calls": weight_calls, "weight_minutes": weight_minutes}
        query["weight_population"] = weight_population
        result, config = await _settlement_for(request, start, end, query)
        language = request.state.lang
        amounts = {k.code: statement.money(k.balance_ore, language) for k in result.kommuner}
        context = {
            "settlement": result,
            "config": config,
            "chart": charts.balance_chart(result, amounts),
            "money": lambda ore: statement.money(ore, language),
            "hours": lambda seconds: statement.hours_text(seconds, language),
            "dec": lambda value, digits=1: statement.decimal(value, digits, language),
            "period_query": f"start={result.start.isoformat()}&end={result.end.isoformat()}",
            "key_query": _key_query(result.key),
            "hourly_cost_kr": statement.kroner_dot(config.hourly_cost_ore),
        }
        return page(request, "federation/settlement.html", context)

    @post("/settings", operation_id="saveSettlementSettings", opt=COORDINATOR, status_code=303)
    async def save_settings(self, request: Request[Any, Any, Any], data: FormData) -> Redirect:
        principal = await _principal(request)
        fields = {"key", "weight_calls", "weight_minutes", "weight_population", "hourly_cost"}
        form = {k: v for k, v in data.items() if k in fields}
        try:
            async with repository.transaction():
                config = settings.from_form(form, await settings.load())
                await settings.save(config, by=principal.actor.name, now=_now(request))
                await _config_changed(request, principal, "federation:settlement_settings", fields=sorted(form))
        except FederationError as error:
            raise _refused(error) from error
        return Redirect("/settlement", status_code=303)

    @get(
        "/{code:str}/statement", operation_id="settlementStatementPage", opt=STATEMENT, summary="A kommune's statement"
    )
    async def statement_page(
        self, request: Request[Any, Any, Any], code: CodeParameter, start: DateQuery = "", end: DateQuery = ""
    ) -> Template:
        result, _ = await _settlement_for(request, start, end, {})
        balance = result.balance_of(code)
        if balance is None:
            raise NotFoundException(detail=f"code: {code!r} is not a member kommune in this settlement")
        language = request.state.lang
        context = {
            "settlement": result,
            "balance": balance,
            "money": lambda ore: statement.money(ore, language),
            "hours": lambda seconds: statement.hours_text(seconds, language),
            "key_text": statement.key_text(result, language if language in ("da", "en") else "da"),
            "dec": lambda value, digits=1: statement.decimal(value, digits, language),
            "period_query": f"start={result.start.isoformat()}&end={result.end.isoformat()}",
        }
        return page(request, "federation/statement.html", context)

    @get(
        "/{code:str}/statement.pdf",
        operation_id="settlementStatementPdf",
        opt=STATEMENT,
        summary="A kommune's settlement statement under the federation's letterhead (PDF)",
    )
    async def statement_pdf(
        self, request: Request[Any, Any, Any], code: CodeParameter, start: DateQuery = "", end: DateQuery = ""
    ) -> Response[bytes]:
        result, _ = await _settlement_for(request, start, end, {})
        pdf = await statement.statement_pdf(
            _pdf_renderer(request), result, code, language=request.state.lang, today=_today(request)
        )
        if pdf is None:
            raise NotFoundException(detail=f"code: {code!r} is not a member kommune in this settlement")
        headers = {**PDF_HEADERS, "Content-Disposition": f'inline; filename="settlement-{code}.pdf"'}
        return Response(pdf, media_type="application/pdf", headers=headers)

    @get(
        "/{name:str}",
        operation_id="settlementStatementAlias",
        opt=READERS,
        summary="/settlement/<code>.pdf: the statement's short address (redirects to the guarded one)",
    )
    async def statement_alias(
        self, request: Request[Any, Any, Any], name: Annotated[str, PathParameter(max_length=16)]
    ) -> Redirect:
        # Litestar path parameters are whole segments, so "<code>.pdf" is matched here and sent on to
        # /settlement/<code>/statement.pdf, where the one guard checks the kommune.
        match = _STATEMENT_FILE.match(name)
        if match is None:
            raise NotFoundException(detail="No such page: use /settlement/<kommune code>.pdf")
        query = request.url.query
        return Redirect(f"/settlement/{match.group(1)}/statement.pdf" + (f"?{query}" if query else ""), status_code=307)


@get(
    "/settlement.csv",
    operation_id="settlementCsv",
    opt=COORDINATOR,
    summary="The settlement of a period as CSV for the finance systems",
    include_in_schema=False,
)
async def settlement_csv(
    request: Request[Any, Any, Any],
    start: DateQuery = "",
    end: DateQuery = "",
    key: TextQuery = "",
    weight_calls: TextQuery = "",
    weight_minutes: TextQuery = "",
    weight_population: TextQuery = "",
) -> Response[str]:
    query = {"key": key, "weight_calls": weight_calls, "weight_minutes": weight_minutes}
    query["weight_population"] = weight_population
    result, _ = await _settlement_for(request, start, end, query)
    name = f"settlement-{result.start.isoformat()}-{result.end.isoformat()}.csv"
    return Response(
        statement.settlement_csv(result),
        media_type="text/csv; charset=utf-8",
        headers={"Content-Disposition": f'attachment; filename="{name}"', "Cache-Control": "no-store"},
    )


def _key_query(key: AllocationKey) -> str:
    text = f"key={key.kind}"
    if key.kind == "mix":
        text += f"&weight_calls={key.calls}&weight_minutes={key.minutes}&weight_population={key.population}"
    return text

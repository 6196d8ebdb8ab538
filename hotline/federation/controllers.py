"""HTTP handlers of the federation area: the forecast, the rota and the settlement (pages, the CSV, the PDF
statements and a small JSON API). Each handler declares its access; the rules live in the service modules.

Access: the coordinator plans, configures and settles; a kommune admin reads the forecast, pledges for its own
kommune and reads its own statement; an agent signs up to shifts. A refused form (or a page's filter) comes back
as the same page with 422, what was typed kept and the refusal next to the field it names; the JSON API, the CSV
and the PDF answer 400 naming the field. A pledge for another kommune is 403, audited like the guard's refusals.
"""

from __future__ import annotations

import datetime as dt
import re
from dataclasses import dataclass
from typing import Annotated, Any

from litestar import Controller, Request, Response, get, post
from litestar.di import NamedDependency, Provide
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

from hotline.db.engine import INTEGER_MAX
from hotline.federation import charts, forecast, repository, rota, settings, statement
from hotline.federation.forecast import CPH
from hotline.federation.forms import NONE, Refusal, form_list, form_text
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
ShiftParameter = Annotated[int, PathParameter(ge=1, le=INTEGER_MAX)]
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


_text = form_text
_list = form_list


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


async def _forecast_page(
    request: Request[Any, Any, Any], first: dt.date, refused: Refusal = NONE, status: int = 200
) -> Template:
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
        "refused": refused,
        "dec": lambda value, digits=1: statement.decimal(value, digits, request.state.lang),
    }
    return page(request, "federation/forecast.html", context, status_code=status)


class ForecastController(Controller):
    path = "/forecast"
    tags = ("federation",)
    include_in_schema = False

    @get("/", operation_id="forecastPage", opt=READERS, summary="Calls and agents needed per evening")
    async def forecast_page(self, request: Request[Any, Any, Any], day: DateQuery = "") -> Template:
        try:
            first = _day(day, "day", _today(request))
        except FederationError as error:
            refusal = Refusal.of("day", error, {"day": day}, request.state.lang)
            return await _forecast_page(request, _today(request), refusal, 422)
        return await _forecast_page(request, first)

    @post("/settings", operation_id="saveForecastSettings", opt=COORDINATOR, status_code=303)
    async def save_settings(self, request: Request[Any, Any, Any], data: FormData) -> Redirect | Template:
        principal = await _principal(request)
        form = {k: v for k, v in data.items() if k in {"target", "threshold_seconds", "shrinkage", "max_occupancy"}}
        try:
            async with repository.transaction():
                config = settings.from_form(form, await settings.load())
                await settings.save(config, by=principal.actor.name, now=_now(request))
                await _config_changed(request, principal, "federation:forecast_settings", fields=sorted(form))
        except FederationError as error:
            refusal = Refusal.of("settings", error, form, request.state.lang)
            return await _forecast_page(request, _today(request), refusal, 422)
        return Redirect("/forecast", status_code=303)


# -- the settlement's query: one parser for the page, the JSON API and the CSV ------------------------------------


@dataclass(frozen=True)
class SettlementQuery:
    """The period and (optionally) the allocation key a settlement is asked for, as typed."""

    start: str = ""
    end: str = ""
    key: str = ""
    weight_calls: str = ""
    weight_minutes: str = ""
    weight_population: str = ""

    def as_form(self) -> dict[str, str]:
        return {name: getattr(self, name) for name in SettlementQuery.__dataclass_fields__}


def _settlement_query(
    start: DateQuery = "",
    end: DateQuery = "",
    key: TextQuery = "",
    weight_calls: TextQuery = "",
    weight_minutes: TextQuery = "",
    weight_population: TextQuery = "",
) -> SettlementQuery:
    return SettlementQuery(start, end, key, weight_calls, weight_minutes, weight_population)


SETTLEMENT_QUERY = {"settlement_query": Provide(_settlement_query, sync_to_thread=False)}


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

    @get(
        "/settlement",
        operation_id="settlement",
        opt=COORDINATOR,
        summary="The settlement of a period (JSON)",
        dependencies=SETTLEMENT_QUERY,
    )
    async def settlement_api(
        self, request: Request[Any, Any, Any], settlement_query: NamedDependency[SettlementQuery]
    ) -> Settlement:
        settlement, _ = await _settlement_for(request, settlement_query)
        return settlement


# -- rota -------------------------------------------------------------------------------------------------------------


def _back_to_week(form: dict[str, Any]) -> Redirect:
    week = _text(form, "week")
    target = f"/rota?week={week}" if re.fullmatch(r"[0-9]{4}-[0-9]{2}-[0-9]{2}", week) else "/rota"
    return Redirect(target, status_code=303)


def _monday_of_form(request: Request[Any, Any, Any], form: dict[str, Any]) -> dt.date:
    try:
        return rota.monday_of(_day(_text(form, "week"), "week", _today(request)))
    except FederationError:
        return rota.monday_of(_today(request))


async def _rota_page(
    request: Request[Any, Any, Any],
    principal: Principal,
    monday: dt.date,
    refused: Refusal = NONE,
    status: int = 200,
) -> Template:
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
        "refused": refused,
        "dec": lambda value, digits=1: statement.decimal(value, digits, request.state.lang),
    }
    return page(request, "federation/rota.html", context, status_code=status)


async def _rota_refused(
    request: Request[Any, Any, Any],
    principal: Principal,
    form: str,
    error: FederationError,
    data: dict[str, Any],
    shift_id: int | None = None,
) -> Template:
    """The rota again with the refusal beside the field (or the shift) it names; a missing shift stays 404."""
    if error.not_found or error.forbidden:
        raise _refused(error) from error
    refusal = Refusal.of(form, error, data, request.state.lang, shift_id)
    return await _rota_page(request, principal, _monday_of_form(request, data), refusal, 422)


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
            refusal = Refusal.of("week", error, {"week": week}, request.state.lang)
            return await _rota_page(request, principal, rota.monday_of(_today(request)), refusal, 422)
        return await _rota_page(request, principal, monday)

    @post("/shifts", operation_id="planShift", opt=COORDINATOR, status_code=303)
    async def plan_shift(self, request: Request[Any, Any, Any], data: FormData) -> Redirect | Template:
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
            return await _rota_refused(request, principal, "plan", error, data)
        return _back_to_week(data)

    @post("/shifts/bulk", operation_id="planShifts", opt=COORDINATOR, status_code=303)
    async def plan_bulk(self, request: Request[Any, Any, Any], data: FormData) -> Redirect | Template:
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
            return await _rota_refused(request, principal, "bulk", error, data)
        return _back_to_week(data)

    @post("/shifts/{shift_id:int}/delete", operation_id="deleteShift", opt=COORDINATOR, status_code=303)
    async def delete_shift(
        self, request: Request[Any, Any, Any], data: FormData, shift_id: ShiftParameter
    ) -> Redirect | Template:
        try:
            async with repository.transaction():
                await rota.delete_shift(shift_id, now=_now(request))
        except FederationError as error:
            return await _rota_refused(request, await _principal(request), "shift", error, data, shift_id)
        return _back_to_week(data)

    @post("/shifts/{shift_id:int}/signup", operation_id="signUpToShift", opt=AGENT, status_code=303)
    async def sign_up(
        self, request: Request[Any, Any, Any], data: FormData, shift_id: ShiftParameter
    ) -> Redirect | Template:
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
            return await _rota_refused(request, principal, "shift", error, data, shift_id)
        return _back_to_week(data)

    @post("/shifts/{shift_id:int}/withdraw", operation_id="withdrawFromShift", opt=AGENT, status_code=303)
    async def withdraw(
        self, request: Request[Any, Any, Any], data: FormData, shift_id: ShiftParameter
    ) -> Redirect | Template:
        principal = await _principal(request)
        try:
            async with repository.transaction():
                await rota.withdraw(shift_id, user_id=principal.user_id, now=_now(request))
        except FederationError as error:
            return await _rota_refused(request, principal, "shift", error, data, shift_id)
        return _back_to_week(data)

    @post("/pledges", operation_id="pledgeHours", opt=READERS, status_code=303)
    async def pledge(self, request: Request[Any, Any, Any], data: FormData) -> Redirect | Template:
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
            return await _rota_refused(request, principal, "pledge", error, data)
        return _back_to_week(data)


# -- settlement ------------------------------------------------------------------------------------------------------


def _previous_month(today: dt.date) -> tuple[dt.date, dt.date]:
    last = today.replace(day=1) - dt.timedelta(days=1)
    return last.replace(day=1), last


async def _settle(
    request: Request[Any, Any, Any], query: SettlementQuery, config: settings.FederationConfig
) -> Settlement:
    """The settlement ``query`` asks for (the previous month and the configured key by default)."""
    default_start, default_end = _previous_month(_today(request))
    first = _day(query.start, "start", default_start)
    last = _day(query.end, "end", default_end)
    given = {k: v for k, v in query.as_form().items() if v and k not in {"start", "end"}}
    key: AllocationKey = settings.key_from_form(given, config.key) if query.key else config.key
    return await compute_settlement(first, last, key, config.hourly_cost_ore)


async def _settlement_for(
    request: Request[Any, Any, Any], query: SettlementQuery
) -> tuple[Settlement, settings.FederationConfig]:
    config = await settings.load()
    try:
        return await _settle(request, query, config), config
    except FederationError as error:
        raise _refused(error) from error


async def _settlement_page(
    request: Request[Any, Any, Any],
    query: SettlementQuery,
    refused: Refusal = NONE,
    status: int = 200,
) -> Template:
    """The page of the settlement ``query`` asks for; when that is refused, the default settlement with the
    refusal beside the field of the period filter."""
    config = await settings.load()
    try:
        result = await _settle(request, query, config)
    except FederationError as error:
        if error.field == "members" or refused is not NONE:  # nothing the filter could change
            raise _refused(error) from error
        refusal = Refusal.of("filter", error, query.as_form(), request.state.lang)
        return await _settlement_page(request, SettlementQuery(), refusal, 422)
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
        "refused": refused,
    }
    return page(request, "federation/settlement.html", context, status_code=status)


class SettlementController(Controller):
    path = "/settlement"
    tags = ("federation",)
    include_in_schema = False

    @get(
        "/",
        operation_id="settlementPage",
        opt=COORDINATOR,
        summary="Who owes whom for a period",
        dependencies=SETTLEMENT_QUERY,
    )
    async def settlement_page(
        self, request: Request[Any, Any, Any], settlement_query: NamedDependency[SettlementQuery]
    ) -> Template:
        return await _settlement_page(request, settlement_query)

    @post("/settings", operation_id="saveSettlementSettings", opt=COORDINATOR, status_code=303)
    async def save_settings(self, request: Request[Any, Any, Any], data: FormData) -> Redirect | Template:
        principal = await _principal(request)
        fields = {"key", "weight_calls", "weight_minutes", "weight_population", "hourly_cost"}
        form = {k: v for k, v in data.items() if k in fields}
        try:
            async with repository.transaction():
                config = settings.from_form(form, await settings.load())
                await settings.save(config, by=principal.actor.name, now=_now(request))
                await _config_changed(request, principal, "federation:settlement_settings", fields=sorted(form))
        except FederationError as error:
            refusal = Refusal.of("settings", error, form, request.state.lang)
            return await _settlement_page(request, SettlementQuery(), refusal, 422)
        return Redirect("/settlement", status_code=303)

    @get(
        "/{code:str}/statement", operation_id="settlementStatementPage", opt=STATEMENT, summary="A kommune's statement"
    )
    async def statement_page(
        self, request: Request[Any, Any, Any], code: CodeParameter, start: DateQuery = "", end: DateQuery = ""
    ) -> Template:
        result, _ = await _settlement_for(request, SettlementQuery(start, end))
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
        result, _ = await _settlement_for(request, SettlementQuery(start, end))
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
    dependencies=SETTLEMENT_QUERY,
)
async def settlement_csv(
    request: Request[Any, Any, Any], settlement_query: NamedDependency[SettlementQuery]
) -> Response[str]:
    result, _ = await _settlement_for(request, settlement_query)
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

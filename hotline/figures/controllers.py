"""HTTP handlers of the figures area: the kommune admin's dashboard and targets, the coordinator's federation
dashboard, the public survey page and the public "best times to call" page. Every table is exportable as CSV with
``?format=csv``. Handlers parse, call the service and return; the numbers come from :mod:`hotline.figures.service`.
"""

from __future__ import annotations

import csv
import datetime as dt
import io
import re
import time
from dataclasses import dataclass
from typing import Annotated, Any

from litestar import Controller, Request, Response, get, post
from litestar.di import NamedDependency, Provide
from litestar.enums import RequestEncodingType
from litestar.exceptions import NotFoundException, ValidationException
from litestar.params import Body, PathParameter, QueryParameter
from litestar.response import Redirect, Template
from markupsafe import Markup

from hotline.figures import best_times, charts, repository, service, survey, targets
from hotline.figures.service import CPH, FIGURES, Period, PeriodError, Report, Thresholds
from hotline.identity.guards import federation_access, kommune_access, principal_of, public
from hotline.tenancy import repository as tenancy_repository
from hotline.tenancy import service as tenancy
from hotline.web.i18n import translate
from hotline.web.templating import page

CodeParameter = Annotated[str, PathParameter(description="4-digit kommune code, e.g. 0751", max_length=16)]
TokenParameter = Annotated[str, PathParameter(description="The survey link's token", max_length=200)]
DateQuery = Annotated[str, QueryParameter(description="A Copenhagen date, YYYY-MM-DD", max_length=32)]
FormatQuery = Annotated[str, QueryParameter(description="'csv' for a CSV export", max_length=8)]
SecondsQuery = Annotated[str, QueryParameter(description="Seconds", max_length=8)]
FormData = Annotated[dict[str, Any], Body(media_type=RequestEncodingType.URL_ENCODED)]
_CODE = re.compile(r"^[0-9]{4}$")
ADMIN = kommune_access("kommune_admin", "coordinator")
COORDINATOR = federation_access("coordinator")

# The dashboard's table: figure keys in the order people read them.
DASHBOARD_FIGURES = (
    "offered",
    "answered",
    "abandoned",
    "short_abandoned",
    "abandon_rate",
    "asa",
    "sl1",
    "sl2",
    "fcr",
    "transfers",
    "misrouted",
    "non_member",
    "callbacks",
    "callback_sl",
    "letters",
    "letters_sl",
    "handoffs",
    "handoff_week",
    "handoffs_overdue",
    "surveys",
    "csat",
    "good_treatment",
    "nps",
)
FEDERATION_COLUMNS = (
    "offered",
    "answered",
    "abandon_rate",
    "asa",
    "sl1",
    "fcr",
    "callback_sl",
    "csat",
    "good_treatment",
    "nps",
)


def _now(request: Request[Any, Any, Any]) -> dt.datetime:
    now: dt.datetime = request.app.state.services.clock()
    return now


def _kommune(code: str) -> str:
    if not _CODE.match(code):
        raise NotFoundException(detail=f"No kommune with code {code[:16]!r}: use the 4-digit kommune code, e.g. '0751'")
    return code


def _bad(field: str, message: str) -> ValidationException:
    return ValidationException(detail=message, extra=[{"key": field, "message": message}])


def _period(start: str, end: str, now: dt.datetime) -> Period:
    try:
        if not start and not end:
            return service.month_of(now.astimezone(CPH).date())
        if not start or not end:
            missing = "from" if not start else "to"
            raise PeriodError(missing, f"{missing}: give both from and to (YYYY-MM-DD), or neither")
        return Period.parse(start, end)
    except PeriodError as error:
        raise _bad(error.field, error.message) from None


def _thresholds(short: str, sl1: str, sl2: str) -> Thresholds:
    values: dict[str, int] = {}
    for name, text, default in (("short", short, 5), ("sl1", sl1, 30), ("sl2", sl2, 60)):
        if not text:
            values[name] = default
        elif text.isdigit():
            values[name] = int(text)
        else:
            raise _bad(name, f"{name}: {text[:8]!r} is not a whole number of seconds")
    try:
        return Thresholds(short_abandon=values["short"], first=values["sl1"], second=values["sl2"])
    except PeriodError as error:
        raise _bad(error.field, error.message) from None


@dataclass(frozen=True)
class FiguresQuery:
    """What both dashboards are asked for: the period, the service-level thresholds and the format."""

    period: Period
    thresholds: Thresholds
    format: str

    def csv_query(self) -> str:
        """The query of the same figures as CSV."""
        t = self.thresholds
        return (
            f"from={self.period.start.isoformat()}&to={self.period.end.isoformat()}"
            f"&short={t.short_abandon}&sl1={t.first}&sl2={t.second}&format=csv"
        )


def _figures_query(
    request: Request[Any, Any, Any],
    start: Annotated[str, QueryParameter(name="from", max_length=32)] = "",
    end: Annotated[str, QueryParameter(name="to", max_length=32)] = "",
    format: FormatQuery = "",
    short: SecondsQuery = "",
    sl1: SecondsQuery = "",
    sl2: SecondsQuery = "",
) -> FiguresQuery:
    period = _period(start, end, _now(request))
    thresholds = _thresholds(short, sl1, sl2)
    if format not in {"", "html", "csv"}:
        raise _bad("format", "format: use 'csv' or leave it out")
    return FiguresQuery(period, thresholds, format)


FIGURES_QUERY = {"figures_query": Provide(_figures_query, sync_to_thread=False)}


def _label(language: str, key: str, thresholds: Thresholds) -> str:
    return translate(
        language, f"figures.fig.{key}", short=thresholds.short_abandon, sl1=thresholds.first, sl2=thresholds.second
    )


def _format(value: float | None, unit: str) -> str:
    if value is None:
        return "–"
    if unit == "percent":
        return f"{value:g} %"
    if unit == "seconds":
        return f"{value:g} s"
    return f"{value:g}"


def _csv(rows: list[list[Any]], filename: str) -> Response[str]:
    out = io.StringIO()
    writer = csv.writer(out)
    for row in rows:
        writer.writerow(["" if cell is None else cell for cell in row])
    return Response(
        out.getvalue(),
        media_type="text/csv; charset=utf-8",
        headers={"Content-Disposition": f'attachment; filename="{filename}"'},
    )


def _target_rows(language: str, report: Report, goals: dict[str, targets.Target]) -> list[dict[str, Any]]:
    values = report.total.values()
    rows = []
    for key in DASHBOARD_FIGURES:
        info = FIGURES[key]
        goal = goals.get(key)
        met = goal.met(values[key]) if goal else None
        rows.append(
            {
                "key": key,
                "label": _label(language, key, report.thresholds),
                "value": values[key],
                "shown": _format(values[key], info.unit),
                "target": f"{goal.comparison.replace('<=', '≤').replace('>=', '≥')} {_format(goal.value, info.unit)}"
                if goal
                else "",
                "target_value": goal.value if goal else None,
                "comparison": goal.comparison if goal else "",
                "met": met,
                "own": goal.own if goal else False,
            }
        )
    return rows


CSV_TABLES = ("figures", "days", "topics", "heatmap")


def _detail_rows(report: Report, table: str, *, weekdays: list[str]) -> list[list[Any]]:
    """The numbers behind a dashboard chart, as CSV rows (header first)."""
    if table == "days":
        return [["day", "offered", "answered", "sl1"]] + [
            [d.day.isoformat(), d.offered, d.answered, d.sl1] for d in report.days
        ]
    if table == "topics":
        keys = ("offered", "answered", "asa", "fcr", "surveys", "csat", "good_treatment", "nps")
        rows: list[list[Any]] = [["topic", *keys]]
        for topic, figures in report.by_topic.items():
            values = figures.values()
            rows.append([topic, *(values[key] for key in keys)])
        return rows
    heat = report.heatmap or service.Heatmap()
    return [["weekday", "hour", "offered", "answered", "average_wait"]] + [
        [weekdays[day], hour, heat.offered[day][hour], heat.answered[day][hour], heat.average_wait(day, hour)]
        for day in range(7)
        for hour in range(24)
    ]


async def _actor(request: Request[Any, Any, Any]) -> str:
    principal = await principal_of(request)
    return str(principal.actor.id) if principal is not None else ""


async def _tenant_or_404(code: str) -> tenancy.Tenant:
    tenant = await tenancy.get_tenant(_kommune(code))
    if tenant is None:
        raise NotFoundException(detail=f"No kommune with code {code!r}")
    return tenant


class FiguresAdminController(Controller):
    """A kommune's figures, targets and best-times publication (kommune admin of that kommune, or coordinator)."""

    path = "/admin/{code:str}/figures"
    tags = ("figures",)
    include_in_schema = False

    @get(
        "/",
        operation_id="kommuneFigures",
        opt=ADMIN,
        summary="A kommune's figures against its targets",
        dependencies=FIGURES_QUERY,
    )
    async def dashboard(
        self,
        request: Request[Any, Any, Any],
        code: CodeParameter,
        figures_query: NamedDependency[FiguresQuery],
        table: Annotated[
            str, QueryParameter(description="CSV of: figures (default), days, topics or heatmap", max_length=16)
        ] = "figures",
    ) -> Template | Response[str]:
        tenant = await _tenant_or_404(code)
        now = _now(request)
        period, thresholds, format = figures_query.period, figures_query.thresholds, figures_query.format
        language = request.state.lang
        report = await service.compute(period, kommune=code, now=now, thresholds=thresholds)
        goals = await targets.targets_for(code)
        rows = _target_rows(language, report, goals)
        if table not in CSV_TABLES:
            raise _bad("table", f"table: use one of {', '.join(CSV_TABLES)}")
        if format == "csv" and table != "figures":
            return _csv(_detail_rows(report, table, weekdays=charts.weekday_names("en")), f"{table}-{code}.csv")
        if format == "csv":
            header = ["kommune", "from", "to", "figure", "label", "value", "target", "met"]
            return _csv(
                [header]
                + [
                    [
                        code,
                        period.start.isoformat(),
                        period.end.isoformat(),
                        r["key"],
                        r["label"],
                        r["value"],
                        f"{r['comparison']} {r['target_value']:g}" if r["comparison"] else "",
                        "" if r["met"] is None else ("yes" if r["met"] else "no"),
                    ]
                    for r in rows
                ],
                f"figures-{code}-{period.start.isoformat()}-{period.end.isoformat()}.csv",
            )
        return page(request, "figures/dashboard.html", await _dashboard_context(request, tenant, report, rows, goals))

    @get("/targets", operation_id="kommuneTargetsForm", opt=ADMIN, summary="The kommune's targets (form)")
    async def targets_form(self, request: Request[Any, Any, Any], code: CodeParameter) -> Template:
        tenant = await _tenant_or_404(code)
        return page(request, "figures/targets.html", _targets_context(request, tenant, await targets.targets_for(code)))

    @post("/targets", operation_id="saveKommuneTargets", opt=ADMIN, summary="Set the kommune's targets")
    async def save_targets(self, request: Request[Any, Any, Any], code: CodeParameter, data: FormData) -> Redirect:
        await _tenant_or_404(code)
        try:
            parsed = targets.parse_targets(data)
        except targets.TargetError as error:
            raise _bad(error.field, error.message) from None
        await targets.save_targets(code, parsed, by=await _actor(request), now=_now(request))
        return Redirect(path=f"/admin/{code}/figures", status_code=303)

    @post(
        "/best-times",
        operation_id="publishBestTimes",
        opt=ADMIN,
        summary="Publish or withdraw the public best-times page",
    )
    async def publish_best_times(
        self, request: Request[Any, Any, Any], code: CodeParameter, data: FormData
    ) -> Redirect:
        await _tenant_or_404(code)
        raw = data.get("published", "")
        choice = str(raw[0] if isinstance(raw, list) else raw)
        if choice not in {"yes", "no"}:
            raise _bad("published", "published: answer 'yes' or 'no'")
        async with repository.transaction():
            await repository.set_best_times_published(code, choice == "yes", await _actor(request), _now(request))
        return Redirect(path=f"/admin/{code}/figures#best-times", status_code=303)


async def _dashboard_context(
    request: Request[Any, Any, Any],
    tenant: tenancy.Tenant,
    report: Report,
    rows: list[dict[str, Any]],
    goals: dict[str, targets.Target],
) -> dict[str, Any]:
    language = request.state.lang
    t = report.thresholds
    weekdays = charts.weekday_names(language)
    names = {
        row["code"]: row["name_en" if language == "en" else "name_da"] for row in await tenancy_repository.topics()
    }
    topics = [
        (names.get(code, code) if code else translate(language, "figures.no_topic"), f)
        for code, f in report.by_topic.items()
    ]
    heat = report.heatmap or service.Heatmap()
    sl_target = goals.get("sl1")
    csat_topics = [(name, f.values()["csat"] or 0.0) for name, f in topics if f.surveys]
    return {
        "code": tenant.code,
        "tenant": tenant,
        "period": report.period,
        "period_label": charts.period_label(report.period.start, report.period.end),
        "thresholds": t,
        "rows": rows,
        "days": report.days,
        "topics": topics,
        "weekdays": weekdays,
        "heat": heat,
        "best": best_times.rank(heat, report.period),
        "published": await repository.best_times_published(tenant.code),
        "csv_query": FiguresQuery(report.period, t, "csv").csv_query(),
        "chart_days": charts.day_bars(
            report.days,
            title=translate(language, "figures.chart.days"),
            offered_label=_label(language, "offered", t),
            answered_label=_label(language, "answered", t),
        ),
        "chart_sl": charts.line_vs_target(
            report.days,
            sl_target.value if sl_target and sl_target.comparison == ">=" else None,
            title=translate(language, "figures.chart.sl", sl1=t.first),
            line_label=_label(language, "sl1", t),
            target_label=translate(language, "figures.target"),
        ),
        "chart_topics": charts.hbars(
            [(name, float(f.offered)) for name, f in topics[:12]], title=translate(language, "figures.chart.topics")
        ),
        "chart_csat": charts.hbars(
            csat_topics[:12], title=translate(language, "figures.chart.csat"), unit=" %", colour=charts.LINE
        ),
        "chart_heat_volume": charts.heatmap(
            heat,
            weekdays=weekdays,
            title=translate(language, "figures.chart.heat_volume"),
            measure="offered",
            unit="",
            legend_label=translate(language, "figures.legend.calls"),
        ),
        "chart_heat_wait": charts.heatmap(
            heat,
            weekdays=weekdays,
            title=translate(language, "figures.chart.heat_wait"),
            measure="wait",
            unit=" s",
            legend_label=translate(language, "figures.legend.wait"),
        ),
        "now": _now(request),
    }


def _targets_context(
    request: Request[Any, Any, Any], tenant: tenancy.Tenant, goals: dict[str, targets.Target]
) -> dict[str, Any]:
    language = request.state.lang
    thresholds = Thresholds()
    items = []
    for key, info in FIGURES.items():
        if info.better == "":
            continue
        goal = goals.get(key)
        items.append(
            {
                "key": key,
                "label": _label(language, key, thresholds),
                "unit": info.unit,
                "low": info.low,
                "high": info.high,
                "value": f"{goal.value:g}" if goal and goal.own else "",
                "default": f"{targets.DEFAULTS[key].value:g}" if key in targets.DEFAULTS else "",
                "comparison": goal.comparison if goal else ("<=" if info.better == "low" else ">="),
            }
        )
    return {"code": tenant.code, "tenant": tenant, "items": items}


_names: tuple[float, dict[str, str]] = (0.0, {})
NAMES_TTL = 300.0


async def _kommune_names() -> dict[str, str]:
    """Kommune names by code for the federation table, cached a few minutes per process (names rarely change and
    loading every tenant with its calendars costs more than the figures' own queries)."""
    global _names
    loaded_at, names = _names
    if not names or time.monotonic() - loaded_at > NAMES_TTL:
        names = {tenant.code: tenant.name for tenant in await tenancy.load_tenants()}
        _names = (time.monotonic(), names)
    return names


class FederationFiguresController(Controller):
    """All kommuner side by side (the coordinator)."""

    path = "/figures"
    tags = ("figures",)
    include_in_schema = False

    @get(
        "/",
        operation_id="federationFigures",
        opt=COORDINATOR,
        summary="The federation's figures per kommune",
        dependencies=FIGURES_QUERY,
    )
    async def dashboard(
        self,
        request: Request[Any, Any, Any],
        figures_query: NamedDependency[FiguresQuery],
        sort: Annotated[str, QueryParameter(max_length=32)] = "offered",
    ) -> Template | Response[str]:
        now = _now(request)
        period, thresholds, format = figures_query.period, figures_query.thresholds, figures_query.format
        if sort not in FIGURES and sort != "name":
            raise _bad("sort", f"sort: there is no figure called {sort[:32]!r}")
        language = request.state.lang
        report = await service.compute(
            period, kommune=None, now=now, thresholds=thresholds, by_kommune=True, detail=False
        )
        names = await _kommune_names()
        all_goals = await targets.all_kommune_targets()
        table: list[dict[str, Any]] = []
        for code, figures in report.by_kommune.items():
            values = figures.values()
            goals = all_goals.get(code, targets.DEFAULTS)
            table.append(
                {
                    "code": code,
                    "name": names.get(code, code or translate(language, "figures.unknown_kommune")),
                    "values": values,
                    "met": {key: goals[key].met(values[key]) if key in goals else None for key in FIGURES},
                }
            )
        if sort == "name":
            table.sort(key=lambda r: r["name"])
        else:
            table.sort(key=lambda r: (r["values"][sort] is None, -(r["values"][sort] or 0)))
        if format == "csv":
            header = ["kommune", "name", "from", "to", *FIGURES]
            return _csv(
                [header]
                + [
                    [r["code"], r["name"], period.start.isoformat(), period.end.isoformat()]
                    + [r["values"][key] for key in FIGURES]
                    for r in table
                ]
                + [
                    ["*", "federation", period.start.isoformat(), period.end.isoformat()]
                    + [report.total.values()[key] for key in FIGURES]
                ],
                f"figures-federation-{period.start.isoformat()}-{period.end.isoformat()}.csv",
            )
        tops = {key: max((r["values"][key] or 0 for r in table), default=0) for key in FEDERATION_COLUMNS}
        columns = [
            {"key": key, "label": _label(language, key, thresholds), "unit": FIGURES[key].unit}
            for key in FEDERATION_COLUMNS
        ]
        for row in table:
            row["cells"] = [
                {
                    "shown": _format(row["values"][c["key"]], c["unit"]),
                    "bar": charts.inline_bar(row["values"][c["key"]], tops[c["key"]], label=""),
                    "met": row["met"].get(c["key"]),
                }
                for c in columns
            ]
        total_values = report.total.values()
        chart = _federation_chart(language, table, all_goals, thresholds)
        return page(
            request,
            "figures/federation.html",
            {
                "period": period,
                "period_label": charts.period_label(period.start, period.end),
                "thresholds": thresholds,
                "columns": columns,
                "table": table,
                "chart": chart,
                "sort": sort,
                "total": [_format(total_values[c["key"]], c["unit"]) for c in columns],
                "csv_query": figures_query.csv_query(),
                "base_query": f"from={period.start.isoformat()}&to={period.end.isoformat()}",
                # Looked up once: the table has a cell per kommune and figure.
                "met_label": translate(language, "figures.met"),
                "missed_label": translate(language, "figures.missed"),
            },
        )


def _federation_chart(
    language: str, table: list[dict[str, Any]], all_goals: dict[str, dict[str, targets.Target]], t: Thresholds
) -> Markup:
    """The federation dashboard's picture: calls, answer speed and first-contact resolution per kommune, the last
    two against each kommune's own target, in the table's order."""

    def panel(key: str) -> charts.Panel:
        unit = {"seconds": " s", "percent": " %"}.get(FIGURES[key].unit, "")
        return charts.Panel(
            title=_label(language, key, t),
            unit=unit,
            values=[row["values"][key] for row in table],
            targets=[all_goals.get(row["code"], targets.DEFAULTS).get(key) for row in table],
        )

    return charts.kommune_panels(
        [row["name"] for row in table],
        [panel("offered"), panel("asa"), panel("fcr")],
        title=translate(language, "figures.chart.federation"),
        met_label=translate(language, "figures.met"),
        missed_label=translate(language, "figures.missed"),
        target_label=translate(language, "figures.target"),
    )


def _survey_refused(request: Request[Any, Any, Any], error: survey.SurveyError, tenant: Any = None) -> Template:
    return page(
        request,
        "figures/survey_closed.html",
        {"problem": error.problem, "detail": error.message, "tenant": tenant},
        status_code=_refused_status(request, error.status) if request.method == "POST" else error.status,
    )


class SurveyController(Controller):
    """The citizen's survey page: public (the random token is the only key), works once, expires. One question
    first; the optional follow-up is the next step, posted to the same address with its own token (``followup``).
    Plain form posts; with htmx the same posts swap only the survey's section."""

    path = "/survey"
    tags = ("figures",)
    include_in_schema = False

    @get("/{token:str}", operation_id="surveyPage", opt=public(), summary="The satisfaction survey")
    async def show(self, request: Request[Any, Any, Any], token: TokenParameter) -> Template:
        try:
            open_survey = await survey.open_survey(token, _now(request))
        except survey.SurveyError as error:
            return _survey_refused(request, error)
        tenant = await tenancy.get_tenant(open_survey.kommune_code)
        return page(request, "figures/survey.html", _survey_context(tenant, token, {}))

    @post("/{token:str}", operation_id="answerSurvey", opt=public(), summary="Answer the satisfaction question")
    async def answer(self, request: Request[Any, Any, Any], token: TokenParameter, data: FormData) -> Template:
        if _form_value(data, "followup"):
            return await _answer_followup(request, token, data)
        now = _now(request)
        try:
            open_survey = await survey.open_survey(token, now)
        except survey.SurveyError as error:
            return _survey_refused(request, error)
        tenant = await tenancy.get_tenant(open_survey.kommune_code)
        try:
            _, followup = await survey.submit(token, data, now)
        except survey.SurveyError as error:
            if error.status == 422:
                context = _survey_context(tenant, token, data)
                context["error_field"] = error.field
                return page(request, "figures/survey.html", context, status_code=_refused_status(request, 422))
            return _survey_refused(request, error, tenant)
        context = _followup_context(tenant, token, open_survey.kommune_code, followup, {})
        return page(request, "figures/survey_more.html", context)


async def _answer_followup(request: Request[Any, Any, Any], token: str, data: dict[str, Any]) -> Template:
    """The optional follow-up, posted to the same address: its own one-use token (not the used link) decides."""
    followup = _form_value(data, "followup")[:100]
    kommune = _form_value(data, "kommune")[:4]
    tenant = await tenancy.get_tenant(kommune) if _CODE.match(kommune) else None
    try:
        await survey.submit_followup(followup, data, _now(request))
    except survey.SurveyError as error:
        if error.status == 422:
            context = _followup_context(tenant, token, kommune, followup, data)
            context["error_field"] = error.field
            return page(request, "figures/survey_more.html", context, status_code=_refused_status(request, 422))
        return _survey_refused(request, error, tenant)
    return page(request, "figures/survey_thanks.html", {"tenant": tenant})


def _refused_status(request: Request[Any, Any, Any], status: int) -> int:
    """A refused answer is 422 (or 410 for a closed link); to htmx it is sent as 200, because htmx swaps no error
    response and the citizen would see nothing happen. The page is the same either way."""
    return 200 if request.headers.get("hx-request") == "true" else status


def _form_value(form: dict[str, Any], name: str) -> str:
    raw = form.get(name, "")
    return str(raw[0] if isinstance(raw, list) else raw)


def _colour(tenant: Any) -> str:
    if tenant is not None and tenant.definition.letterhead is not None:
        colour: str = tenant.definition.letterhead.primary_colour
        return colour
    return "#1f5f8b"


def _survey_context(tenant: Any, token: str, form: dict[str, Any]) -> dict[str, Any]:
    return {
        "tenant": tenant,
        "token": token,
        "colour": _colour(tenant),
        "chosen": {"satisfaction": _form_value(form, "satisfaction")},
    }


def _followup_context(tenant: Any, token: str, kommune: str, followup: str, form: dict[str, Any]) -> dict[str, Any]:
    # The kommune travels with the follow-up form only to brand the page; the token alone decides what is stored.
    return {
        "tenant": tenant,
        "token": token,
        "kommune": kommune,
        "followup": followup,
        "colour": _colour(tenant),
        "chosen": {name: _form_value(form, name) for name in ("treated_well", "nps", "comment")},
        "max_comment": survey.MAX_COMMENT,
    }


class BestTimesPublicController(Controller):
    """A kommune's published "best times to call" page for citizens."""

    path = "/k"
    tags = ("figures",)
    include_in_schema = False

    @get("/{code:str}/best-times", operation_id="bestTimesPage", opt=public(), summary="Best times to call")
    async def best_times_page(self, request: Request[Any, Any, Any], code: CodeParameter) -> Template:
        tenant = await _tenant_or_404(code)
        if not await repository.best_times_published(code):
            raise NotFoundException(detail=f"{tenant.name} has not published its best times to call.")
        result = await best_times.best_times(code, _now(request))
        language = request.state.lang
        colour = tenant.definition.letterhead.primary_colour if tenant.definition.letterhead else "#1f5f8b"
        return page(
            request,
            "figures/best_times.html",
            {
                "tenant": tenant,
                "result": result,
                "period_label": charts.period_label(result.period.start, result.period.end),
                "weekdays": charts.weekday_names(language),
                "colour": colour,
                "chart": charts.heatmap(
                    _quiet_grid(result),
                    weekdays=charts.weekday_names(language),
                    title=translate(language, "figures.best.chart"),
                    measure="offered",
                    unit="",
                    legend_label=translate(language, "figures.legend.calls"),
                ),
            },
        )


def _quiet_grid(result: best_times.BestTimes) -> service.Heatmap:
    grid = service.Heatmap()
    for slot in result.open_slots:
        grid.offered[slot.weekday][slot.hour] = slot.offered
    return grid

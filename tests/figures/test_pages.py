"""The figures screens in the assembled app: the kommune dashboard (figures against targets, charts, CSV), the
federation dashboard, targets (validation, own kommune only), best-times publication and its public page, bad
periods, and who may see what (kommune admin: own kommune; coordinator: all; agent: none)."""

from __future__ import annotations

import csv
import datetime as dt
import io
from collections.abc import AsyncIterator

import httpx
import pytest
from litestar import Litestar

from hotline.config import Settings
from hotline.figures.tables import BestTimesPublication, FigureTarget
from hotline.identity.schemas import Grant
from hotline.lib.embedded_nats import EmbeddedNatsServer
from hotline.server.app import create_app
from tests.figures.history_fixture import NOW, insert_fixed_history
from tests.fixtures.app import FixedClock
from tests.fixtures.databases import Database
from tests.fixtures.identity import session_cookie_for

AUTUMN = "from=2026-10-01&to=2027-01-01"
ADMIN_AARHUS = Grant(role="kommune_admin", kommune="0751")
COORDINATOR = Grant(role="coordinator", kommune="*")
AGENT = Grant(role="agent", kommune="*")
HTML = {"accept": "text/html"}


@pytest.fixture
async def http(
    settings: Settings, kommuner: Database, nats_server: EmbeddedNatsServer, clock: FixedClock
) -> AsyncIterator[tuple[httpx.AsyncClient, Litestar]]:
    clock.now = NOW
    await insert_fixed_history()
    app = create_app(settings, engine=kommuner.engine, nats_servers=[nats_server.url], clock=clock)
    # The figures need only the database: the lifespan's NATS, knowledge replica and workers are not started, which
    # keeps these many small requests quick.
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://testserver.local") as client:
        yield client, app


async def as_(client: httpx.AsyncClient, app: Litestar, *grants: Grant, home: str = "0751") -> dict[str, str]:
    await client.get("/tenants")
    csrf = client.cookies["hotline_csrf"]
    session = await session_cookie_for(list(grants), home, now=app.state.services.clock(), name="Admin")
    return {"x-csrftoken": csrf, "cookie": f"hotline_csrf={csrf}; hotline_session={session}"}


async def test_the_admin_sees_figures_against_targets_with_text_and_charts(
    http: tuple[httpx.AsyncClient, Litestar],
) -> None:
    client, app = http
    headers = await as_(client, app, ADMIN_AARHUS)
    page = await client.get(f"/admin/0751/figures?{AUTUMN}", headers=headers)
    assert page.status_code == 200, page.text
    html = page.text
    assert "Aarhus Kommune" in html
    # ASA 30.9 s against the default ≤ 50 s: met; FCR 70 % against ≥ 70 %: met; SL 53.8 % against ≥ 80 %: missed.
    asa = html.split('id="figure-asa"')[1].split("</tr>")[0]
    assert "30.9 s" in asa
    assert "Nået" in asa
    sl1 = html.split('id="figure-sl1"')[1].split("</tr>")[0]
    assert "53.8 %" in sl1
    assert "Ikke nået" in sl1
    assert html.count('<svg class="chart"') == 6  # days, service level, topics, CSAT, two heatmaps
    assert "style=" not in html
    english = await client.get(f"/admin/0751/figures?{AUTUMN}&lang=en", headers=headers)
    asa_en = english.text.split('id="figure-asa"')[1].split("</tr>")[0]
    assert "Average speed of answer" in asa_en
    assert "Met" in asa_en
    assert "<script>" not in html


async def test_every_figure_exports_as_csv(http: tuple[httpx.AsyncClient, Litestar]) -> None:
    client, app = http
    headers = await as_(client, app, ADMIN_AARHUS)
    answer = await client.get(f"/admin/0751/figures?{AUTUMN}&format=csv", headers=headers)
    assert answer.status_code == 200
    assert answer.headers["content-type"].startswith("text/csv")
    rows = {row["figure"]: row for row in csv.DictReader(io.StringIO(answer.text))}
    assert rows["offered"]["value"] == "17"
    assert rows["asa"]["value"] == "30.9"
    assert (rows["sl1"]["target"], rows["sl1"]["met"]) == (">= 80", "no")
    assert rows["nps"]["value"] == "33.3"
    october = "from=2026-10-01&to=2026-11-01"
    heatmap = await client.get(f"/admin/0751/figures?{october}&format=csv&table=heatmap", headers=headers)
    cells = {(row["weekday"], row["hour"]): row for row in csv.DictReader(io.StringIO(heatmap.text))}
    assert len(cells) == 7 * 24
    assert (cells["Sun", "2"]["offered"], cells["Sun", "2"]["average_wait"]) == ("2", "35.0")
    assert (cells["Tue", "19"]["offered"], cells["Tue", "19"]["answered"]) == ("11", "6")
    days = await client.get(f"/admin/0751/figures?{october}&format=csv&table=days", headers=headers)
    assert "2026-10-06,11,6," in days.text
    topics = await client.get(f"/admin/0751/figures?{AUTUMN}&format=csv&table=topics", headers=headers)
    pas = next(row for row in csv.DictReader(io.StringIO(topics.text)) if row["topic"] == "pas")
    assert (pas["offered"], pas["csat"], pas["good_treatment"], pas["nps"]) == ("3", "66.7", "100.0", "33.3")
    bad = await client.get(f"/admin/0751/figures?{october}&format=csv&table=pie", headers=headers)
    assert bad.status_code == 400
    assert "table" in bad.text
    coordinator = await as_(client, app, COORDINATOR)
    federation = await client.get(f"/figures?{AUTUMN}&format=csv", headers=coordinator)
    table = list(csv.DictReader(io.StringIO(federation.text)))
    assert {row["kommune"] for row in table} == {"0751", "0615", "0147", "*"}
    assert next(row for row in table if row["kommune"] == "*")["offered"] == "19"


async def test_the_coordinator_sees_all_kommuner_side_by_side_sorted(
    http: tuple[httpx.AsyncClient, Litestar],
) -> None:
    client, app = http
    headers = await as_(client, app, COORDINATOR)
    page = await client.get(f"/figures?{AUTUMN}&sort=asa", headers=HTML | headers)
    assert page.status_code == 200, page.text
    body = page.text.split("<tbody>")[1]
    # ASA: Horsens 40 s, Aarhus 30.9 s, Frederiksberg 15 s: descending.
    assert body.index("0615") < body.index("0751") < body.index("0147")
    for link in ("/rota", "/forecast", "/settlement"):
        assert f'href="{link}"' in page.text
    bad = await client.get("/figures?sort=colour", headers=HTML | headers)
    assert bad.status_code == 400
    assert "sort" in bad.text


@pytest.mark.parametrize(
    ("query", "field"),
    [
        ("from=2026-10-10&to=2026-10-01", "to"),
        ("from=2020-01-01&to=2026-01-01", "to"),
        ("from=2026-02-30&to=2026-03-01", "from"),
        ("from=2026-10-01", "to"),
        ("sl1=abc", "sl1"),
        ("sl1=90&sl2=30", "sl2"),
    ],
)
async def test_bad_periods_and_thresholds_are_400_naming_the_field(
    http: tuple[httpx.AsyncClient, Litestar], query: str, field: str
) -> None:
    client, app = http
    headers = await as_(client, app, ADMIN_AARHUS)
    answer = await client.get(f"/admin/0751/figures?{query}", headers=headers | {"accept": "application/json"})
    assert answer.status_code == 400
    assert answer.json()["detail"].startswith(f"{field}:")


@pytest.mark.parametrize(
    ("grants", "path", "status"),
    [
        ((ADMIN_AARHUS,), "/admin/0751/figures", 200),
        ((ADMIN_AARHUS,), "/admin/0615/figures", 403),
        ((ADMIN_AARHUS,), "/figures", 403),
        ((COORDINATOR,), "/admin/0615/figures", 200),
        ((COORDINATOR,), "/admin/0751/figures/targets", 200),
        ((COORDINATOR,), "/figures", 200),
        ((AGENT,), "/admin/0751/figures", 403),
        ((AGENT,), "/figures", 403),
        ((), "/figures", 401),
    ],
)
async def test_who_sees_which_figures(
    http: tuple[httpx.AsyncClient, Litestar], grants: tuple[Grant, ...], path: str, status: int
) -> None:
    client, app = http
    headers = await as_(client, app, *grants) if grants else {}
    assert (await client.get(path, headers=headers)).status_code == status


async def test_an_admin_sets_targets_and_sees_them_applied(http: tuple[httpx.AsyncClient, Litestar]) -> None:
    client, app = http
    headers = await as_(client, app, ADMIN_AARHUS)
    form = {"asa": "25", "asa__cmp": "<=", "sl1": "50", "fcr": "", "nps": "-20"}
    saved = await client.post("/admin/0751/figures/targets", data=form, headers=headers)
    assert saved.status_code == 303
    rows = await FigureTarget.select().where(FigureTarget.kommune_code == "0751").run()
    assert {(r["figure"], r["comparison"], r["value"]) for r in rows} == {
        ("asa", "<=", 25.0),
        ("sl1", ">=", 50.0),
        ("nps", ">=", -20.0),
    }
    page = await client.get(f"/admin/0751/figures?{AUTUMN}", headers=headers)
    asa = page.text.split('id="figure-asa"')[1].split("</tr>")[0]
    assert "≤ 25 s" in asa
    assert "Ikke nået" in asa
    sl1 = page.text.split('id="figure-sl1"')[1].split("</tr>")[0]
    assert "Nået" in sl1
    assert "Ikke nået" not in sl1


@pytest.mark.parametrize(
    ("form", "field"),
    [
        ({"asa": "25", "colour": "3"}, "colour"),
        ({"asa": "-1"}, "asa"),
        ({"fcr": "101"}, "fcr"),
        ({"csat": "lots"}, "csat"),
        ({"nps": "nan"}, "nps"),
        ({"asa": "20", "asa__cmp": "=="}, "asa__cmp"),
    ],
)
async def test_bad_targets_are_refused_naming_the_field_and_nothing_is_saved(
    http: tuple[httpx.AsyncClient, Litestar], form: dict[str, str], field: str
) -> None:
    client, app = http
    headers = await as_(client, app, ADMIN_AARHUS)
    await client.post("/admin/0751/figures/targets", data={"asa": "40"}, headers=headers)
    answer = await client.post(
        "/admin/0751/figures/targets", data=form, headers=headers | {"accept": "application/json"}
    )
    assert answer.status_code == 400
    assert answer.json()["detail"].startswith(f"{field}:")
    rows = await FigureTarget.select(FigureTarget.figure, FigureTarget.value).run()
    assert rows == [{"figure": "asa", "value": 40.0}]


async def test_an_admin_cannot_set_another_kommunes_targets(http: tuple[httpx.AsyncClient, Litestar]) -> None:
    client, app = http
    headers = await as_(client, app, ADMIN_AARHUS)
    answer = await client.post("/admin/0615/figures/targets", data={"asa": "10"}, headers=headers)
    assert answer.status_code == 403
    assert await FigureTarget.count().run() == 0


async def test_a_published_best_times_page_shows_the_quietest_open_hours(
    http: tuple[httpx.AsyncClient, Litestar], clock: FixedClock
) -> None:
    client, app = http
    clock.now = dt.datetime(2026, 11, 20, 12, 0, tzinfo=dt.UTC)  # the eight weeks before hold the October calls
    assert (await client.get("/k/0751/best-times", headers=HTML)).status_code == 404
    headers = await as_(client, app, ADMIN_AARHUS)
    published = await client.post("/admin/0751/figures/best-times", data={"published": "yes"}, headers=headers)
    assert published.status_code == 303
    assert await BestTimesPublication.count().where(BestTimesPublication.published.eq(True)).run() == 1
    page = await client.get("/k/0751/best-times", headers=HTML)
    assert page.status_code == 200
    assert "Aarhus Kommune" in page.text
    # Sunday 02:00 (2 calls, 35 s) and Tuesday 19:00 (11 calls, 36.7 s) and Thursday 00:00 (1 call, 5 s).
    assert "02:00–03:00" in page.text
    assert "19:00–20:00" in page.text
    assert "00:00–01:00" in page.text
    english = await client.get("/k/0751/best-times?lang=en", headers=HTML)
    assert "Best time to call Aarhus Kommune" in english.text
    assert (
        await client.post("/admin/0751/figures/best-times", data={"published": "maybe"}, headers=headers)
    ).status_code == 400
    await client.post("/admin/0751/figures/best-times", data={"published": "no"}, headers=headers)
    assert (await client.get("/k/0751/best-times", headers=HTML)).status_code == 404


async def test_the_federation_dashboard_draws_each_kommune_against_its_targets(
    http: tuple[httpx.AsyncClient, Litestar],
) -> None:
    client, app = http
    headers = await as_(client, app, COORDINATOR)
    page = await client.get(f"/figures?{AUTUMN}&sort=asa", headers=HTML | headers)
    assert page.status_code == 200, page.text
    picture = page.text.split('<section class="panel" aria-labelledby="chart-h">')[1].split("</section>")[0]
    assert '<svg class="chart"' in picture
    assert 'role="img"' in picture
    assert "<title id=" in picture
    assert "Kommunerne side om side" in picture
    assert "<desc id=" in picture
    # Each bar carries its kommune, figure, value and target (the default ASA ≤ 50 s, FCR ≥ 70 %).
    assert "Aarhus Kommune: Gennemsnitlig ventetid før svar 30.9 s (Mål ≤ 50 s), Nået" in picture
    assert "Horsens Kommune: Gennemsnitlig ventetid før svar 40 s (Mål ≤ 50 s), Nået" in picture
    assert "Aarhus Kommune: Løst ved første kontakt 70 % (Mål ≥ 70 %), Nået" in picture
    # Rows follow the table's order (sorted by ASA, slowest first).
    assert picture.index(">Horsens Kommune<") < picture.index(">Aarhus Kommune<")
    # The numbers stay available as a table below the picture, opened when a column was chosen.
    assert '<details class="panel" open>' in page.text
    assert page.text.index("chart-h") < page.text.index("<table")
    default = await client.get(f"/figures?{AUTUMN}&lang=en", headers=HTML | headers)
    assert '<details class="panel">' in default.text
    assert "Aarhus Kommune: Average speed of answer 30.9 s (Target ≤ 50 s), Met" in default.text
    assert "style=" not in default.text

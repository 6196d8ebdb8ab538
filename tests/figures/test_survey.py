"""The citizen survey: a link made by ``create_survey_link`` opens a page branded with the kommune; a good answer is
stored with no personal data and shows in the figures; a reused, expired or unknown link and out-of-range answers
get clear 4xx pages, and nothing partial is stored."""

from __future__ import annotations

import datetime as dt
from collections.abc import AsyncIterator

import httpx
import pytest
from litestar import Litestar

from hotline.config import Settings
from hotline.figures import service
from hotline.figures.survey import create_survey_link
from hotline.figures.tables import SurveyAnswer, SurveyLink
from hotline.lib.embedded_nats import EmbeddedNatsServer
from hotline.server.app import create_app
from tests.fixtures.app import FixedClock
from tests.fixtures.databases import Database

NOW = dt.datetime(2026, 11, 20, 19, 30, tzinfo=dt.UTC)
HTML = {"accept": "text/html"}


@pytest.fixture
async def http(
    settings: Settings, kommuner: Database, nats_server: EmbeddedNatsServer, clock: FixedClock
) -> AsyncIterator[tuple[httpx.AsyncClient, Litestar]]:
    clock.now = NOW
    app = create_app(settings, engine=kommuner.engine, nats_servers=[nats_server.url], clock=clock)
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://testserver.local") as client:
        yield client, app


async def _form(client: httpx.AsyncClient, path: str) -> tuple[httpx.Response, dict[str, str]]:
    page = await client.get(path, headers=HTML)
    return page, {"_csrf_token": client.cookies.get("hotline_csrf", "")}


async def test_a_good_answer_is_stored_without_personal_data_and_counts(
    http: tuple[httpx.AsyncClient, Litestar],
) -> None:
    client, _ = http
    url = await create_survey_link("0751", "pas", "call-123", NOW, base_url="http://testserver.local")
    assert url.startswith("http://testserver.local/survey/")
    token = url.rsplit("/", 1)[1]
    assert len(token) >= 40
    link = await SurveyLink.select().first().run()
    assert link is not None
    assert token not in str(link)
    assert "call-123" not in str(link)
    page, form = await _form(client, url)
    assert page.status_code == 200
    assert "Aarhus Kommune" in page.text
    assert 'name="satisfaction"' in page.text
    answer = await client.post(url, data=form | {"satisfaction": "5", "treated_well": "yes", "nps": "9"}, headers=HTML)
    assert answer.status_code == 200
    assert "Tak for dit svar" in answer.text
    stored = await SurveyAnswer.select().run()
    assert len(stored) == 1
    row = stored[0]
    assert set(row) == {
        "id", "kommune_code", "topic", "channel", "contact_date", "satisfaction", "treated_well", "nps",
    }  # fmt: skip
    assert (row["kommune_code"], row["topic"], row["channel"], row["satisfaction"], row["nps"]) == (
        "0751",
        "pas",
        "phone",
        5,
        9,
    )
    assert row["treated_well"] is True
    figures = await service.compute(service.Period(dt.date(2026, 11, 1), dt.date(2026, 12, 1)), kommune="0751", now=NOW)
    assert (figures.total.values()["csat"], figures.total.values()["nps"]) == (100.0, 100.0)


async def test_a_link_works_once(http: tuple[httpx.AsyncClient, Litestar]) -> None:
    client, _ = http
    url = await create_survey_link("0751", "pas", "", NOW)
    _, form = await _form(client, url)
    good = form | {"satisfaction": "4", "treated_well": "no"}
    assert (await client.post(url, data=good, headers=HTML)).status_code == 200
    again = await client.post(url, data=good, headers=HTML)
    assert again.status_code == 410
    assert "allerede besvaret" in again.text
    assert (await client.get(url, headers=HTML)).status_code == 410
    assert await SurveyAnswer.count().run() == 1
    assert (await SurveyAnswer.select(SurveyAnswer.channel).first().run()) == {"channel": "letter"}


async def test_an_expired_or_unknown_link_is_refused(
    http: tuple[httpx.AsyncClient, Litestar], clock: FixedClock
) -> None:
    client, _ = http
    url = await create_survey_link("0751", "pas", "c1", NOW)
    _, form = await _form(client, url)
    clock.now = NOW + dt.timedelta(days=14, seconds=1)
    expired = await client.post(url, data=form | {"satisfaction": "4", "treated_well": "yes"}, headers=HTML)
    assert expired.status_code == 410
    assert "udløbet" in expired.text
    unknown = await client.get("/survey/not-a-real-token", headers=HTML)
    assert unknown.status_code == 404
    assert "kendes ikke" in unknown.text
    assert await SurveyAnswer.count().run() == 0


@pytest.mark.parametrize(
    ("answer", "field"),
    [
        ({"satisfaction": "6", "treated_well": "yes"}, "satisfaction"),
        ({"satisfaction": "0", "treated_well": "yes"}, "satisfaction"),
        ({"treated_well": "yes"}, "satisfaction"),
        ({"satisfaction": "3", "treated_well": "maybe"}, "treated_well"),
        ({"satisfaction": "3", "treated_well": "yes", "nps": "11"}, "nps"),
        ({"satisfaction": "3", "treated_well": "yes", "nps": "-1"}, "nps"),
    ],
)
async def test_out_of_range_answers_are_400_and_leave_the_link_usable(
    http: tuple[httpx.AsyncClient, Litestar], answer: dict[str, str], field: str
) -> None:
    client, _ = http
    url = await create_survey_link("0751", "pas", "c1", NOW)
    _, form = await _form(client, url)
    refused = await client.post(url, data=form | answer, headers=HTML)
    assert refused.status_code == 400
    assert f"{field}:" in refused.text
    assert await SurveyAnswer.count().run() == 0
    assert (await SurveyLink.select(SurveyLink.used_at).first().run()) == {"used_at": None}
    assert (
        await client.post(url, data=form | {"satisfaction": "3", "treated_well": "yes"}, headers=HTML)
    ).status_code == 200

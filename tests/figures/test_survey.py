"""The citizen survey: a link made by ``create_survey_link`` opens a page branded with the kommune with one question
first; that answer is stored at once with no personal data and shows in the figures; the follow-up is optional,
works once and expires; a reused, expired or unknown link and out-of-range answers get clear 4xx pages, and
nothing partial is stored."""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import AsyncIterator

import httpx
import pytest
from litestar import Litestar

from hotline.config import Settings
from hotline.figures import service, survey
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
        "id", "kommune_code", "topic", "channel", "contact_date", "satisfaction", "treated_well", "nps", "comment",
        "followup_hash", "followup_until",
    }  # fmt: skip
    assert token not in str(row)
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
    ("answer", "field", "message"),
    [
        ({"satisfaction": "6"}, "satisfaction", "Vælg et tal fra 1 til 5."),
        ({"satisfaction": "0"}, "satisfaction", "Vælg et tal fra 1 til 5."),
        ({"satisfaction": "meget"}, "satisfaction", "Vælg et tal fra 1 til 5."),
        ({"treated_well": "yes"}, "satisfaction", "Vælg et tal fra 1 til 5."),
        ({"satisfaction": "3", "treated_well": "maybe"}, "treated_well", "Svar ja eller nej"),
        ({"satisfaction": "3", "treated_well": "yes", "nps": "11"}, "nps", "Vælg et tal fra 0 til 10"),
        ({"satisfaction": "3", "treated_well": "yes", "nps": "-1"}, "nps", "Vælg et tal fra 0 til 10"),
    ],
)
async def test_out_of_range_answers_are_422_naming_the_field_and_leave_the_link_usable(
    http: tuple[httpx.AsyncClient, Litestar], answer: dict[str, str], field: str, message: str
) -> None:
    client, _ = http
    url = await create_survey_link("0751", "pas", "c1", NOW)
    _, form = await _form(client, url)
    refused = await client.post(url, data=form | answer, headers=HTML)
    assert refused.status_code == 422
    assert message in refused.text
    if field == "satisfaction":
        assert 'id="err-satisfaction"' in refused.text
        assert 'aria-describedby="err-satisfaction"' in refused.text
    assert await SurveyAnswer.count().run() == 0
    assert (await SurveyLink.select(SurveyLink.used_at).first().run()) == {"used_at": None}
    assert (await client.post(url, data=form | {"satisfaction": "3"}, headers=HTML)).status_code == 200


def _followup(page: str) -> str:
    match = re.search(r'name="followup" value="([^"]+)"', page)
    assert match is not None, "the follow-up step carries no token"
    return match.group(1)


async def test_one_question_first_counts_and_the_follow_up_is_optional_and_works_once(
    http: tuple[httpx.AsyncClient, Litestar],
) -> None:
    client, _ = http
    url = await create_survey_link("0751", "pas", "c1", NOW)
    first, form = await _form(client, url)
    assert 'name="satisfaction"' in first.text
    assert 'name="treated_well"' not in first.text  # one question first
    assert 'hx-post="/survey/' in first.text  # htmx when there is script, a plain form post without
    answered = await client.post(url, data=form | {"satisfaction": "4"}, headers=HTML)
    assert answered.status_code == 200
    assert "Dit svar er gemt" in answered.text
    assert 'name="treated_well"' in answered.text
    assert 'name="comment"' in answered.text
    path = url.removeprefix("http://testserver.local")
    assert f'action="{path}"' in answered.text  # the follow-up is posted to the same address, with its own token
    row = await SurveyAnswer.select().first().run()
    assert row is not None
    assert (row["satisfaction"], row["treated_well"], row["nps"], row["comment"]) == (4, None, None, "")
    month = service.Period(dt.date(2026, 11, 1), dt.date(2026, 12, 1))
    only_first = (await service.compute(month, kommune="0751", now=NOW)).total.values()
    assert (only_first["surveys"], only_first["csat"], only_first["good_treatment"], only_first["nps"]) == (
        1, 100.0, None, None,
    )  # fmt: skip
    # The link is used: it shows the closed page, whatever the follow-up does.
    assert (await client.get(url, headers=HTML)).status_code == 410
    followup = _followup(answered.text)
    more = {**form, "followup": followup, "kommune": "0751", "treated_well": "no", "nps": "9",
            "comment": "Fin hjælp. Mit CPR-nummer er 010190-1234."}  # fmt: skip
    done = await client.post(url, data=more, headers=HTML)
    assert done.status_code == 200
    assert "Tak for dit svar" in done.text
    row = await SurveyAnswer.select().first().run()
    assert row is not None
    assert (row["treated_well"], row["nps"], row["followup_hash"], row["followup_until"]) == (False, 9, None, None)
    assert row["comment"] == "Fin hjælp. Mit CPR-nummer er XXXXXX-XXXX."
    both = (await service.compute(month, kommune="0751", now=NOW)).total.values()
    assert (both["surveys"], both["good_treatment"], both["nps"]) == (1, 0.0, 100.0)
    again = await client.post(url, data=more | {"treated_well": "yes"}, headers=HTML)
    assert again.status_code == 410
    assert "allerede besvaret" in again.text
    assert (await SurveyAnswer.select(SurveyAnswer.treated_well).first().run()) == {"treated_well": False}


@pytest.mark.parametrize(
    ("answer", "field", "message"),
    [
        ({"treated_well": "måske"}, "treated_well", "Svar ja eller nej"),
        ({"nps": "11"}, "nps", "Vælg et tal fra 0 til 10"),
        ({"nps": "ti"}, "nps", "Vælg et tal fra 0 til 10"),
        ({"comment": "x" * 1001}, "comment", "Kommentaren må højst være 1000 tegn."),
    ],
)
async def test_a_bad_follow_up_is_422_naming_the_field_and_changes_nothing(
    http: tuple[httpx.AsyncClient, Litestar], answer: dict[str, str], field: str, message: str
) -> None:
    client, _ = http
    url = await create_survey_link("0751", "pas", "c1", NOW)
    _, form = await _form(client, url)
    followup = _followup((await client.post(url, data=form | {"satisfaction": "2"}, headers=HTML)).text)
    refused = await client.post(url, data={**form, "followup": followup, **answer}, headers=HTML)
    assert refused.status_code == 422
    assert message in refused.text
    assert f'aria-describedby="err-{field}"' in refused.text
    row = await SurveyAnswer.select().first().run()
    assert row is not None
    assert (row["treated_well"], row["nps"], row["comment"]) == (None, None, "")
    assert row["followup_hash"] is not None  # the follow-up can still be given
    # htmx swaps no error response: the same page comes to it as 200
    htmx = await client.post(url, data={**form, "followup": followup, **answer}, headers=HTML | {"hx-request": "true"})
    assert htmx.status_code == 200
    assert message in htmx.text
    fixed = await client.post(url, data={**form, "followup": followup, "nps": "7"}, headers=HTML)
    assert fixed.status_code == 200
    assert (await SurveyAnswer.select(SurveyAnswer.nps).first().run()) == {"nps": 7}


async def test_the_follow_up_can_be_skipped_and_expires(
    http: tuple[httpx.AsyncClient, Litestar], clock: FixedClock
) -> None:
    client, _ = http
    first = await create_survey_link("0751", "pas", "c1", NOW)
    second = await create_survey_link("0751", "pas", "c2", NOW)
    _, form = await _form(client, first)
    skipping = _followup((await client.post(first, data=form | {"satisfaction": "5"}, headers=HTML)).text)
    late = _followup((await client.post(second, data=form | {"satisfaction": "1"}, headers=HTML)).text)
    skipped = await client.post(first, data={**form, "followup": skipping, "skip": "1", "nps": "3"},
                                headers=HTML)  # fmt: skip
    assert skipped.status_code == 200
    assert "Tak for dit svar" in skipped.text
    clock.now = NOW + survey.FOLLOWUP_LIFETIME + dt.timedelta(seconds=1)
    expired = await client.post(second, data={**form, "followup": late, "nps": "3"}, headers=HTML)
    assert expired.status_code == 410
    assert "Tiden til de ekstra spørgsmål er gået" in expired.text
    unknown = await client.post(second, data={**form, "followup": "made-up", "nps": "3"}, headers=HTML)
    assert unknown.status_code == 410
    rows = await SurveyAnswer.select(SurveyAnswer.satisfaction, SurveyAnswer.nps).order_by(SurveyAnswer.id).run()
    assert rows == [{"satisfaction": 5, "nps": None}, {"satisfaction": 1, "nps": None}]  # both still count

"""The tenants API and pages: the directory of all kommuner with who is open now, and one kommune's page."""

from __future__ import annotations

import datetime as dt

import httpx

from tests.fixtures.app import CPH, FixedClock
from tests.fixtures.databases import Database

Client = httpx.AsyncClient


async def test_the_api_lists_all_98_kommuner_with_at_least_50_members(
    client: Client, demo_federation: Database
) -> None:
    response = await client.get("/api/tenants")
    assert response.status_code == 200
    tenants = response.json()
    assert len(tenants) == 98
    assert sum(t["member"] for t in tenants) >= 50
    assert set(tenants[0]) >= {"code", "name", "member", "open_now"}
    assert {t["code"] for t in tenants} >= {"0751", "0615", "0217", "0101"}


async def test_open_now_follows_the_clock(client: Client, demo_federation: Database, clock: FixedClock) -> None:
    # Horsens (pattern: Mon-Wed 10-15, Thu 10-17:30, Fri 10-13). Wednesday 25 Nov 2026, 11:00: open until 15:00.
    clock.now = dt.datetime(2026, 11, 25, 11, 0, tzinfo=CPH)
    horsens = next(t for t in (await client.get("/api/tenants")).json() if t["code"] == "0615")
    assert horsens["open_now"] is True
    assert dt.datetime.fromisoformat(horsens["closes_at"]) == dt.datetime(2026, 11, 25, 15, 0, tzinfo=CPH)
    # Wednesday evening: closed, opens Thursday 10:00.
    clock.now = dt.datetime(2026, 11, 25, 19, 30, tzinfo=CPH)
    tenants = (await client.get("/api/tenants")).json()
    horsens = next(t for t in tenants if t["code"] == "0615")
    assert horsens["open_now"] is False
    assert dt.datetime.fromisoformat(horsens["next_opening"]) == dt.datetime(2026, 11, 26, 10, 0, tzinfo=CPH)
    assert not any(t["open_now"] for t in tenants), "no kommune's citizen service is open at 19:30"
    # Christmas Eve: every kommune is closed all day.
    clock.now = dt.datetime(2026, 12, 24, 11, 0, tzinfo=CPH)
    assert not any(t["open_now"] for t in (await client.get("/api/tenants")).json())


async def test_one_kommune_has_numbers_hours_departments_and_letterhead(
    client: Client, demo_federation: Database
) -> None:
    response = await client.get("/api/tenants/0751")
    assert response.status_code == 200
    aarhus = response.json()
    assert aarhus["name"] == "Aarhus Kommune"
    assert aarhus["numbers"] == [{"number": "+4570751000", "label": "Borgerservice"}]
    assert 3 <= len(aarhus["departments"]) <= 6
    assert any("storskrald" in d["topics"] for d in aarhus["departments"])
    assert aarhus["letterhead"]["address"][0] == "Aarhus Kommune"
    assert aarhus["sender"]["from_address"].endswith("@aarhus.kommune.example")
    assert aarhus["logo_url"].endswith("/tenants/0751/logo")
    assert set(aarhus["opening_hours"]) == {
        "monday",
        "tuesday",
        "wednesday",
        "thursday",
        "friday",
        "saturday",
        "sunday",
    }


async def test_an_unknown_kommune_code_is_a_404_with_a_message(client: Client, demo_federation: Database) -> None:
    for code in ("9999", "abc", "07511"):
        response = await client.get(f"/api/tenants/{code}")
        assert response.status_code == 404
        assert f"No kommune with code '{code}'" in response.json()["detail"]


async def test_the_directory_page_shows_membership_and_who_is_open(
    client: Client, demo_federation: Database, clock: FixedClock
) -> None:
    clock.now = dt.datetime(2026, 11, 25, 19, 30, tzinfo=CPH)
    page = await client.get("/tenants", headers={"accept": "text/html"})
    assert page.status_code == 200
    html = page.text
    assert html.count('<tr class="member"') >= 50
    assert html.count("<tr class=") == 98
    assert "Lukket · Åbner i morgen kl. 10:00" in html
    assert "Åbent til" not in html
    clock.now = dt.datetime(2026, 11, 25, 11, 0, tzinfo=CPH)
    assert "Åbent til 15:00" in (await client.get("/tenants")).text


async def test_the_directory_status_follows_the_clock_and_the_language(
    client: Client, demo_federation: Database, clock: FixedClock
) -> None:
    # The status macro reads the page's clock and language: a macro imported without the page's
    # context fell back to the wall clock and to Danish.
    clock.now = dt.datetime(2026, 12, 31, 19, 30, tzinfo=CPH)
    english = (await client.get("/tenants", params={"lang": "en"})).text
    assert "Closed · Opens Saturday" in english
    assert "Lukket" not in english
    aarhus = (await client.get("/tenants/0751", params={"lang": "en"})).text
    assert "Closed · Opens" in aarhus


async def test_the_directory_filters_by_name_and_membership(client: Client, demo_federation: Database) -> None:
    html = (await client.get("/tenants", params={"q": "hor"})).text
    assert "Horsens Kommune" in html
    assert "Aarhus Kommune" not in html
    members = (await client.get("/tenants", params={"member": "true"})).text
    assert "non-member" not in members
    partial = await client.get("/tenants", params={"q": "0751"}, headers={"hx-request": "true"})
    assert partial.text.lstrip().startswith('<div id="directory-rows">')
    assert "Aarhus Kommune" in partial.text


async def test_pages_are_danish_first_and_english_on_request(client: Client, demo_federation: Database) -> None:
    danish = await client.get("/tenants/0615")
    assert '<html lang="da">' in danish.text
    assert "Åbningstider" in danish.text
    english = await client.get("/tenants/0615", params={"lang": "en"})
    assert '<html lang="en">' in english.text
    assert "Opening hours" in english.text
    assert english.cookies.get("hotline_lang") == "en"
    assert "Opening hours" in (await client.get("/tenants/0615")).text, "the choice is remembered"


async def test_the_tenant_page_404s_for_an_unknown_kommune_with_a_page(
    client: Client, demo_federation: Database
) -> None:
    response = await client.get("/tenants/9999", headers={"accept": "text/html"})
    assert response.status_code == 404
    assert "No kommune with code &#39;9999&#39;" in response.text
    assert "<html" in response.text


async def test_the_logo_is_served_as_inert_svg(client: Client, demo_federation: Database) -> None:
    response = await client.get("/tenants/0751/logo")
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("image/svg+xml")
    assert "default-src 'none'" in response.headers["content-security-policy"]
    assert response.text.lstrip().startswith("<svg")


async def test_the_openapi_document_names_every_operation(client: Client) -> None:
    schema = (await client.get("/schema/openapi.json")).json()
    operations = {op["operationId"] for path in schema["paths"].values() for op in path.values()}
    assert {"listTenants", "getTenant", "healthLive", "healthReady"} <= operations

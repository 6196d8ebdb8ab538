"""Error pages for people know who is signed in (also at an address no route takes), speak the page's language,
keep the status code, and never turn into a 500; the API's JSON errors stay as they were."""

from __future__ import annotations

import re

import httpx
import pytest

from hotline.identity import web as identity_web
from hotline.identity.schemas import EVERY_KOMMUNE, Grant
from tests.fixtures.app import FixedClock
from tests.fixtures.databases import Database
from tests.fixtures.identity import session_cookie_for

HTML = {"accept": "text/html,application/xhtml+xml"}


async def _sign_in(client: httpx.AsyncClient, clock: FixedClock, grants: list[Grant] | None = None) -> None:
    cookie = await session_cookie_for(grants or [Grant("agent", EVERY_KOMMUNE)], "0727", now=clock.now, name="Agnete")
    client.cookies.set("hotline_session", cookie)


def _nav(html: str) -> str:
    return html.split("<nav", 1)[1].split("</nav>", 1)[0]


async def test_an_unknown_address_signed_in_shows_the_person_and_a_danish_message(
    kommuner: Database, client: httpx.AsyncClient, clock: FixedClock
) -> None:
    await client.get("/tenants")  # the browser has its CSRF cookie from an earlier page
    await _sign_in(client, clock)
    page = await client.get("/no/such/page", headers=HTML)
    assert page.status_code == 404
    assert page.headers["content-type"].startswith("text/html")
    nav = _nav(page.text)
    assert "Agnete" in nav
    assert "Log ind" not in nav
    assert "Log ud" in nav
    assert "Siden findes ikke" in page.text
    assert "Adressen findes ikke her" in page.text
    assert "Not Found" not in page.text
    assert 'href="/me"' in page.text.split('<main id="main"', 1)[1]
    # The header's sign-out form works from the error page: it carries the browser's CSRF token.
    token = re.search(r'name="_csrf_token" value="([^"]+)"', page.text)
    assert token is not None
    signed_out = await client.post("/auth/logout", data={"_csrf_token": token.group(1)})
    assert signed_out.status_code == 303


async def test_api_errors_stay_json_while_pages_change(
    kommuner: Database, client: httpx.AsyncClient, clock: FixedClock
) -> None:
    await _sign_in(client, clock)
    for path in ("/api/no-such-endpoint", "/api/kb/articles/no-such-article"):
        answer = await client.get(path, headers=HTML)  # even a browser asking for HTML gets the API's JSON
        assert answer.status_code == 404
        assert answer.headers["content-type"].startswith("application/json")
        assert answer.json()["status_code"] == 404
    plain = await client.get("/no/such/page", headers={"accept": "application/json"})
    assert plain.json() == {"status_code": 404, "detail": "Not Found"}
    page = await client.get("/no/such/page", headers=HTML)  # the same address as a page: the new page
    assert "Agnete" in _nav(page.text)


async def test_the_error_page_speaks_english_when_the_page_does(
    kommuner: Database, client: httpx.AsyncClient, clock: FixedClock
) -> None:
    await _sign_in(client, clock)
    page = await client.get("/no/such/page?lang=en", headers=HTML)
    assert page.status_code == 404
    assert '<html lang="en">' in page.text
    assert "Page not found" in page.text
    assert "There is nothing at this address" in page.text
    assert "Sign out" in _nav(page.text)
    client.cookies.set("hotline_lang", "en")
    again = await client.get("/still/nothing", headers=HTML)
    assert "There is nothing at this address" in again.text


async def test_signed_out_or_with_an_unknown_session_it_offers_sign_in(
    kommuner: Database, client: httpx.AsyncClient
) -> None:
    page = await client.get("/no/such/page", headers=HTML)
    assert page.status_code == 404
    assert "Log ind" in _nav(page.text)
    client.cookies.set("hotline_session", "not-a-session")
    stale = await client.get("/no/such/page", headers=HTML)
    assert stale.status_code == 404
    assert "Log ind" in _nav(stale.text)
    # 401: the sign-in link brings the person back to the page they wanted.
    me = await client.get("/me", headers=HTML)
    assert me.status_code == 401
    assert "Log ind for at se siden" in me.text
    assert 'href="/auth/login?next=/me"' in me.text


async def test_refusals_inside_a_page_keep_their_status_and_their_technical_detail(
    kommuner: Database, client: httpx.AsyncClient, clock: FixedClock
) -> None:
    await _sign_in(client, clock)
    forbidden = await client.get("/admin/kommuner/0751/audit", headers=HTML)
    assert forbidden.status_code == 403
    assert "Ingen adgang" in forbidden.text
    assert "Agnete" in _nav(forbidden.text)
    missing = await client.get("/kb/articles/no-such-article", headers=HTML)
    assert missing.status_code == 404
    assert "Adressen findes ikke her" in missing.text
    assert "Teknisk besked" in missing.text
    assert "No article" in missing.text


async def test_when_the_person_cannot_be_looked_up_the_page_still_renders_without_claiming_signed_out(
    kommuner: Database, client: httpx.AsyncClient, clock: FixedClock, monkeypatch: pytest.MonkeyPatch
) -> None:
    await _sign_in(client, clock)

    async def broken(*_: object, **__: object) -> None:
        raise RuntimeError("the session store is down")

    monkeypatch.setattr(identity_web, "load_principal", broken)
    monkeypatch.setattr(identity_web, "principal_of", broken)
    page = await client.get("/tenants", headers=HTML)
    assert page.status_code == 500
    assert "Noget gik galt hos os" in page.text
    assert "Teknisk besked" not in page.text  # an unexpected error's message may hold data: never shown
    nav = _nav(page.text)
    assert "Log ind" not in nav
    assert 'href="/me"' in nav

"""The development provider's own pages: the app's stylesheet, plainly marked as the development provider, the
kommune by name, one line per persona on what the role can do, Danish or English; the picker's links still sign
in as before."""

from __future__ import annotations

import re
from html import unescape
from urllib.parse import parse_qs, urlsplit

import httpx

from hotline.identity.dev_idp import PERSONAS, DevIdentityProvider
from tests.fixtures.databases import Database
from tests.fixtures.identity import ForgingProvider, sign_in

AUTHORIZE = {
    "response_type": "code",
    "client_id": "digital-hotline",
    "redirect_uri": "http://testserver.local/auth/callback",
    "code_challenge": "x" * 43,
    "code_challenge_method": "S256",
    "state": "the-state",
    "scope": "openid",
}


async def test_the_picker_names_the_kommune_describes_each_persona_and_is_styled(
    client: httpx.AsyncClient, db: Database
) -> None:
    page = await client.get("/dev-idp/0727/authorize", params=AUTHORIZE)
    assert page.status_code == 200
    assert page.headers["content-type"].startswith("text/html")
    html = page.text
    assert '<link rel="stylesheet" href="/static/hotline.css">' in html
    assert "Udviklingsudbyder · kun til demo og test" in html
    assert "<h1>Udviklingsudbyder for Odder Kommune (0727)</h1>" in html
    assert "Dette er ikke et rigtigt login" in html
    assert "<script" not in html
    assert " style=" not in html
    for persona in PERSONAS:
        link = re.search(
            r'<a href="([^"]+)" aria-describedby="about-' + re.escape(persona.key) + r'">([^<]+)</a>'
            r'<p id="about-' + re.escape(persona.key) + r'">([^<]+)</p>',
            html,
        )
        assert link is not None, persona.key
        assert unescape(link.group(2)) == persona.label_da
        assert unescape(link.group(3)) == persona.about_da
        assert f"persona={persona.key}" in unescape(link.group(1))
    assert "Læser kommunens revisionslog" in html
    # The picker's link signs in as before: back to the client with a code and the state.
    agent = re.search(r'<a href="([^"]+persona=agent)"', html)
    assert agent is not None
    approved = await client.get(urlsplit(unescape(agent.group(1)))._replace(scheme="", netloc="").geturl())
    assert approved.status_code in (302, 303, 307)
    answer = parse_qs(urlsplit(approved.headers["location"]).query)
    assert answer["state"] == ["the-state"]
    assert answer["code"]


async def test_the_picker_follows_the_hotlines_language(client: httpx.AsyncClient, db: Database) -> None:
    client.cookies.set("hotline_lang", "en")
    english = await client.get("/dev-idp/0751/authorize", params=AUTHORIZE)
    assert "<h1>Development provider for Aarhus Kommune (0751)</h1>" in english.text
    assert '<html lang="en">' in english.text
    assert "Reads the kommune's audit log" in unescape(english.text)
    client.cookies.clear()
    danish = await client.get("/dev-idp/0751/authorize", params={**AUTHORIZE, "ui_locales": "da"})
    assert "<h1>Udviklingsudbyder for Aarhus Kommune (0751)</h1>" in danish.text


def test_the_signed_out_page_names_the_kommune_and_is_styled() -> None:
    provider = DevIdentityProvider(base_url="http://127.0.0.1:1/dev-idp", secret_key="x" * 40)
    page = provider.signed_out_page("0615")
    assert "Du er logget ud hos udviklingsudbyderen for Horsens Kommune (0615)" in page
    assert '<link rel="stylesheet" href="/static/hotline.css">' in page
    assert "Development provider" in provider.signed_out_page("0615", "en")


async def test_the_signed_in_name_carries_the_kommunes_name(
    oidc_client: httpx.AsyncClient, idp: ForgingProvider
) -> None:
    signed = await sign_in(oidc_client, "0727", "agent")
    assert signed.status_code in (302, 303)
    me = await oidc_client.get("/me")
    assert "Demo agent (Odder Kommune)" in me.text

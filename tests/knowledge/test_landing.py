"""The knowledge bank's landing (/kb without a query): the surge notices and every topic of the taxonomy with its
shared article and, for a chosen kommune, that kommune's own rule; from the replica, in both languages."""

from __future__ import annotations

import datetime as dt
import html
import re
from typing import Any

from hotline.knowledge import repository, service
from hotline.knowledge.schemas import ArticleDraft
from kb_sync.subjects import FEDERATION
from tests.fixtures.knowledge import eventually

HTML = {"accept": "text/html"}


def _row(html: str, topic_name: str) -> str:
    match = re.search(r"<tr>\s*<th scope=\"row\">" + re.escape(topic_name) + r"</th>(.*?)</tr>", html, re.S)
    assert match is not None, f"no row for {topic_name!r}"
    return match.group(1)


async def test_the_landing_lists_topics_with_their_shared_rule(kb_client: tuple[Any, Any]) -> None:
    http, _ = kb_client
    page = await http.get("/kb", headers=HTML)
    assert page.status_code == 200
    text = page.text
    assert "Driftsbeskeder lige nu" in text
    assert "Ingen driftsbeskeder lige nu" in text
    assert '<h2 id="kb-topics-heading">Emner</h2>' in text
    # Topic names from the taxonomy, each with its shared article(s) linked.
    storskrald = _row(text, "Storskrald")
    assert "Storskrald: hvad er det, og hvordan bestilles afhentning?" in storskrald
    assert re.search(r'href="/kb/articles/[0-9a-f-]{36}"', storskrald)
    assert "Parkering: licens, afgift og handicapparkering" in _row(text, "Parkering og beboerlicens")
    # Topics no article covers yet are named once, not left out.
    assert re.search(r"Emner uden artikler endnu: [^<]*Kørekort", text)
    # No kommune chosen: no kommune column, no kommune's articles.
    assert "Aarhus: storskrald hentes efter bestilling" not in text


async def test_with_a_kommune_each_topic_shows_the_kommunes_rule_beside_the_shared_one(
    kb_client: tuple[Any, Any],
) -> None:
    http, _ = kb_client
    aarhus = (await http.get("/kb", params={"kommune": "0751"}, headers=HTML)).text
    assert "Emner: den fælles regel og Aarhus Kommunes regel" in aarhus
    storskrald = _row(aarhus, "Storskrald")
    assert "Storskrald: hvad er det, og hvordan bestilles afhentning?" in storskrald  # the shared column
    assert "Aarhus: storskrald hentes efter bestilling" in storskrald
    assert "erstatter den fælles" in storskrald
    parkering = _row(aarhus, "Parkering og beboerlicens")
    assert "Aarhus: beboerlicens i midtbyen" in parkering
    assert "supplerer den fælles" in parkering
    assert "Overdrages til kommunen" in parkering
    assert "Den fælles regel gælder" in _row(aarhus, "MitID")
    # Læsø does not offer parking permits; the htmx swap (changing the kommune) gets the same landing.
    partial = await http.get("/kb", params={"kommune": "0825"}, headers={"hx-request": "true"})
    assert partial.text.lstrip().startswith('<div id="kb-results">')
    laesoe = _row(partial.text, "Parkering og beboerlicens")
    assert "Tilbydes ikke i kommunen" in laesoe
    assert "Læsø: ingen betalingsparkering eller beboerlicens" in laesoe
    english = html.unescape((await http.get("/kb", params={"kommune": "0825", "lang": "en"}, headers=HTML)).text)
    assert "Topics: the shared rule and Læsø Kommune's rule" in english
    assert "Not offered in this kommune" in _row(english, "Parking and resident permits")


async def test_the_landing_shows_the_surge_notices_in_force(kb_client: tuple[Any, Any]) -> None:
    http, app = kb_client
    replica = app.state.services.kb_replica
    now = app.state.services.clock()
    notice = ArticleDraft(
        topic="surge",
        title="Pasproduktionen er nede",
        body="Henvis til næste hverdag.",
        valid_from=now - dt.timedelta(hours=1),
        valid_to=now + dt.timedelta(days=1),
    )
    async with repository.transaction():
        await service.create_article(FEDERATION, notice, "test")
    publisher = app.state.services.kb_publisher
    publisher.notify()
    await eventually(lambda: any(r.title == "Pasproduktionen er nede" for r in replica.surge()), what="the surge")
    page = (await http.get("/kb", headers=HTML)).text
    landing = page.split('id="kb-surge-heading"', 1)[1].split("</section>", 1)[0]
    assert "Pasproduktionen er nede" in landing
    assert "Henvis til næste hverdag." in landing
    assert "Ingen driftsbeskeder lige nu" not in landing
    # A search still shows the banner above its results.
    search = (await http.get("/kb", params={"q": "pas"}, headers=HTML)).text
    assert "Pasproduktionen er nede" in search
    assert 'id="kb-surge-heading"' not in search

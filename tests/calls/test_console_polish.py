"""What the agent console shows a person: topics by their names in the page's language (screen-pop, wrap-up form,
knowledge search), a call already answered without an answer button when the console reconnects, the wrap-up
form disabled until a call is in hand, and the queue figures with the agents available."""

from __future__ import annotations

import datetime as dt
import html
import json
import re

import httpx
from litestar import Litestar
from litestar.response import ServerSentEventMessage

from hotline.calls.runtime import CallsRuntime, LiveConnection
from hotline.calls.telephony import Ended, Offered
from hotline.identity import audit
from hotline.tenancy import repository as tenancy_repository
from tests.calls.conftest import AARHUS_NUMBER, Agent, Telephony, make_agent, runtime_of
from tests.fixtures.app import FixedClock
from tests.fixtures.databases import Database
from tests.fixtures.knowledge import eventually


async def _taxonomy() -> dict[str, dict[str, str]]:
    return {row["code"]: row for row in await tenancy_repository.topics()}


async def _connect(runtime: CallsRuntime, agent: Agent, lang: str) -> list[ServerSentEventMessage]:
    """What a console connecting now receives at once (presence, the call in hand, queue, surge)."""
    connection: LiveConnection = await runtime.connect(agent.user_id, audit.Actor(id=f"test|{agent.user_id}"), lang)
    events = []
    while not connection.queue.empty():
        message = connection.queue.get_nowait()
        if message is not None:
            events.append(message)
    runtime.disconnect(connection)
    return events


def _pop(events: list[ServerSentEventMessage]) -> str:
    pops = [str(e.data) for e in events if e.event == "screen-pop"]
    assert pops, [e.event for e in events]
    return pops[-1]


def _rule_headings(pop: str) -> list[str]:
    found = re.findall(r'<details class="pop-topic"[^>]*>\s*<summary>(.*?)</summary>', pop)
    return [html.unescape(heading).strip() for heading in found]


async def _ringing_call(http: httpx.AsyncClient, telephony: Telephony, clock: FixedClock, call_id: str) -> Agent:
    agent = await make_agent(http, clock, "Polish Agent")
    assert (await agent.presence("available")).status_code == 200
    offered = Offered(call_id=call_id, at=clock(), dialled_number=AARHUS_NUMBER, caller_number="+4520000050")
    assert (await telephony.post(offered)).status_code == 200
    return agent


async def test_the_screen_pop_names_the_most_asked_topics_in_the_page_language(
    kb_seeded: Database, http: httpx.AsyncClient, calls_app: Litestar, telephony: Telephony, clock: FixedClock
) -> None:
    replica = calls_app.state.services.kb_replica
    await eventually(lambda: bool(replica.rules("0751").topics), what="Aarhus's rules in the replica")
    agent = await _ringing_call(http, telephony, clock, "names-1")
    taxonomy = await _taxonomy()
    runtime = runtime_of(calls_app)

    danish = _rule_headings(_pop(await _connect(runtime, agent, "da")))
    english = _rule_headings(_pop(await _connect(runtime, agent, "en")))

    assert danish, "the screen-pop shows no topics"
    by_name_da = {row["name_da"]: code for code, row in taxonomy.items()}
    for heading_da, heading_en in zip(danish, english, strict=True):
        code = by_name_da.get(heading_da.split(" – ")[0])
        assert code is not None, f"{heading_da!r} is not a topic's Danish name"
        assert heading_en.split(" – ")[0] == taxonomy[code]["name_en"]


async def test_a_renamed_topic_is_shown_by_its_new_name_after_the_periodic_refresh(
    kb_seeded: Database, http: httpx.AsyncClient, calls_app: Litestar, telephony: Telephony, clock: FixedClock
) -> None:
    runtime = runtime_of(calls_app)
    renderer = runtime.renderer
    assert renderer is not None
    assert renderer.topic_name("pas", "da") == "Pas"
    assert renderer.topic_name("pas", "en") == "Passports"
    await tenancy_repository.upsert_topics([("pas", "Pas og rejsedokumenter", "Passports and travel documents")])
    assert renderer.topic_name("pas", "da") == "Pas"  # memory only: no query when a screen-pop is drawn
    await runtime.tick()  # the first tick refreshes the topic counts, and with them the names
    assert renderer.topic_name("pas", "da") == "Pas og rejsedokumenter"
    assert renderer.topic_name("pas", "en") == "Passports and travel documents"
    await tenancy_repository.upsert_topics([("pas", "Pas", "Passports")])
    clock.now += dt.timedelta(minutes=1)
    await runtime.tick()
    assert renderer.topic_name("pas", "da") == "Pas og rejsedokumenter"  # not yet: every five minutes
    clock.now += dt.timedelta(minutes=5)
    await runtime.tick()
    assert renderer.topic_name("pas", "da") == "Pas"


async def test_a_console_that_reconnects_mid_call_shows_it_answered_not_the_answer_button(
    http: httpx.AsyncClient, calls_app: Litestar, telephony: Telephony, clock: FixedClock
) -> None:
    agent = await _ringing_call(http, telephony, clock, "again-1")
    runtime = runtime_of(calls_app)
    ringing = _pop(await _connect(runtime, agent, "da"))
    assert 'data-action="answer"' in ringing
    assert "Besvaret kl." not in ringing

    assert (await agent.answer("again-1")).status_code == 200  # at 19:00 Copenhagen time
    clock.now += dt.timedelta(seconds=75)
    talking = _pop(await _connect(runtime, agent, "da"))
    assert 'data-action="answer"' not in talking
    assert "Besvaret kl. 19:00" in talking
    assert 'data-elapsed="75"' in talking
    assert ">1:15<" in talking
    assert "Answered at 19:00" in _pop(await _connect(runtime, agent, "en"))

    await telephony.post(Ended(call_id="again-1", at=clock()))  # the agent is in wrap-up now
    wrapping = _pop(await _connect(runtime, agent, "da"))
    assert 'data-action="answer"' not in wrapping
    assert "Besvaret kl. 19:00" in wrapping


async def test_the_wait_is_told_in_minutes_and_seconds_once_it_passes_a_minute(
    http: httpx.AsyncClient, calls_app: Litestar, telephony: Telephony, clock: FixedClock
) -> None:
    agent = await make_agent(http, clock, "Wait Agent")
    assert (await agent.presence("available")).status_code == 200
    offered = Offered(call_id="wait-1", at=clock() - dt.timedelta(seconds=192), dialled_number=AARHUS_NUMBER)
    assert (await telephony.post(offered)).status_code == 200
    runtime = runtime_of(calls_app)
    assert "Ventet 3 min. 12 sek." in _pop(await _connect(runtime, agent, "da"))
    assert "Waited 3 min 12 s" in _pop(await _connect(runtime, agent, "en"))


async def test_the_wrap_up_form_names_its_topics_and_starts_disabled(
    http: httpx.AsyncClient, calls_app: Litestar, clock: FixedClock
) -> None:
    agent = await make_agent(http, clock, "Form Agent")
    headers = {"cookie": f"hotline_session={agent.session}"}
    danish = (await http.get("/console", headers=headers)).text
    assert '<option value="flytning">Flytning og adresseændring</option>' in danish
    assert '<option value="pas">Pas</option>' in danish
    assert '<option value="pas">pas</option>' not in danish
    assert re.search(r'<fieldset id="wrap-up-fields"[^>]* disabled', danish)
    assert "Formularen bliver aktiv, når du har besvaret et opkald." in danish
    assert re.search(r'<fieldset id="handoff-fields" hidden>', danish)
    english = (await http.get("/console?lang=en", headers=headers)).text
    assert '<option value="flytning">Moving and change of address</option>' in english
    assert '<option value="pas">Passports</option>' in english
    assert "The form becomes active when you have answered a call." in english
    assert "style=" not in danish
    assert "<script>" not in danish


async def test_the_queue_figures_tell_the_console_how_many_agents_are_available(
    http: httpx.AsyncClient, calls_app: Litestar, clock: FixedClock
) -> None:
    agent = await make_agent(http, clock, "Queue Agent")
    runtime = runtime_of(calls_app)

    def figures(events: list[ServerSentEventMessage]) -> dict[str, int]:
        decoded: dict[str, int] = json.loads(str(next(e.data for e in events if e.event == "queue")))
        return decoded

    assert figures(await _connect(runtime, agent, "da")) == {"waiting": 0, "longest_wait_seconds": 0, "available": 0}
    assert (await agent.presence("available")).status_code == 200
    assert figures(await _connect(runtime, agent, "da"))["available"] == 1
    page = (await http.get("/console", headers={"cookie": f"hotline_session={agent.session}"})).text
    assert 'id="queue-picture"' in page
    assert 'data-queue="available"' in page


async def test_the_pop_search_lists_hits_with_topic_names_in_the_pop(
    kb_seeded: Database, http: httpx.AsyncClient, calls_app: Litestar, clock: FixedClock
) -> None:
    replica = calls_app.state.services.kb_replica
    await eventually(lambda: bool(replica.rules("0751").topics), what="Aarhus's rules in the replica")
    agent = await make_agent(http, clock, "Search Agent")
    headers = {"cookie": f"hotline_session={agent.session}", "hx-request": "true"}
    found = await http.get("/console/search", params={"q": "pas", "kommune": "0751"}, headers=headers)
    assert found.status_code == 200, found.text
    body = found.text
    assert 'id="pop-search-status" hx-swap-oob="innerHTML"' in body
    assert "artikler fundet for »pas«" in body
    assert '<span class="chip">Pas</span>' in body
    assert '<span class="chip">pas</span>' not in body
    assert 'target="_blank"' in body  # the article opens beside the console, never instead of it
    assert "<html" not in body
    english = await http.get("/console/search", params={"q": "pas", "kommune": "0751", "lang": "en"}, headers=headers)
    assert '<span class="chip">Passports</span>' in english.text
    nothing = await http.get("/console/search", params={"q": "zzzyxq", "kommune": "0751"}, headers=headers)
    assert "Ingen artikler fundet" in nothing.text
    anonymous = await http.get("/console/search", params={"q": "pas"}, headers={"accept": "application/json"})
    assert anonymous.status_code in (401, 403)

"""The agent's live connection: a screen-pop assigned by one app process reaches the agent's stream held by
another, through NATS, complete (kommune, rules, departments, search); audited; cancelled when the call moves on."""

from __future__ import annotations

import httpx
from litestar import Litestar

from hotline.calls.telephony import Abandoned, Offered
from hotline.config import Settings
from hotline.identity import audit
from hotline.identity.tables import AuditEntry
from hotline.lib.embedded_nats import EmbeddedNatsServer
from tests.calls.conftest import AARHUS_NUMBER, Telephony, make_agent, make_app, read_events, serve
from tests.fixtures.app import FixedClock
from tests.fixtures.databases import Database


async def test_screen_pop_crosses_processes_over_nats(
    settings: Settings,
    demo_federation: Database,
    nats_server: EmbeddedNatsServer,
    clock: FixedClock,
    http: httpx.AsyncClient,
    calls_app: Litestar,
    telephony: Telephony,
) -> None:
    # calls_app (A) takes the webhook; B holds the agent's live connection.
    other = make_app(settings, demo_federation, nats_server.url, clock)
    async with serve(other) as url, httpx.AsyncClient(base_url=url, timeout=10) as browser:
        agent = await make_agent(http, clock, "Live")
        cookie = {"cookie": f"hotline_session={agent.session}", "accept": "text/event-stream"}
        async with browser.stream("GET", "/console/events", headers=cookie) as stream:
            assert stream.status_code == 200
            assert stream.headers["content-type"].startswith("text/event-stream")
            lines = stream.aiter_lines()
            assert (await read_events(lines, "presence"))["data"] == "offline"
            await read_events(lines, "queue")
            assert (await agent.presence("available")).status_code == 200
            assert (await read_events(lines, "presence"))["data"] == "available"
            await telephony.post(
                Offered(call_id="live-1", at=clock(), dialled_number=AARHUS_NUMBER, caller_number="+4520000020")
            )
            pop = await read_events(lines, "screen-pop")
            call_id, arrived, sent = pop["id"].rsplit(".", 2)
            assert call_id == "live-1"
            assert 0 < int(arrived) <= int(sent)
            html = pop["data"]
            assert html.startswith('<section id="screen-pop"')
            assert 'data-call-id="live-1"' in html
            assert "Aarhus Kommune" in html
            assert 'href="tel:' in html
            assert "data-transfer=" in html
            assert 'name="kommune" value="0751"' in html  # the search box searches this kommune first
            assert "+45 20 00 00 20" in html
            await telephony.post(Abandoned(call_id="live-1", at=clock()))
            assert (await read_events(lines, "call-cancelled"))["data"] == "live-1"
    viewed = await AuditEntry.select().where(AuditEntry.action == audit.PERSONAL_DATA_VIEWED)
    assert [(row["kommune_code"], row["target"]) for row in viewed] == [("0751", "call:live-1")]


async def test_a_call_offered_while_the_console_was_closed_pops_on_connect(
    http: httpx.AsyncClient, calls_app: Litestar, telephony: Telephony, clock: FixedClock
) -> None:
    agent = await make_agent(http, clock, "Late")
    await agent.presence("available")
    await telephony.post(Offered(call_id="late-1", at=clock(), dialled_number=AARHUS_NUMBER))
    runtime = calls_app.state.services.calls
    principal_actor = audit.Actor(id="test|late", name="Late")
    connection = await runtime.connect(agent.user_id, principal_actor, "da")
    events = []
    while not connection.queue.empty():
        events.append(connection.queue.get_nowait())
    runtime.disconnect(connection)
    pops = [e for e in events if e is not None and e.event == "screen-pop"]
    # (the live notice of the assignment may also arrive if it was still in flight: the same call either way)
    assert pops
    assert all('data-call-id="late-1"' in str(pop.data) for pop in pops)

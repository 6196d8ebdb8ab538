"""One app process dies while calls are queued and ringing for its agents: nothing is lost and nothing is assigned
twice. The survivor's tick sees that the dead process stopped vouching for its agents (no heartbeat), puts their
ringing calls back in the queue, takes the agents offline, and hands every call to its own agents, once each."""

from __future__ import annotations

import datetime as dt

import httpx
from litestar import Litestar

from hotline.calls.tables import AgentPresence, Call
from hotline.calls.telephony import Offered, encode_batch
from hotline.config import Settings
from hotline.identity.audit import Actor
from hotline.lib.embedded_nats import EmbeddedNatsServer
from tests.calls.conftest import AARHUS_NUMBER, Agent, Telephony, make_agent, make_app, runtime_of
from tests.fixtures.app import FixedClock, running
from tests.fixtures.databases import Database

CALLS = 10


async def ringing_calls() -> list[dict[str, object]]:
    rows = await Call.select(Call.call_id, Call.ring_agent_id).where(Call.status == "ringing")
    assert len({row["ring_agent_id"] for row in rows}) == len(rows), "an agent rings for two calls"
    return rows


async def test_a_killed_process_loses_no_call_and_none_is_assigned_twice(
    settings: Settings,
    demo_federation: Database,
    nats_server: EmbeddedNatsServer,
    clock: FixedClock,
    http: httpx.AsyncClient,
    calls_app: Litestar,
    telephony: Telephony,
) -> None:
    doomed = calls_app  # agents' live connections on this process; it "dies": no tick, no heartbeat, no request
    survivor = make_app(settings, demo_federation, nats_server.url, clock)
    async with running(survivor):
        transport = httpx.ASGITransport(app=survivor)
        async with httpx.AsyncClient(transport=transport, base_url="http://testserver.local") as second:
            lost: list[Agent] = []
            kept: list[Agent] = []
            for index in range(6):
                agent = await make_agent(http, clock, f"Agent {index}")
                on_survivor = index % 2 == 1
                if on_survivor:
                    agent = Agent(client=second, user_id=agent.user_id, session=agent.session, csrf=agent.csrf)
                (kept if on_survivor else lost).append(agent)
                runtime = runtime_of(survivor if on_survivor else doomed)
                await runtime.connect(agent.user_id, Actor(id=f"test|{index}", name=f"Agent {index}"), "da")
                assert (await agent.presence("available")).status_code == 200

            batch = [
                Offered(call_id=f"kill-{n}", at=clock(), dialled_number=AARHUS_NUMBER, caller_number="+4520000050")
                for n in range(CALLS)
            ]
            assert (await telephony.post_raw(encode_batch(batch))).status_code == 200
            await runtime_of(doomed).tick()
            await runtime_of(survivor).tick()
            ringing = await ringing_calls()
            lost_ids = {agent.user_id for agent in lost}
            kept_by_id = {agent.user_id: agent for agent in kept}
            assert {row["ring_agent_id"] for row in ringing} >= lost_ids  # the doomed process's agents ring too

            # The doomed process dies here. Time passes in 5 s steps; only the survivor ticks, and its agents
            # answer and finish whatever rings for them.
            for _ in range(16):  # 80 s: past the ring timeout (20 s) and the staleness limit (60 s)
                clock.now += dt.timedelta(seconds=5)
                await runtime_of(survivor).tick()
                for row in await ringing_calls():
                    agent = kept_by_id.get(int(str(row["ring_agent_id"])))
                    if agent is None:
                        continue  # rings at a dead process's agent until the ring timeout or the staleness check
                    assert (await agent.answer(str(row["call_id"]))).status_code == 200
                    finished = await agent.wrap_up(str(row["call_id"]), outcome="solved", topic="pas")
                    assert finished.status_code == 200, finished.text

    calls = await Call.select(Call.call_id, Call.status, Call.agent_id)
    assert len(calls) == CALLS
    assert {row["status"] for row in calls} == {"done"}  # none lost
    assert {row["agent_id"] for row in calls} <= set(kept_by_id)  # answered by live agents only, once each
    states = {row["user_id"]: row["state"] for row in await AgentPresence.select()}
    assert {states[user_id] for user_id in lost_ids} == {"offline"}

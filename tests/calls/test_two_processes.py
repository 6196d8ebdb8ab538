"""Two app instances on one database (two ``create_app``, each with its own webhook, console API and tick) race
to assign 200 calls to 50 agents: every call is offered exactly once, none is left behind."""

from __future__ import annotations

import asyncio
import dataclasses

import httpx
from litestar import Litestar

from hotline.calls.tables import AgentPresence, Call, PresenceSpan
from hotline.calls.telephony import Offered, encode_batch
from hotline.config import Settings
from hotline.lib.embedded_nats import EmbeddedNatsServer
from tests.calls.conftest import AARHUS_NUMBER, Agent, Telephony, make_agent, make_app, runtime_of
from tests.fixtures.app import FixedClock, running
from tests.fixtures.databases import Database

CALLS, AGENTS = 200, 50


async def test_two_instances_assign_each_call_once_and_forget_none(
    settings: Settings,
    demo_federation: Database,
    nats_server: EmbeddedNatsServer,
    clock: FixedClock,
    http: httpx.AsyncClient,
    calls_app: Litestar,
    telephony: Telephony,
) -> None:
    other = make_app(settings, demo_federation, nats_server.url, clock)
    async with running(other):
        transport = httpx.ASGITransport(app=other)
        async with httpx.AsyncClient(transport=transport, base_url="http://testserver.local") as second:
            clients = (http, second)
            platforms = (telephony, dataclasses.replace(telephony, client=second))
            agents: list[Agent] = []
            for index in range(AGENTS):
                agent = await make_agent(http, clock, f"Agent {index}")
                agents.append(dataclasses.replace(agent, client=clients[index % 2]))
            by_id = {agent.user_id: agent for agent in agents}
            await asyncio.gather(*(agent.presence("available") for agent in agents))

            batches = [
                [
                    Offered(
                        call_id=f"race-{b}-{i}", at=clock(), dialled_number=AARHUS_NUMBER, caller_number="+4520000030"
                    )
                    for i in range(10)
                ]
                for b in range(CALLS // 10)
            ]
            responses = await asyncio.gather(
                *(platforms[n % 2].post_raw(encode_batch(list(batch))) for n, batch in enumerate(batches))
            )
            assert all(r.status_code == 200 for r in responses)

            for _ in range(CALLS // AGENTS * 3):
                ringing = await Call.select(Call.call_id, Call.ring_agent_id).where(Call.status == "ringing")
                if not ringing:
                    break
                # Each agent holds at most one ringing call.
                assert len({row["ring_agent_id"] for row in ringing}) == len(ringing)

                async def handle(call_id: str, user_id: int) -> None:
                    agent = by_id[user_id]
                    answered = await agent.answer(call_id)
                    assert answered.status_code == 200, answered.text
                    done = await agent.wrap_up(call_id, outcome="solved", topic="pas")
                    assert done.status_code == 200, done.text

                await asyncio.gather(
                    *(handle(row["call_id"], row["ring_agent_id"]) for row in ringing),
                    runtime_of(calls_app).tick(),
                    runtime_of(other).tick(),
                )
            rows = await Call.select(Call.status, Call.ring_attempts, Call.agent_id)
            assert len(rows) == CALLS
            assert {row["status"] for row in rows} == {"done"}
            assert {row["ring_attempts"] for row in rows} == {1}
            rang = await PresenceSpan.count().where(PresenceSpan.state == "ringing")
            assert rang == CALLS
            states = await AgentPresence.select(AgentPresence.state, AgentPresence.current_call_id)
            assert {(row["state"], row["current_call_id"]) for row in states} == {("available", "")}

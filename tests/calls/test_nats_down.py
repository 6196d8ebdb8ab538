"""NATS down: calls are still accepted, routed and assigned (the state is in the database), the process delivers
to the consoles it holds itself, and the cross-process fan-out works again when NATS returns."""

from __future__ import annotations

import asyncio
from pathlib import Path

import httpx

from hotline.calls.tables import Call
from hotline.calls.telephony import Offered
from hotline.config import Settings
from hotline.identity.audit import Actor
from hotline.lib.embedded_nats import EmbeddedNatsServer
from tests.calls.conftest import AARHUS_NUMBER, Telephony, make_agent, make_app, new_secret, runtime_of
from tests.fixtures.app import FixedClock, running
from tests.fixtures.databases import Database


async def test_calls_are_taken_and_popped_while_nats_is_down(
    settings: Settings,
    demo_federation: Database,
    make_nats: type[EmbeddedNatsServer],
    tmp_path: Path,
    clock: FixedClock,
) -> None:
    from tests.calls.conftest import EVENING

    clock.now = EVENING
    nats = make_nats(tmp_path / "nats")
    nats.start()
    app = make_app(settings, demo_federation, nats.url, clock)
    async with running(app):
        runtime = runtime_of(app)
        assert await app.state.services.nats.wait_connected(5)
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://testserver.local") as client:
            _, secret = await new_secret("0751", clock, app)
            platform = Telephony(client, clock, "0751", secret)
            agent = await make_agent(client, clock, "Offline NATS")
            connection = await runtime.connect(agent.user_id, Actor(id="test|nats"), "da")
            await agent.presence("available")
            nats.stop()
            for _ in range(100):
                if not app.state.services.nats.connected:
                    break
                await asyncio.sleep(0.05)
            assert not app.state.services.nats.connected
            response = await platform.post(
                Offered(call_id="down-1", at=clock(), dialled_number=AARHUS_NUMBER, caller_number="+4520000050")
            )
            assert response.json() == {"accepted": 1, "duplicates": 0}
            row = await Call.select(Call.status, Call.ring_agent_id).where(Call.call_id == "down-1").first()
            assert row == {"status": "ringing", "ring_agent_id": agent.user_id}
            events = []
            while not connection.queue.empty():
                events.append(connection.queue.get_nowait())
            assert any(e is not None and e.event == "screen-pop" and "down-1" in str(e.data) for e in events), [
                (e.event, str(e.data)[:80]) for e in events if e is not None
            ]

            nats.start()
            for _ in range(200):  # nats-py reconnects on its own, every half second
                if app.state.services.nats.connected:
                    break
                await asyncio.sleep(0.05)
            assert app.state.services.nats.connected
            await agent.wrap_up("down-1", outcome="solved")  # not answered yet: refused, nothing changes
            assert (await agent.answer("down-1")).status_code == 200
            assert (await agent.wrap_up("down-1", outcome="solved", topic="pas")).status_code == 200
            await platform.post(Offered(call_id="up-1", at=clock(), dialled_number=AARHUS_NUMBER))
            deadline = asyncio.get_running_loop().time() + 5
            popped = False
            while not popped and asyncio.get_running_loop().time() < deadline:
                message = await asyncio.wait_for(connection.queue.get(), 5)
                popped = message is not None and message.event == "screen-pop" and "up-1" in str(message.data)
            assert popped
            runtime.disconnect(connection)

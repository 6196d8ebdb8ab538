"""Ring instructions, hotline -> platform: the process that assigns a call posts a signed ``ring`` for the agent
(and a ``withdraw`` when the offer is cancelled) to a real HTTP receiver, off the hot path: retried while the
platform fails, dropped once the ring window has passed, never in the way of the assignment or the screen-pop."""

from __future__ import annotations

import asyncio
import datetime as dt
import logging
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import Any

import httpx
import msgspec
import pytest
from litestar import Litestar, Request, Response, post

from hotline.calls.ring import RingSender
from hotline.calls.tables import Call
from hotline.calls.telephony import Abandoned, Offered, SignatureError, matches, parse_signature
from hotline.config import Settings
from hotline.config.settings import TelephonySettings
from hotline.identity.audit import Actor
from hotline.lib.embedded_nats import EmbeddedNatsServer, free_port
from tests.calls.conftest import (
    AARHUS_NUMBER,
    EVENING,
    Telephony,
    make_agent,
    make_app,
    read_events,
    runtime_of,
    serve,
)
from tests.fixtures.app import FixedClock
from tests.fixtures.databases import Database
from tests.fixtures.knowledge import eventually

SECRET = "ring-secret-for-the-tests-only-0123456789"
RING = dt.timedelta(seconds=20)


@dataclass
class Receiver:
    """The platform's end of the ring instructions: verifies each request's signature with the shared secret (on
    the test's clock, as the platform would on its own) and records what it took. ``statuses`` are answered in
    turn to the valid requests, then 200."""

    clock: FixedClock
    secret: bytes = SECRET.encode()
    url: str = ""
    statuses: list[int] = field(default_factory=list)
    answered: list[int] = field(default_factory=list)
    events: list[dict[str, Any]] = field(default_factory=list)
    bad_signatures: int = 0

    def app(self) -> Litestar:
        @post("/ring", status_code=200)
        async def take(request: Request[Any, Any, Any]) -> Response[bytes]:
            body = await request.body()
            try:
                timestamp, digests = parse_signature(request.headers.get("x-hotline-signature", ""), self.clock())
            except SignatureError:
                timestamp, digests = 0, []
            if not digests or not matches(self.secret, body, timestamp, digests):
                self.bad_signatures += 1
                return Response(b"", status_code=401)
            status = self.statuses.pop(0) if self.statuses else 200
            self.answered.append(status)
            if status == 200:
                self.events.extend(msgspec.json.decode(body)["events"])
            return Response(b"", status_code=status)

        return Litestar(route_handlers=[take])

    async def wait_for(self, count: int, *, within: float = 10.0) -> list[dict[str, Any]]:
        await eventually(lambda: len(self.events) >= count, within, f"{count} instructions at the receiver")
        return self.events


def stamp(moment: dt.datetime) -> str:
    """A moment as the instructions carry it: ISO 8601 in UTC."""
    return moment.astimezone(dt.UTC).isoformat().replace("+00:00", "Z")


def with_ring(settings: Settings, url: str) -> Settings:
    telephony = TelephonySettings(ring_url=url, ring_secret=SECRET if url else "")
    return msgspec.structs.replace(settings, telephony=telephony)


@pytest.fixture
async def receiver(clock: FixedClock) -> AsyncIterator[Receiver]:
    receiver = Receiver(clock)
    async with serve(receiver.app()) as url:
        receiver.url = f"{url}/ring"
        yield receiver
    assert receiver.bad_signatures == 0


@pytest.fixture
def ring_url(request: pytest.FixtureRequest, receiver: Receiver) -> str:
    """Where the app sends its instructions: the receiver; ``closed``: a port nothing listens on; ``off``: nowhere."""
    target = getattr(request, "param", "receiver")
    if target == "off":
        return ""
    if target == "closed":
        return f"http://127.0.0.1:{free_port('127.0.0.1')}/ring"
    return receiver.url


@pytest.fixture
def calls_app(
    settings: Settings, demo_federation: Database, nats_server: EmbeddedNatsServer, clock: FixedClock, ring_url: str
) -> Litestar:
    clock.now = EVENING
    return make_app(with_ring(settings, ring_url), demo_federation, nats_server.url, clock)


def sender_of(app: Litestar) -> RingSender:
    sender = runtime_of(app).ring
    assert sender is not None
    return sender


async def test_an_offered_call_rings_the_assigned_agent_once_from_the_assigning_process(
    settings: Settings,
    demo_federation: Database,
    nats_server: EmbeddedNatsServer,
    clock: FixedClock,
    http: httpx.AsyncClient,
    calls_app: Litestar,
    telephony: Telephony,
    receiver: Receiver,
) -> None:
    # calls_app takes the webhook and assigns; the other process holds the agent's stream (and has a sender too).
    other = make_app(with_ring(settings, receiver.url), demo_federation, nats_server.url, clock)
    async with serve(other) as url, httpx.AsyncClient(base_url=url, timeout=10) as browser:
        agent = await make_agent(http, clock, "Ringe")
        headers = {"cookie": f"hotline_session={agent.session}", "accept": "text/event-stream"}
        async with browser.stream("GET", "/console/events", headers=headers) as stream:
            lines = stream.aiter_lines()
            await read_events(lines, "queue")
            assert (await agent.presence("available")).status_code == 200
            offered = Offered(call_id="ring-1", at=clock(), dialled_number=AARHUS_NUMBER, caller_number="+4520000031")
            assert (await telephony.post(offered)).status_code == 200
            assert (await read_events(lines, "screen-pop"))["id"].startswith("ring-1.")
            events = await receiver.wait_for(1)
            assert events == [
                {
                    "kind": "ring",
                    "call_id": "ring-1",
                    "agent_id": agent.user_id,
                    "at": stamp(EVENING),
                    "ring_until": stamp(EVENING + RING),
                    "callback": False,
                }
            ]
            # The caller hangs up while it rings: the platform is told to stop ringing the agent.
            assert (await telephony.post(Abandoned(call_id="ring-1", at=clock()))).status_code == 200
            await read_events(lines, "call-cancelled")
            events = await receiver.wait_for(2)
            assert events[1] == {
                "kind": "withdraw",
                "call_id": "ring-1",
                "agent_id": agent.user_id,
                "at": stamp(EVENING),
            }
            assert len(events) == 2
            assert sender_of(other).stats.queued == 0  # the process holding the stream sent nothing
    await eventually(lambda: sender_of(calls_app).stats.delivered == 2, what="both delivered")


async def test_a_ring_timeout_withdraws_from_the_first_agent_and_rings_the_next(
    http: httpx.AsyncClient, calls_app: Litestar, telephony: Telephony, clock: FixedClock, receiver: Receiver
) -> None:
    slow = await make_agent(http, clock, "Slow")
    quick = await make_agent(http, clock, "Quick")
    await slow.presence("available")
    clock.now += dt.timedelta(seconds=1)
    await quick.presence("available")
    offered_at = clock()
    await telephony.post(Offered(call_id="r1", at=clock(), dialled_number=AARHUS_NUMBER, caller_number="+4520000032"))
    first = (await receiver.wait_for(1))[0]
    assert (first["kind"], first["agent_id"], first["ring_until"]) == ("ring", slow.user_id, stamp(offered_at + RING))
    clock.now += dt.timedelta(seconds=21)
    await runtime_of(calls_app).tick()
    events = await receiver.wait_for(3)
    assert events[1:] == [
        {"kind": "withdraw", "call_id": "r1", "agent_id": slow.user_id, "at": stamp(clock())},
        {
            "kind": "ring",
            "call_id": "r1",
            "agent_id": quick.user_id,
            "at": stamp(clock()),
            "ring_until": stamp(clock() + RING),
            "callback": False,
        },
    ]
    assert receiver.answered == [200, 200]  # the withdraw and the re-offer went out together


async def test_a_callback_rings_with_the_number_to_dial(
    http: httpx.AsyncClient, calls_app: Litestar, telephony: Telephony, clock: FixedClock, receiver: Receiver
) -> None:
    await telephony.post(Offered(call_id="cb1", at=clock(), dialled_number=AARHUS_NUMBER, caller_number="+4520000033"))
    clock.now += dt.timedelta(seconds=181)
    await runtime_of(calls_app).tick()  # past the maximum wait: a callback is queued
    assert (await Call.select(Call.status).where(Call.call_id == "cb1").first())["status"] == "callback"
    agent = await make_agent(http, clock, "Ringer tilbage")
    await agent.presence("available")
    events = await receiver.wait_for(1)
    assert events == [
        {
            "kind": "ring",
            "call_id": "cb1",
            "agent_id": agent.user_id,
            "at": stamp(clock()),
            "ring_until": stamp(clock() + RING),
            "callback": True,
            "number": "+4520000033",
        }
    ]


async def test_a_failing_platform_gets_the_instruction_on_a_retry(
    http: httpx.AsyncClient, calls_app: Litestar, telephony: Telephony, clock: FixedClock, receiver: Receiver
) -> None:
    receiver.statuses = [500]
    agent = await make_agent(http, clock, "Retry")
    await agent.presence("available")
    await telephony.post(Offered(call_id="retry-1", at=clock(), dialled_number=AARHUS_NUMBER))
    events = await receiver.wait_for(1)
    assert [(e["kind"], e["call_id"], e["agent_id"]) for e in events] == [("ring", "retry-1", agent.user_id)]
    assert receiver.answered == [500, 200]
    stats = sender_of(calls_app).stats
    await eventually(lambda: stats.delivered == 1, what="the retry delivered")  # the receiver records before it answers
    assert (stats.failed_attempts, stats.expired) == (1, 0)


async def test_a_refused_instruction_is_not_retried(
    http: httpx.AsyncClient, calls_app: Litestar, telephony: Telephony, clock: FixedClock, receiver: Receiver
) -> None:
    receiver.statuses = [400]
    first, second = await make_agent(http, clock, "Første"), await make_agent(http, clock, "Anden")
    await first.presence("available")
    await telephony.post(Offered(call_id="refused-1", at=clock(), dialled_number=AARHUS_NUMBER))
    await eventually(lambda: sender_of(calls_app).stats.refused == 1, what="the refusal")
    await second.presence("available")
    await telephony.post(Offered(call_id="after-1", at=clock(), dialled_number=AARHUS_NUMBER))
    events = await receiver.wait_for(1)
    assert [(e["call_id"], e["agent_id"]) for e in events] == [("after-1", second.user_id)]
    assert receiver.answered == [400, 200]


@pytest.mark.parametrize("ring_url", ["closed"], indirect=True)
async def test_with_the_platform_down_the_agent_still_gets_the_call_and_the_ring_is_dropped_after_its_window(
    http: httpx.AsyncClient,
    calls_app: Litestar,
    telephony: Telephony,
    clock: FixedClock,
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.INFO, logger="hotline.calls.ring")
    runtime = runtime_of(calls_app)
    agent = await make_agent(http, clock, "Uden platform")
    await agent.presence("available")
    connection = await runtime.connect(agent.user_id, Actor(id="test|down", name="Uden platform"), "da")
    try:
        offered = Offered(call_id="down-1", at=clock(), dialled_number=AARHUS_NUMBER, caller_number="+4520000034")
        assert (await telephony.post(offered)).status_code == 200
        assert (await Call.select(Call.ring_agent_id).where(Call.call_id == "down-1").first())[
            "ring_agent_id"
        ] == agent.user_id

        async def screen_pop() -> str:
            while True:
                message = await connection.queue.get()
                if message is not None and message.event == "screen-pop":
                    return str(message.id)

        assert await asyncio.wait_for(screen_pop(), 10) == "down-1"
    finally:
        runtime.disconnect(connection)
    sender = sender_of(calls_app)
    await eventually(lambda: sender.stats.failed_attempts >= 2, what="two failed attempts")
    assert sender.stats.expired == 0  # retried while the ring window lasts
    clock.now += RING + dt.timedelta(seconds=1)
    await eventually(lambda: sender.stats.expired == 1, what="the ring dropped")
    assert (sender.stats.delivered, sender.waiting) == (0, 0)
    assert "dropped" in caplog.text
    assert "+4520000034" not in caplog.text
    assert "20000034" not in caplog.text


@pytest.mark.parametrize("ring_url", ["off"], indirect=True)
async def test_without_a_ring_url_no_sender_is_started(
    http: httpx.AsyncClient, calls_app: Litestar, telephony: Telephony, clock: FixedClock, receiver: Receiver
) -> None:
    assert runtime_of(calls_app).ring is None
    agent = await make_agent(http, clock, "Ingen platform")
    await agent.presence("available")
    await telephony.post(Offered(call_id="off-1", at=clock(), dialled_number=AARHUS_NUMBER))
    assert (await Call.select(Call.ring_agent_id).where(Call.call_id == "off-1").first())[
        "ring_agent_id"
    ] == agent.user_id
    assert runtime_of(calls_app).ring is None
    assert receiver.answered == []


async def test_a_full_queue_drops_the_oldest_and_a_stale_withdraw_is_not_sent(
    clock: FixedClock, receiver: Receiver
) -> None:
    clock.now = EVENING
    sender = RingSender(receiver.url, SECRET.encode(), clock, queue_size=2)
    sender.withdraw("old", 7, at=clock())
    sender.withdraw("stale", 7, at=clock() - dt.timedelta(seconds=31))  # past its 30 s before it could be sent
    sender.ring("keep", 8, at=clock(), ring_until=clock() + RING, callback=False, number="")
    assert (sender.stats.queued, sender.stats.overflowed, sender.waiting) == (3, 1, 2)  # "old" made room
    await sender.start()
    try:
        events = await receiver.wait_for(1)
        await eventually(lambda: sender.stats.delivered == 1, what="the ring delivered")
    finally:
        await sender.stop()
    assert [(e["kind"], e["call_id"]) for e in events] == [("ring", "keep")]
    assert (sender.stats.expired, sender.stats.unsent) == (1, 0)

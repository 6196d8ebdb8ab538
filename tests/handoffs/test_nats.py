"""The kommune's durable NATS subject: every hand-off and status change reaches ``handoffs.<code>.<event>`` in the
HANDOFFS stream exactly once, also when NATS was down when the hand-off was made; and a kommune system can report
status back by request/reply on ``handoffs.<code>.status``."""

from __future__ import annotations

import datetime as dt
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from zoneinfo import ZoneInfo

import nats
from nats.js.api import DeliverPolicy

from hotline.config import NatsSettings
from hotline.handoffs import events, repository
from hotline.handoffs.publisher import HandOffPublisher, HandOffsRuntime
from hotline.handoffs.service import create_handoff
from hotline.lib.embedded_nats import EmbeddedNatsServer
from hotline.server.nats import NatsConnection
from tests.fixtures.databases import Database
from tests.fixtures.knowledge import eventually

CPH = ZoneInfo("Europe/Copenhagen")
EVENING = dt.datetime(2026, 11, 25, 19, 30, tzinfo=CPH)


async def make(call_id: str, kommune: str = "0751") -> str:
    handoff = await create_handoff(
        call_id=call_id,
        kommune_code=kommune,
        topic="storskrald",
        description="Storskrald ikke hentet",
        citizen_phone="+4512345678",
        created_by="agent|1",
        now=EVENING,
    )
    return handoff.handoff_id


@asynccontextmanager
async def connected(url: str) -> AsyncIterator[NatsConnection]:
    connection = NatsConnection(NatsSettings(), [url], name="handoffs-test")
    await connection.start()
    try:
        assert await connection.wait_connected(10)
        yield connection
    finally:
        await connection.close()


async def stream_messages(url: str) -> list[tuple[str, events.HandOffEvent]]:
    client = await nats.connect(url)
    try:
        js = client.jetstream()
        info = await js.stream_info(events.STREAM)
        found: list[tuple[str, events.HandOffEvent]] = []
        if info.state.messages:
            sub = await js.subscribe("handoffs.>", ordered_consumer=True, deliver_policy=DeliverPolicy.ALL)
            for _ in range(info.state.messages):
                msg = await sub.next_msg(timeout=5)
                found.append((msg.subject, events.event_decoder.decode(msg.data)))
            await sub.unsubscribe()
        return found
    finally:
        await client.close()


async def test_handoffs_are_published_once_and_survive_nats_being_down(
    demo_federation: Database, make_nats: type[EmbeddedNatsServer], tmp_path: Path
) -> None:
    server = make_nats(tmp_path / "nats")
    server.start()
    async with connected(server.url) as connection:
        publisher = HandOffPublisher(connection)
        await publisher.start()
        try:
            first = await make("call-1")
            publisher.notify()
            await eventually(lambda: publisher.published == 1, what="the first hand-off published")
            assert await repository.outbox_size() == 0

            server.stop()
            await eventually(lambda: not connection.connected, what="the client to notice NATS is gone")
            second = await make("call-2")
            third = await make("call-3", kommune="0615")
            publisher.notify()
            assert await repository.outbox_size() == 2  # kept until JetStream acknowledges

            server.start()
            await eventually(lambda: publisher.published == 3, within=30, what="the queued hand-offs published")
            assert await repository.outbox_size() == 0
        finally:
            await publisher.stop()

    received = await stream_messages(server.url)
    assert [(subject, event.service_request_id) for subject, event in received] == [
        ("handoffs.0751.created", first),
        ("handoffs.0751.created", second),
        ("handoffs.0615.created", third),
    ]
    assert received[0][1].citizen_phone == "+4512345678"
    assert received[0][1].due_at == dt.datetime(2026, 11, 26, 9, 0, tzinfo=CPH)


async def test_a_republished_outbox_row_is_delivered_once(
    demo_federation: Database, make_nats: type[EmbeddedNatsServer], tmp_path: Path
) -> None:
    """A publisher that dies after JetStream acknowledged but before deleting the row publishes it again; the
    stream's duplicate window drops the copy (Nats-Msg-Id)."""
    server = make_nats(tmp_path / "nats")
    server.start()
    handoff_id = await make("call-1")
    row = (await repository.outbox_batch(10))[0]
    async with connected(server.url) as connection:
        assert await HandOffPublisher(connection).drain_once() == 1
        await repository.insert_outbox({key: value for key, value in row.items() if key != "attempts"})
        assert await HandOffPublisher(connection).drain_once() == 1  # published again, acknowledged as duplicate
    received = await stream_messages(server.url)
    assert [event.service_request_id for _, event in received] == [handoff_id]


async def test_a_kommune_system_reports_status_over_nats(
    demo_federation: Database, nats_server: EmbeddedNatsServer
) -> None:
    handoff_id = await make("call-1")
    async with connected(nats_server.url) as connection:
        runtime = HandOffsRuntime(connection, clock=lambda: EVENING + dt.timedelta(hours=14))
        await runtime.start()
        client = await nats.connect(nats_server.url)
        try:
            await eventually(lambda: runtime.responder._subscription is not None, what="the responder")
            body = b'{"service_request_id": "%s", "status": "acknowledged", "status_notes": "Vi ringer"}'
            reply = await client.request("handoffs.0751.status", body % handoff_id.encode(), timeout=5)
            assert (
                events.encoder.encode(events.StatusReply(ok=True, service_request_id=handoff_id, status="acknowledged"))
                == reply.data
            )
            # Another kommune's subject cannot touch it.
            other = await client.request("handoffs.0615.status", body % handoff_id.encode(), timeout=5)
            assert b'"ok":false' in other.data
            assert b"service_request_id" in other.data
            bad = await client.request("handoffs.0751.status", b'{"service_request_id": "x"}', timeout=5)
            assert b'"ok":false' in bad.data
            assert b'"field":"body"' in bad.data
        finally:
            await client.close()
            await runtime.stop()
    row = await repository.handoff(handoff_id)
    assert row is not None
    assert (row["status"], row["status_notes"]) == ("acknowledged", "Vi ringer")

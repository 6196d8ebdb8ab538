"""The loop both outbox publishers (knowledge and hand-offs) run, on a real NATS connection: it drains only while
connected, batch after batch until the outbox is empty, one batch at a time; a failed batch is retried after
``forget_connection_state``; ``notify()`` wakes it before the idle poll; ``stop()`` lets a batch in flight finish."""

from __future__ import annotations

import asyncio
import logging
from pathlib import Path

import pytest

from hotline.config import NatsSettings
from hotline.lib.embedded_nats import EmbeddedNatsServer
from hotline.server.nats import NatsConnection
from kb_sync import outbox_loop
from kb_sync.outbox_loop import OutboxLoop, start_when_connected
from tests.fixtures.knowledge import eventually

log = logging.getLogger(__name__)


class Outbox(OutboxLoop[NatsConnection]):
    """A publisher of an outbox of ``rows``, ``batch`` rows at a time, that records what the loop asked of it."""

    def __init__(self, connection: NatsConnection, rows: int, batch: int = 2) -> None:
        super().__init__(connection, name="test-outbox", what="test outbox", log=log)
        self.rows = rows
        self.batch = batch
        self.calls = 0
        self.running = 0
        self.most_at_once = 0
        self.fail_next = 0
        self.forgotten = 0
        self.slow: asyncio.Event | None = None
        self.finished: list[int] = []

    async def drain_once(self) -> int:
        self.calls += 1
        self.running += 1
        self.most_at_once = max(self.most_at_once, self.running)
        try:
            await asyncio.sleep(0)
            if self.slow is not None:
                await self.slow.wait()
            if self.fail_next:
                self.fail_next -= 1
                raise ConnectionError("the server went away")
            cleared = min(self.batch, self.rows)
            self.rows -= cleared
            if cleared:
                self.finished.append(cleared)
            return cleared
        finally:
            self.running -= 1

    def forget_connection_state(self) -> None:
        self.forgotten += 1


async def test_it_drains_only_while_connected_and_until_the_outbox_is_empty(
    make_nats: type[EmbeddedNatsServer], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(outbox_loop, "IDLE_POLL", 60.0)  # so only notify() can explain a prompt drain
    server = make_nats(tmp_path / "nats")
    connection = NatsConnection(NatsSettings(), [server.url], name="loop")
    outbox = loop = Outbox(connection, rows=5)
    await connection.start()
    await loop.start()
    try:
        await asyncio.sleep(1.5)  # no server yet: the rows wait
        assert outbox.calls == 0
        server.start()
        await eventually(lambda: outbox.rows == 0, what="the outbox drained once connected")
        assert outbox.finished == [2, 2, 1]
        calls = outbox.calls
        outbox.rows = 3
        loop.notify()  # a commit: drained at once, not only after the idle poll
        await eventually(lambda: outbox.rows == 0, what="the notified rows")
        assert outbox.calls > calls
        assert outbox.most_at_once == 1
    finally:
        await loop.stop()
        await connection.close()


async def test_a_failed_batch_is_retried_with_fresh_connection_state_and_stop_lets_a_batch_finish(
    nats_server: EmbeddedNatsServer,
) -> None:
    connection = NatsConnection(NatsSettings(), [nats_server.url], name="loop")
    outbox = loop = Outbox(connection, rows=4)
    outbox.fail_next = 2
    await connection.start()
    await loop.start()
    try:
        await eventually(lambda: outbox.rows == 0, what="the rows published after two failed batches")
        assert outbox.forgotten == 2
        assert outbox.finished == [2, 2]
        outbox.rows = 1
        outbox.slow = asyncio.Event()
        loop.notify()
        await eventually(lambda: outbox.running == 1, what="a batch in flight")
        stopping = asyncio.create_task(loop.stop())
        await asyncio.sleep(0.2)
        assert not stopping.done()  # it waits for the batch rather than cancelling it mid-way
        outbox.slow.set()
        await asyncio.wait_for(stopping, outbox_loop.STOP_GRACE)
        assert outbox.finished == [2, 2, 1]
        calls = outbox.calls
        outbox.rows = 1
        loop.notify()
        await asyncio.sleep(outbox_loop.IDLE_POLL * 1.5)
        assert outbox.calls == calls  # stopped for good
    finally:
        await loop.stop()
        await connection.close()


async def test_a_service_is_started_once_connected_and_retried_until_it_starts(
    make_nats: type[EmbeddedNatsServer], tmp_path: Path
) -> None:
    server = make_nats(tmp_path / "nats")
    connection = NatsConnection(NatsSettings(), [server.url], name="loop")
    attempts: list[bool] = []

    async def start() -> None:
        attempts.append(True)
        if len(attempts) < 3:
            raise ConnectionError("dropped while subscribing")

    await connection.start()
    try:
        starting = asyncio.create_task(start_when_connected(connection, start, failed="test service", log=log))
        await asyncio.sleep(1.5)
        assert attempts == []  # nothing is tried before NATS is there
        server.start()
        await asyncio.wait_for(starting, 15)
        assert len(attempts) == 3
    finally:
        await connection.close()

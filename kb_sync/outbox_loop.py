"""The background loop every outbox publisher runs, and the start-once-connected helper for NATS services.

An outbox publisher (knowledge articles to the KV bucket, hand-offs to their stream) owns *what* one batch is:
which rows, how they are published, when they are deleted. This module owns *when* batches run: only while NATS is
connected, batch after batch until the outbox is empty, then again on ``notify()`` or after an idle poll; a
failure (NATS or the database away) leaves the rows in the outbox and is retried after a short delay; ``stop()``
lets a batch in flight finish before cancelling. The ordering and exactly-once guarantees stay with the
publisher's own batch: the loop runs one batch at a time, never two concurrently.

It depends on nothing but the standard library and :mod:`kb_sync.tasks`, so the hand-off area can use it without
importing the knowledge bank, and kb_sync stays importable without the web app.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from abc import ABC, abstractmethod
from collections.abc import Awaitable, Callable
from typing import Generic, Protocol, TypeVar

from kb_sync.tasks import stop_task

IDLE_POLL = 1.0
"""Seconds between looks at the outbox when nobody called ``notify()``, and between checks for a connection."""
RETRY_DELAY = 0.5
"""Seconds to wait after a failed batch before trying again."""
STOP_GRACE = 3.0
"""Seconds a batch in flight gets to finish on ``stop()`` before the loop is cancelled."""


class Connection(Protocol):
    """What the loops need of a NATS connection (:class:`hotline.server.nats.NatsConnection` is one)."""

    async def wait_connected(self, within: float) -> bool: ...


ConnectionT = TypeVar("ConnectionT", bound=Connection)


class OutboxLoop(ABC, Generic[ConnectionT]):
    """The base of an outbox publisher: :meth:`drain_once` (one batch; returns how many rows it cleared, raises if
    it could not publish) runs whenever ``connection`` is up, until it returns 0; then the loop waits for
    ``notify()`` or ``IDLE_POLL``. After a failure :meth:`forget_connection_state` runs (e.g. to drop a JetStream
    context bound to a dead client) and the loop retries."""

    def __init__(self, connection: ConnectionT, *, name: str, what: str, log: logging.Logger) -> None:
        self.connection = connection
        self._name = name
        self._what = what
        self._log = log
        self._wake = asyncio.Event()
        self._task: asyncio.Task[None] | None = None
        self._stopping = False

    @abstractmethod
    async def drain_once(self) -> int: ...

    def forget_connection_state(self) -> None:
        """Called after a failed batch; what the publisher derived from the connection may no longer hold."""

    def notify(self) -> None:
        """Something was committed to the outbox: drain now rather than at the next poll."""
        self._wake.set()

    async def start(self) -> None:
        self._task = asyncio.create_task(self._run(), name=self._name)

    async def stop(self) -> None:
        self._stopping = True
        self._wake.set()
        await stop_task(self._task, grace=STOP_GRACE)

    async def _run(self) -> None:
        while not self._stopping:
            try:
                if not await self.connection.wait_connected(IDLE_POLL):
                    continue
                while not self._stopping and await self.drain_once():
                    pass
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self._wake.wait(), IDLE_POLL)
                self._wake.clear()
            except asyncio.CancelledError:
                raise
            except Exception as exc:  # NATS or the database is away; the rows stay in the outbox
                self._log.info("%s not drained (%s); retrying", self._what, type(exc).__name__)
                self.forget_connection_state()
                await asyncio.sleep(RETRY_DELAY)


async def start_when_connected(
    connection: Connection, start: Callable[[], Awaitable[None]], *, failed: str, log: logging.Logger
) -> None:
    """Run ``start`` once NATS is connected, retrying until it succeeds (``failed`` is what the log says when an
    attempt fails, e.g. "kb-rules responder not registered"). Meant for core subscriptions and micro services:
    nats-py resubscribes them after a reconnect, so starting them once is enough."""
    while True:
        if await connection.wait_connected(1.0):
            try:
                await start()
                return
            except Exception as exc:  # the connection dropped while subscribing
                log.info("%s (%s); retrying", failed, type(exc).__name__)
        await asyncio.sleep(0.2)

"""The knowledge bank's part of an app process: the replica, the outbox publisher, the ``kb-rules`` responder and
the kommune push consumer, started and stopped together by the app's lifespan. None of them needs NATS to be up
at start: each waits for the connection in the background, so the app serves while NATS is down."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable

from hotline.config import NatsSettings
from hotline.server.nats import NatsConnection
from kb_sync.outbox_loop import start_when_connected
from kb_sync.publisher import OutboxPublisher
from kb_sync.push import PushConsumer
from kb_sync.replica import Clock, Replica
from kb_sync.responder import RulesResponder
from kb_sync.tasks import stop_task

log = logging.getLogger(__name__)


def publisher_connection(connection: NatsConnection) -> NatsConnection | None:
    """A connection of its own for the outbox publisher when the node's settings name a publisher user: in a
    deployment only "kb-publisher" may write the KV bucket, and the node's own user ("agent-node") only reads
    it (deploy/nats/accounts.conf). None: the publisher shares the node's connection (demo mode)."""
    settings = connection.settings
    if not settings.kb_publisher_user:
        return None
    own = NatsSettings(
        servers=settings.servers, user=settings.kb_publisher_user, password=settings.kb_publisher_password
    )
    return NatsConnection(own, connection.servers, name=f"{connection.name}-kb-publisher")


class KnowledgeSync:
    def __init__(self, connection: NatsConnection, *, clock: Clock) -> None:
        self.connection = connection
        self.replica = Replica(connection, clock=clock)
        self._publisher_connection = publisher_connection(connection)
        self.publisher = OutboxPublisher(self._publisher_connection or connection)
        self.push = PushConsumer(connection, on_stored=self.publisher.notify)
        self.responder = RulesResponder(connection, self.replica)
        self._responder_task: asyncio.Task[None] | None = None

    async def start(self) -> None:
        if self._publisher_connection is not None:
            await self._publisher_connection.start()
        await self.publisher.start()
        await self.replica.start()
        await self.push.start()
        self._responder_task = asyncio.create_task(self._start_responder(), name="kb-rules-responder")

    async def _start_responder(self) -> None:
        await start_when_connected(
            self.connection, self.responder.start, failed="kb-rules responder not registered", log=log
        )

    async def stop(self) -> None:
        await stop_task(self._responder_task)
        with contextlib.suppress(Exception):
            await self.responder.stop()
        await self.push.stop()
        await self.replica.stop()
        await self.publisher.stop()
        if self._publisher_connection is not None:
            await self._publisher_connection.close()


def replica_check(replica: Replica, *, wait: float = 1.5) -> Callable[[], Awaitable[tuple[bool, str]]]:
    """Readiness: the replica has cold-started and its watch is live (waiting briefly, e.g. just after start)."""

    async def check() -> tuple[bool, str]:
        await replica.wait_live(wait)
        fresh = replica.freshness()
        if not fresh.ready:
            return False, "cold start not complete"
        if not fresh.connected:
            return False, f"watch not live; serving revision {fresh.revision}"
        return True, f"revision {fresh.revision}, {fresh.articles} articles"

    return check

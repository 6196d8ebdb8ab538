"""The kommune push consumer: kommune systems publish their articles on ``kb.<code>.push``; the app stores them
like any edit (validated, versioned, written with an outbox row) and so publishes them to every replica.

The stream ``KB_PUSH`` keeps pushed messages until the durable consumer ``kb-push`` has acknowledged them, so
a push made while the app is down is processed when it starts. The subject names the kommune, and the NATS
permissions (deploy/nats/accounts.conf) let a kommune's user publish only below its own ``kb.<code>.``: a push
can therefore only change that kommune's articles. Invalid messages are terminated (``term()``), not redelivered;
a database failure is negatively acknowledged with a delay and retried. Payloads are never logged.
"""

from __future__ import annotations

import asyncio
import logging
import re
from collections.abc import Callable
from typing import Any

import msgspec
from nats.aio.msg import Msg
from nats.errors import TimeoutError as NatsTimeoutError
from nats.js.api import ConsumerConfig, StreamConfig
from nats.js.errors import NotFoundError

from hotline.knowledge import repository
from hotline.knowledge import service as knowledge
from hotline.server.nats import NatsConnection
from kb_sync.subjects import PUSH_DURABLE, PUSH_STREAM, PUSH_SUBJECTS, push_decoder
from kb_sync.tasks import stop_task

log = logging.getLogger(__name__)
_CODE = re.compile(r"^kb\.([0-9]{4})\.push$")
_RETRY_DELAY = 0.5


async def ensure_push_stream(connection: NatsConnection) -> None:
    client = connection.client
    assert client is not None  # noqa: S101 - called only while connected
    js = client.jetstream(timeout=5)
    try:
        await js.stream_info(PUSH_STREAM)
    except NotFoundError:
        await js.add_stream(StreamConfig(name=PUSH_STREAM, subjects=[PUSH_SUBJECTS], max_msg_size=64 * 1024))


class PushConsumer:
    """Consumes ``kb.*.push`` durably; ``on_stored`` runs after each commit (the publisher's ``notify``)."""

    def __init__(
        self,
        connection: NatsConnection,
        *,
        on_stored: Callable[[], None] = lambda: None,
        transaction: Callable[[], Any] | None = None,
    ) -> None:
        self.connection = connection
        self.on_stored = on_stored
        self._transaction = transaction or repository.transaction
        self._task: asyncio.Task[None] | None = None
        self._stopping = False
        self._handling = False
        self.stored = 0
        self.refused = 0

    async def start(self) -> None:
        self._task = asyncio.create_task(self._run(), name="kb-push-consumer")

    async def stop(self) -> None:
        self._stopping = True
        # Waiting in fetch() holds nothing: cancel at once. While a push is being stored, let it commit first.
        await stop_task(self._task, grace=3.0 if self._handling else 0.0)

    async def handle(self, msg: Msg) -> None:
        match = _CODE.match(msg.subject)
        try:
            if match is None:
                raise knowledge.KnowledgeError("subject", "not kb.<4-digit code>.push")
            pushed = push_decoder.decode(msg.data)
            async with self._transaction():
                await knowledge.upsert_pushed(match.group(1), pushed)
        except (msgspec.DecodeError, knowledge.KnowledgeError) as exc:
            # Field names only: the message may hold text from a citizen's case.
            field = exc.field if isinstance(exc, knowledge.KnowledgeError) else "payload"
            log.warning("refused a kommune push on %s (%s: %s)", msg.subject, type(exc).__name__, field)
            self.refused += 1
            await msg.term()
            return
        except Exception as exc:
            log.warning("kommune push not stored (%s); redelivering later", type(exc).__name__)
            await msg.nak(delay=2)
            return
        await msg.ack()
        self.stored += 1
        self.on_stored()

    async def _run(self) -> None:
        sub: Any = None
        client: object | None = None
        while not self._stopping:
            try:
                if not await self.connection.wait_connected(1.0):
                    continue
                if sub is None or client is not self.connection.client:
                    await ensure_push_stream(self.connection)
                    assert self.connection.client is not None  # noqa: S101 - connected
                    js = self.connection.client.jetstream(timeout=5)
                    sub = await js.pull_subscribe(
                        PUSH_SUBJECTS,
                        durable=PUSH_DURABLE,
                        stream=PUSH_STREAM,
                        config=ConsumerConfig(ack_wait=30, max_deliver=10),
                    )
                    client = self.connection.client
                try:
                    messages = await sub.fetch(batch=20, timeout=1.0)
                except NatsTimeoutError:
                    continue
                self._handling = True
                try:
                    for msg in messages:
                        await self.handle(msg)
                finally:
                    self._handling = False
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                log.info("kommune push consumer: %s; retrying", type(exc).__name__)
                sub = None
                await asyncio.sleep(_RETRY_DELAY)

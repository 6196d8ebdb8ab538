"""The hand-offs' part of an app process: the outbox publisher that carries hand-off events to the kommune's
JetStream subjects, the responder for status reports a kommune system sends over NATS, and the periodic
escalation (with its e-mail notices, handed to the letters worker) and retention sweeps. Started and stopped by the
app's lifespan; none of it needs NATS at start.

The publisher drains ``handoff_outbox`` in commit order whenever NATS is connected. A row is deleted only after
JetStream has acknowledged it, so a hand-off created while NATS is down is published when it returns. Each
message carries ``Nats-Msg-Id`` = ``<handoff id>:<row id>``, so a retry after a lost acknowledgement, or a second
app process publishing the same row, is dropped by the stream's duplicate window: the kommune receives it once.
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import logging
import re
from collections.abc import Callable
from typing import Any

import msgspec
from nats.aio.msg import Msg
from nats.aio.subscription import Subscription
from nats.js.api import RetentionPolicy, StorageType, StreamConfig
from nats.js.errors import NotFoundError

from hotline.handoffs import events, repository, service
from hotline.letters.rendering import Renderer
from hotline.server.nats import NatsConnection
from kb_sync.outbox_loop import OutboxLoop, start_when_connected
from kb_sync.tasks import stop_task

log = logging.getLogger(__name__)

BATCH = 200
_CODE = re.compile(r"^[0-9]{4}$")
DUPLICATE_WINDOW = dt.timedelta(minutes=10)

Clock = Callable[[], dt.datetime]


async def ensure_stream(connection: NatsConnection) -> None:
    """The ``HANDOFFS`` stream, created if it does not exist (file storage: it must survive a restart)."""
    client = connection.client
    assert client is not None  # noqa: S101 - called only while connected
    js = client.jetstream(timeout=5)
    try:
        await js.stream_info(events.STREAM)
    except NotFoundError:
        await js.add_stream(
            StreamConfig(
                name=events.STREAM,
                subjects=list(events.STREAM_SUBJECTS),
                storage=StorageType.FILE,
                retention=RetentionPolicy.LIMITS,
                max_age=events.STREAM_MAX_AGE.total_seconds(),
                duplicate_window=DUPLICATE_WINDOW.total_seconds(),
                description="hand-offs to the kommuner's own systems",
            )
        )


class HandOffPublisher(OutboxLoop[NatsConnection]):
    """Drains the hand-off outbox into the ``HANDOFFS`` stream; ``notify()`` after a commit to publish at once."""

    def __init__(self, connection: NatsConnection) -> None:
        super().__init__(connection, name="handoff-outbox-publisher", what="hand-off outbox", log=log)
        self._stream_client: object | None = None
        self.published = 0

    def forget_connection_state(self) -> None:
        # The stream may have been lost with the server: check (and create) it again on the next batch.
        self._stream_client = None

    async def drain_once(self) -> int:
        """Publish one batch; returns how many outbox rows it cleared. Raises when NATS refuses or is away
        (the rows stay)."""
        client = self.connection.client
        if client is None or not client.is_connected:
            raise ConnectionError("NATS is not connected")
        if self._stream_client is not client:  # a new client object after a full reconnect
            await ensure_stream(self.connection)
            self._stream_client = client
        rows = await repository.outbox_batch(BATCH)
        if not rows:
            return 0
        js = client.jetstream(timeout=5)
        done: list[int] = []
        try:
            for row in rows:
                await js.publish(
                    row["subject"],
                    row["payload"].encode(),
                    headers={"Nats-Msg-Id": f"{row['handoff_id']}:{row['id']}"},
                )
                done.append(row["id"])
        finally:
            await repository.outbox_delete(done)
            if len(done) < len(rows):
                await repository.outbox_attempted([rows[len(done)]["id"]])
        self.published += len(done)
        return len(done)


class StatusResponder:
    """Answers ``handoffs.<code>.status``: a kommune system reports progress on one of its hand-offs. The kommune
    is the subject's token, which only that kommune's NATS user may publish to (deploy/nats/accounts.conf)."""

    def __init__(
        self,
        connection: NatsConnection,
        *,
        clock: Clock,
        renderer: Callable[[], Renderer | None],
        on_change: Callable[[bool], None],
    ) -> None:
        self.connection = connection
        self.clock = clock
        self.renderer = renderer
        self.on_change = on_change
        self._subscription: Subscription | None = None

    async def start(self) -> None:
        client = self.connection.client
        assert client is not None  # noqa: S101 - called only while connected
        self._subscription = await client.subscribe(
            events.STATUS_SUBJECT_WILDCARD, queue=events.STATUS_QUEUE, cb=self.handle
        )

    async def stop(self) -> None:
        if self._subscription is not None:
            with contextlib.suppress(Exception):
                await self._subscription.unsubscribe()
            self._subscription = None

    async def answer(self, subject: str, data: bytes) -> events.StatusReply:
        code = subject.split(".")[1] if subject.count(".") == 2 else ""
        if not _CODE.match(code):
            return events.StatusReply(ok=False, field="subject", message="use handoffs.<4-digit kommune code>.status")
        try:
            request = events.status_request_decoder.decode(data)
        except msgspec.DecodeError as exc:
            return events.StatusReply(ok=False, field="body", message=str(exc))
        try:
            handoff, mailed = await service.update_status(
                kommune_code=code,
                handoff_id=request.service_request_id,
                status=request.status,
                note=request.status_notes,
                source="nats",
                actor=f"nats:kommune-{code}",
                now=self.clock(),
                renderer=self.renderer(),
            )
        except service.HandOffError as exc:
            return events.StatusReply(
                ok=False, service_request_id=request.service_request_id, field=exc.field, message=exc.message
            )
        self.on_change(mailed)
        return events.StatusReply(ok=True, service_request_id=handoff.handoff_id, status=handoff.status)

    async def handle(self, msg: Msg) -> None:
        try:
            reply = await self.answer(msg.subject, msg.data)
        except Exception as exc:  # the database is away: say so rather than leave the requester waiting
            log.warning("hand-off status report not processed (%s)", type(exc).__name__)
            reply = events.StatusReply(ok=False, field="", message="temporarily unavailable; try again")
        if msg.reply:
            with contextlib.suppress(Exception):
                await msg.respond(events.encoder.encode(reply))


class HandOffsRuntime:
    """Publisher, status responder and sweeps of one app process."""

    def __init__(
        self,
        connection: NatsConnection,
        *,
        clock: Clock,
        renderer: Callable[[], Renderer | None] = lambda: None,
        letters_notify: Callable[[], None] = lambda: None,
        sweep_interval: float = 60.0,
        base_url: str = "",
    ) -> None:
        """``base_url``: the hotline's public address (``settings.base_url``), for the inbox links in the
        escalation notices; without it the notices are sent without links."""
        self.connection = connection
        self.clock = clock
        self.base_url = base_url
        self.publisher = HandOffPublisher(connection)
        self.letters_notify = letters_notify
        self.responder = StatusResponder(connection, clock=clock, renderer=renderer, on_change=self.changed)
        self.sweep_interval = sweep_interval
        self._tasks: list[asyncio.Task[None]] = []
        self._stopping = asyncio.Event()

    def notify(self) -> None:
        """Call after committing a hand-off or a status change: publish now instead of at the next poll."""
        self.publisher.notify()

    def changed(self, mailed: bool) -> None:
        self.publisher.notify()
        if mailed:
            self.letters_notify()

    async def start(self) -> None:
        await self.publisher.start()
        self._tasks = [
            asyncio.create_task(self._start_responder(), name="handoff-status-responder"),
            asyncio.create_task(self._sweep_forever(), name="handoff-sweeps"),
        ]

    async def sweep(self) -> dict[str, Any]:
        """One escalation and retention pass (the periodic task calls this; tests call it directly)."""
        now = self.clock()
        escalated = await service.escalation_sweep(now, base_url=self.base_url)
        cleared = await service.retention_sweep(now)  # each kommune's retention, in short transactions
        if escalated:
            self.publisher.notify()
            self.letters_notify()  # the escalation notices
        if cleared:
            log.info("retention sweep anonymised hand-offs per kommune: %s", cleared)
        return {"escalated": len(escalated), "cleared": sum(cleared.values())}

    async def _start_responder(self) -> None:
        await start_when_connected(
            self.connection, self.responder.start, failed="hand-off status responder not subscribed", log=log
        )

    async def _sweep_forever(self) -> None:
        while not self._stopping.is_set():
            try:
                await self.sweep()
            except asyncio.CancelledError:
                raise
            except Exception as exc:  # the database is away; try again next round
                log.warning("hand-off sweep failed (%s)", type(exc).__name__)
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._stopping.wait(), self.sweep_interval)

    async def stop(self) -> None:
        self._stopping.set()
        for task in self._tasks:
            await stop_task(task, grace=3.0)
        await self.responder.stop()
        await self.publisher.stop()

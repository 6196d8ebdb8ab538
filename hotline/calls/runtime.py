"""What the calls area keeps running in each app process: the live connections of agents on this process, the
NATS fan-out that reaches them from any process, the periodic tick of the queue, and a short cache of webhook
secrets.

Live fan-out: whichever process assigns a call publishes on core NATS ``hotline.console.<user id>``; every
process subscribes to ``hotline.console.*`` and forwards to the connections it holds for that user, rendering the
screen-pop itself (from memory). While NATS is down a process delivers to its own connections directly; agents on
other processes get their current call when their console reconnects (the state is in the database).

The tick (every :data:`TICK_SECONDS`; :meth:`CallsRuntime.tick` is called directly by tests with a fixed clock):
ring timeouts, callbacks past the maximum wait, agents of dead processes, assignment of anything waiting (so no
call is forgotten when the process that took it died before assigning it), the queue figures for the consoles,
the heartbeat that vouches for this process's agents, and every :data:`RETENTION_EVERY` the retention sweep.

Ring instructions (when ``HOTLINE_TELEPHONY_RING_URL`` is set): the process that made an assignment, the one that
dispatches its effects, queues a ``ring`` for each offer and a ``withdraw`` for each cancelled offer on its
:class:`~hotline.calls.ring.RingSender`, which posts them to the platform off the hot path. A process that only
holds an agent's stream sends none, so each assignment is told to the platform once.
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import logging
import os
import socket
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Final

import msgspec
from jinja2 import Environment
from litestar.response import ServerSentEventMessage

from hotline.calls import repository as repo
from hotline.calls import service
from hotline.calls.ring import RingSender
from hotline.calls.routing import TenantIndex
from hotline.calls.screenpop import ScreenPopRenderer, load_topics
from hotline.calls.service import Effects, Offer, QueueOptions
from hotline.config.settings import TelephonySettings
from hotline.identity import audit
from hotline.identity.audit import Actor
from hotline.identity.service import SecretBox, active_webhook_secrets, webhook_secret_used
from hotline.server.nats import NatsConnection
from kb_sync.replica import Replica

log = logging.getLogger(__name__)

SUBJECT_PREFIX: Final = "hotline.console"
TICK_SECONDS: Final = 1.0
HEARTBEAT_EVERY: Final = dt.timedelta(seconds=10)
SECRET_TTL: Final = dt.timedelta(seconds=30)
RELOAD_AT_MOST_EVERY: Final = 0.25  # seconds: an unmatched signature may reload the secrets this often
TOPIC_COUNTS_EVERY: Final = dt.timedelta(minutes=5)
TOPIC_COUNTS_WINDOW: Final = dt.timedelta(days=30)
RETENTION_EVERY: Final = dt.timedelta(minutes=5)  # the retention sweep of calls (service.retention_sweep)
KEEPALIVE_SECONDS: Final = 15.0
QUEUE_FIGURES_AT_MOST_EVERY: Final = dt.timedelta(seconds=2)
FAN_OUT_CHUNK: Final = 20  # connections given a broadcast before the event loop serves others (screen-pops)

Clock = Callable[[], dt.datetime]


def console_subject(user_id: int) -> str:
    return f"{SUBJECT_PREFIX}.{user_id}"


class Notice(msgspec.Struct, frozen=True, tag_field="kind"):
    user_id: int


class OfferNotice(Notice, frozen=True, tag="offer"):
    call_id: str
    kommune_code: str
    mode: str
    misrouted: bool
    caller_number: str
    language: str
    offered_at: dt.datetime
    callback: bool = False
    arrived_ns: int = 0
    """Wall-clock nanoseconds when the offered event reached the webhook (0 for re-offers): screen-pop latency."""


class CancelNotice(Notice, frozen=True, tag="cancel"):
    call_id: str


class PresenceNotice(Notice, frozen=True, tag="presence"):
    state: str


AnyNotice = OfferNotice | CancelNotice | PresenceNotice
_decoder = msgspec.json.Decoder(AnyNotice)
_encoder = msgspec.json.Encoder()


@dataclass(eq=False)
class LiveConnection:
    """One agent's open ``/console/events`` stream on this process."""

    user_id: int
    actor: Actor
    lang: str
    queue: asyncio.Queue[ServerSentEventMessage | None] = field(default_factory=asyncio.Queue)
    # call id -> (arrival stamp, kommune code, whether a number is shown) of the screen-pop waiting in the queue:
    # the send stamp is taken when it leaves, and the view is audited from these facts without reading the call.
    arrivals: dict[str, tuple[int, str, bool]] = field(default_factory=dict)


@dataclass
class _Secrets:
    expires: dt.datetime
    secrets: list[tuple[int, bytes]]
    loaded: float


@dataclass
class CallsRuntime:
    clock: Clock
    options: QueueOptions = field(default_factory=QueueOptions)
    router: TenantIndex = field(default_factory=TenantIndex)
    node: str = field(default_factory=lambda: f"{socket.gethostname()}:{os.getpid()}:{id(object()):x}")
    connections: dict[int, set[LiveConnection]] = field(default_factory=dict)
    renderer: ScreenPopRenderer | None = None
    nats: NatsConnection | None = None
    secret_box: SecretBox | None = None
    run_tick_loop: bool = True
    telephony: TelephonySettings = field(default_factory=TelephonySettings)
    ring: RingSender | None = None
    """The sender of ring instructions to the platform; started with the runtime when a ring URL is set."""
    known_topics: set[str] = field(default_factory=set)
    _secrets: dict[str, _Secrets] = field(default_factory=dict)
    _secret_marked: dict[int, dt.datetime] = field(default_factory=dict)
    _task: asyncio.Task[None] | None = None
    _subscriber: asyncio.Task[None] | None = None
    _subscription: Any = None
    _last_heartbeat: dt.datetime | None = None
    _last_topic_counts: dt.datetime | None = None
    _next_retention: dt.datetime | None = None
    _queue_figures: tuple[int, int, int] | None = None
    _queue_figures_sent: dt.datetime | None = None
    _surge_ids: tuple[str, ...] | None = None
    _background: set[asyncio.Task[Any]] = field(default_factory=set)

    # -- life ---------------------------------------------------------------------------------------------

    async def start(
        self, *, environment: Environment, replica: Replica | None, nats: NatsConnection, secret_box: SecretBox
    ) -> None:
        self.nats = nats
        self.secret_box = secret_box
        self.renderer = ScreenPopRenderer(environment=environment, replica=replica)
        await self.refresh_topics()
        if self.telephony.ring_url:
            self.ring = RingSender(self.telephony.ring_url, self.telephony.ring_secret.encode(), self.clock)
            await self.ring.start()
        self._subscriber = asyncio.create_task(self._subscribe(), name="calls-subscribe")
        if self.run_tick_loop:
            self._task = asyncio.create_task(self._tick_forever(), name="calls-tick")

    async def stop(self) -> None:
        for task in (self._task, self._subscriber, *self._background):
            if task is not None and not task.done():
                task.cancel()
                with contextlib.suppress(asyncio.CancelledError, Exception):
                    await task
        if self._subscription is not None:
            with contextlib.suppress(Exception):
                await self._subscription.unsubscribe()
        for connections in list(self.connections.values()):
            for connection in connections:
                connection.queue.put_nowait(None)
        if self.ring is not None:
            await self.ring.stop()

    async def _subscribe(self) -> None:
        nats = self.nats
        if nats is None:
            return
        while not await nats.wait_connected(3600):
            pass
        client = nats.client
        if client is None:
            return
        self._subscription = await client.subscribe(f"{SUBJECT_PREFIX}.*", cb=self._on_message)

    async def _on_message(self, msg: Any) -> None:
        try:
            notice = _decoder.decode(msg.data)
        except msgspec.DecodeError:
            log.warning("ignored a malformed console notice")
            return
        await self.deliver(notice)

    # -- webhook secrets ----------------------------------------------------------------------------------

    async def webhook_secrets(self, kommune_code: str, *, reload: bool = False) -> list[tuple[int, bytes]]:
        """The kommune's active secrets, cached for :data:`SECRET_TTL` (a revoked secret stops working within
        that time) so that ingest does not decrypt on every request. ``reload`` (when nothing matched) reads them
        again (at most every quarter second), so a newly issued secret works at once."""
        now = self.clock()
        cached = self._secrets.get(kommune_code)
        recent = cached is not None and time.monotonic() - cached.loaded < RELOAD_AT_MOST_EVERY
        if cached is not None and cached.expires > now and (not reload or recent):
            return cached.secrets
        if self.secret_box is None:
            return []
        secrets = await active_webhook_secrets(self.secret_box, kommune_code)
        self._secrets[kommune_code] = _Secrets(expires=now + SECRET_TTL, secrets=secrets, loaded=time.monotonic())
        return secrets

    async def secret_used(self, secret_id: int) -> None:
        now = self.clock()
        last = self._secret_marked.get(secret_id)
        if last is not None and now - last < dt.timedelta(minutes=1):
            return
        self._secret_marked[secret_id] = now
        await webhook_secret_used(secret_id, now)

    # -- the queue ------------------------------------------------------------------------------------------

    async def refresh_topics(self) -> None:
        topics = await load_topics()  # codes and names in one query; the screen-pop shows the names
        self.known_topics = set(topics)
        if self.renderer is not None:
            self.renderer.set_topics(topics)

    async def assign(self) -> Effects:
        effects = Effects()
        async with repo.transaction():
            await service.assign(self.clock(), self.options, effects)
        await self.dispatch(effects)
        return effects

    async def tick(self) -> Effects:
        """One round of the queue's housekeeping (see the module docstring)."""
        now = self.clock()
        effects = Effects()
        async with repo.transaction():
            await service.ring_timeouts(now, effects)
            await service.offer_callbacks_past_max_wait(now, self.options, effects)
            await service.expire_stale_agents(now, self.options, effects)
        async with repo.transaction():
            await service.assign(now, self.options, effects)
        if self._last_heartbeat is None or now - self._last_heartbeat >= HEARTBEAT_EVERY:
            self._last_heartbeat = now
            await repo.touch_agents(sorted(self.connections), self.node, now)
        if self._last_topic_counts is None or now - self._last_topic_counts >= TOPIC_COUNTS_EVERY:
            self._last_topic_counts = now
            await self._refresh_topic_counts(now)
        await self.dispatch(effects)
        await self._broadcast_figures(now)
        if self._next_retention is None or now >= self._next_retention:  # last: the agents are told first
            self._next_retention = now + RETENTION_EVERY
            if (await service.retention_sweep(now)).more:  # its own short transactions; one read when idle
                self._next_retention = now  # a long history: go on at the next tick
        return effects

    async def _refresh_topic_counts(self, now: dt.datetime) -> None:
        await self.refresh_topics()  # the taxonomy's names, on the same schedule as the counts
        counts: dict[str, dict[str, int]] = {}
        for row in await repo.topic_counts(now - TOPIC_COUNTS_WINDOW):
            counts.setdefault(row["kommune_code"], {})[row["topic"]] = int(row["n"])
        if self.renderer is not None:
            self.renderer.topic_counts = counts

    async def _tick_forever(self) -> None:
        while True:
            await asyncio.sleep(TICK_SECONDS)
            try:
                await self.tick()
            except asyncio.CancelledError:
                raise
            except Exception as exc:  # the next tick tries again; a failing tick must not end the loop
                log.warning("calls tick failed: %s", type(exc).__name__)

    # -- fan-out --------------------------------------------------------------------------------------------

    async def dispatch(self, effects: Effects, *, arrived_ns: int = 0) -> None:
        """Tell the agents concerned, on whichever process holds their connection, and queue the ring instructions
        for the platform."""
        if self.ring is not None and (effects.offers or effects.cancelled):
            self._queue_ring_instructions(self.ring, effects)
        notices: list[AnyNotice] = [
            OfferNotice(
                user_id=o.user_id,
                call_id=o.call_id,
                kommune_code=o.kommune_code,
                mode=o.mode,
                misrouted=o.misrouted,
                caller_number=o.caller_number,
                language=o.language,
                offered_at=o.offered_at,
                callback=o.callback,
                arrived_ns=arrived_ns if not o.callback else 0,
            )
            for o in effects.offers
        ]
        notices += [CancelNotice(user_id=user, call_id=call) for user, call in effects.cancelled]
        notices += [PresenceNotice(user_id=user, state=state) for user, state in effects.presence]
        for notice in notices:
            await self.publish(notice)

    def _queue_ring_instructions(self, ring: RingSender, effects: Effects) -> None:
        """Withdraws first: within one set of effects a cancelled offer came before any new offer of its call (a
        ring timeout, then the re-offer), and the platform acts on the instructions in the order they arrive."""
        now = self.clock()
        for user_id, call_id in effects.cancelled:
            ring.withdraw(call_id, user_id, at=now)
        for offer in effects.offers:
            ring.ring(
                offer.call_id,
                offer.user_id,
                at=now,
                ring_until=offer.ring_until or now + self.options.ring_timeout,
                callback=offer.callback,
                number=offer.caller_number if offer.callback else "",
            )

    async def publish(self, notice: AnyNotice) -> None:
        client = self.nats.client if self.nats is not None else None
        if client is not None and client.is_connected and self._subscription is not None:
            try:
                await client.publish(console_subject(notice.user_id), _encoder.encode(notice))
                return
            except Exception as exc:  # fall through to local delivery
                log.warning("console notice not published: %s", type(exc).__name__)
        await self.deliver(notice)

    async def deliver(self, notice: AnyNotice) -> None:
        """Forward a notice to this process's connections of its agent."""
        connections = self.connections.get(notice.user_id)
        if not connections:
            return
        if isinstance(notice, OfferNotice):
            offer = Offer(
                user_id=notice.user_id,
                call_id=notice.call_id,
                kommune_code=notice.kommune_code,
                mode=notice.mode,
                misrouted=notice.misrouted,
                caller_number=notice.caller_number,
                language=notice.language,
                offered_at=notice.offered_at,
                callback=notice.callback,
            )
            for connection in list(connections):
                html = await self.render(offer, connection.lang)
                connection.arrivals[notice.call_id] = (
                    notice.arrived_ns,
                    notice.kommune_code,
                    bool(notice.caller_number),
                )
                connection.queue.put_nowait(ServerSentEventMessage(data=html, event="screen-pop", id=notice.call_id))
        elif isinstance(notice, CancelNotice):
            for connection in list(connections):
                connection.queue.put_nowait(ServerSentEventMessage(data=notice.call_id, event="call-cancelled"))
        else:
            for connection in list(connections):
                connection.queue.put_nowait(ServerSentEventMessage(data=notice.state, event="presence"))

    async def render(self, offer: Offer, lang: str, answered_at: dt.datetime | None = None) -> str:
        if self.renderer is None:
            return ""
        tenant = await self.router.tenant(offer.kommune_code) if offer.kommune_code else None
        return self.renderer.render(offer, tenant, self.clock(), lang, answered_at=answered_at)

    def screen_pop_sent(self, connection: LiveConnection, message: ServerSentEventMessage) -> ServerSentEventMessage:
        """Stamp a screen-pop as it leaves: its id carries ``<call id>.<arrived ns>.<sent ns>`` so a client can
        measure webhook-to-screen latency from the server's own clock; then audit that the agent saw the number."""
        call_id = str(message.id or "")
        arrived, kommune_code, shown = connection.arrivals.pop(call_id, (0, "", False))
        message.id = f"{call_id}.{arrived}.{time.time_ns()}"
        if not shown:
            return message  # no number on the screen-pop: nothing personal was shown
        task = asyncio.create_task(self._audit_view(connection, call_id, kommune_code))
        self._background.add(task)
        task.add_done_callback(self._background.discard)
        return message

    async def _audit_view(self, connection: LiveConnection, call_id: str, kommune_code: str) -> None:
        try:
            await audit.record(
                audit.PERSONAL_DATA_VIEWED,
                actor=connection.actor,
                kommune_code=kommune_code,
                now=self.clock(),
                target=f"call:{call_id}"[:200],
                detail={"what": "caller_number", "via": "screen-pop"},
            )
        except Exception as exc:  # an audit failure is logged; the agent already has the call
            log.warning("screen-pop audit failed: %s", type(exc).__name__)

    # -- connections ----------------------------------------------------------------------------------------

    async def connect(self, user_id: int, actor: Actor, lang: str) -> LiveConnection:
        connection = LiveConnection(user_id=user_id, actor=actor, lang=lang)
        self.connections.setdefault(user_id, set()).add(connection)
        now = self.clock()
        async with repo.transaction():
            await repo.touch_agents([user_id], self.node, now)
        # What the agent must see at once: the presence, a call already offered or in hand, queue and surge.
        presence = await repo.presence(user_id)
        state = presence["state"] if presence else "offline"
        connection.queue.put_nowait(ServerSentEventMessage(data=state, event="presence"))
        current = presence["current_call_id"] if presence else ""
        if current:
            call = await repo.call(current)
            if call is not None:
                offer = service._offer_of(call, user_id, callback=call["status"] == "callback")
                in_hand = state in ("on_call", "wrap_up")  # answered: no answer button on the pop again
                html = await self.render(offer, lang, call["answered_at"] if in_hand else None)
                connection.arrivals[current] = (0, call["kommune_code"], bool(call["caller_number"]))
                connection.queue.put_nowait(ServerSentEventMessage(data=html, event="screen-pop", id=current))
        figures = await self.queue_figures(now)
        connection.queue.put_nowait(ServerSentEventMessage(data=self._queue_text(*figures), event="queue"))
        if self.renderer is not None:
            connection.queue.put_nowait(ServerSentEventMessage(data=self.renderer.surge(lang), event="surge"))
        return connection

    def disconnect(self, connection: LiveConnection) -> None:
        connections = self.connections.get(connection.user_id)
        if connections is not None:
            connections.discard(connection)
            if not connections:
                del self.connections[connection.user_id]

    async def queue_figures(self, now: dt.datetime) -> tuple[int, int, int]:
        """(calls waiting, seconds the longest has waited, agents available)."""
        waiting, oldest = await repo.queue_stats()
        longest = int((now - oldest).total_seconds()) if oldest is not None else 0
        return waiting, max(longest, 0), (await repo.presence_counts()).get("available", 0)

    @staticmethod
    def _queue_text(waiting: int, longest: int, available: int) -> str:
        figures = {"waiting": waiting, "longest_wait_seconds": longest, "available": available}
        return _encoder.encode(figures).decode()

    async def _broadcast_figures(self, now: dt.datetime) -> None:
        """Queue figures (when they changed, at most every :data:`QUEUE_FIGURES_AT_MOST_EVERY`) and surge notices
        (when the set changed) to every connection of this process.

        Each message costs a write on each of the (hundreds of) streams, and a screen-pop that arrives behind such
        a burst can wait for all of it. So the figures, which flicker between 0 and 1 waiting
        on a busy evening, go out at most every two seconds (the last change is always sent on a later tick), and
        the fan-out yields to the event loop every :data:`FAN_OUT_CHUNK` connections.
        """
        if not self.connections:
            return
        due = self._queue_figures_sent is None or now - self._queue_figures_sent >= QUEUE_FIGURES_AT_MOST_EVERY
        if due:
            figures = await self.queue_figures(now)
            if figures != self._queue_figures:
                self._queue_figures = figures
                self._queue_figures_sent = now
                text = self._queue_text(*figures)
                await self._fan_out(lambda _: ServerSentEventMessage(data=text, event="queue"))
        renderer = self.renderer
        replica = renderer.replica if renderer is not None else None
        if renderer is not None and replica is not None and replica.ready:
            ids = tuple(record.id for record in replica.surge())
            if ids != self._surge_ids:
                self._surge_ids = ids
                await self._fan_out(lambda c: ServerSentEventMessage(data=renderer.surge(c.lang), event="surge"))

    async def _fan_out(self, message: Callable[[LiveConnection], ServerSentEventMessage]) -> None:
        """Queue a message on every connection, letting the loop run between chunks (see above)."""
        targets = [connection for connections in self.connections.values() for connection in connections]
        for start in range(0, len(targets), FAN_OUT_CHUNK):
            if start:
                await asyncio.sleep(0)
            for connection in targets[start : start + FAN_OUT_CHUNK]:
                connection.queue.put_nowait(message(connection))

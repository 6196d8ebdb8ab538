"""The in-memory replica of the whole knowledge bank that every app process keeps, fed by a watch of the KV
bucket, and how fresh it is.

* Cold start: an ordered consumer on ``$KV.KB.>`` delivering the last value per key; the replica is *ready* once
  it has applied everything that was pending when it subscribed.
* Updates are applied idempotently: an entry is ignored unless its KV revision is newer than the one held for its
  key and its article version is newer than the one held for the article. Duplicates and late (out-of-order)
  deliveries therefore change nothing.
* The search index (:class:`~hotline.knowledge.search.ScopedSearch`, one index per scope) is built after the
  cold start by a task of its own, in slices that yield to the event loop, general and surge articles first.
  A search never waits for it: it indexes whatever is still staged for the scopes it reads (the caller's
  kommune, general, surge: a few hundred articles, milliseconds). ``Freshness.search_ready`` says every
  article is indexed. Later changes are indexed within one turn of the loop.
* Effective rule sets are precomputed per kommune as changes arrive (only the affected topic is recomputed), so
  reading one is a dictionary lookup. During the cold start the work is deferred until the backlog is drained.
* Reconnects: after a nats-server restart the ordered consumer of nats-py may stall for many seconds before
  it notices. The replica registers a hook on the connection's reconnected callback and, on every reconnect,
  drops its subscription and subscribes again from its last revision + 1, so it reconverges as soon as
  JetStream answers again. The same happens if no message or heartbeat arrived for a while.
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import logging
import time
from collections import defaultdict
from collections.abc import Callable
from typing import Any

import msgspec
from nats.aio.msg import Msg
from nats.js import api
from nats.js.errors import NotFoundError

from hotline.knowledge.search import ScopedSearch, scopes_for
from hotline.knowledge.service import is_active, merge_topic, next_boundary
from hotline.server.nats import NatsConnection
from kb_sync.subjects import (
    BUCKET_STREAM,
    BUCKET_SUBJECT_PREFIX,
    FEDERATION,
    GENERAL,
    ArticleRecord,
    RuleSet,
    TopicRules,
    record_decoder,
    split_key,
)
from kb_sync.tasks import stop_task

log = logging.getLogger(__name__)

Clock = Callable[[], dt.datetime]
_KV_OPERATION = "KV-Operation"
_DELETES = frozenset({"DEL", "PURGE"})
_RETRY_DELAY = 0.2


def _utc_now() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


class Freshness(msgspec.Struct, frozen=True):
    """How current this process's replica is: for /health/ready, the API and the agent console's banner."""

    ready: bool
    """The cold start is complete: every article that existed when the replica subscribed is held."""
    connected: bool
    """The replica's watch is live on a connected NATS client."""
    revision: int
    """The last KV revision applied (the bucket's stream sequence)."""
    pending: int
    """Messages the server still had to deliver when the last one arrived (lag, in changes)."""
    articles: int
    search_ready: bool
    """Every article held is also in the search index."""
    watches: int
    """How many times the watch was (re)subscribed: 1 after the cold start, one more per reconnect or stall."""
    last_change_at: dt.datetime | None
    """When the last change was applied (wall clock, UTC)."""
    seconds_since_contact: float | None
    """Seconds since the last message or heartbeat from the watch."""


class _Cached(msgspec.Struct):
    topics: dict[str, TopicRules]
    rules: RuleSet
    expires: dt.datetime | None


class Replica:
    """All articles, the search index and every kommune's effective rule set, in this process's memory."""

    def __init__(
        self, connection: NatsConnection, *, clock: Clock = _utc_now, stall_after: float = 8.0, name: str = "kb"
    ) -> None:
        self.connection = connection
        self.clock = clock
        self.name = name
        self.stall_after = stall_after
        self.index = ScopedSearch()
        self._records: dict[str, ArticleRecord] = {}  # article id -> record
        self._key_revision: dict[str, int] = {}  # KV key -> revision applied
        self._by_scope: dict[str, dict[str, dict[str, ArticleRecord]]] = defaultdict(lambda: defaultdict(dict))
        self._rules: dict[str, _Cached] = {}
        self._dirty: set[tuple[str, str]] = set()  # (scope, topic) changed since the last refresh
        self.revision = 0
        self.pending = 0
        self.last_change_at: dt.datetime | None = None
        self._last_contact = 0.0
        self._ready = asyncio.Event()
        self._subscribed = False
        self._sub: Any = None
        self._task: asyncio.Task[None] | None = None
        self._stopping = False
        self._resubscribe = asyncio.Event()
        self._live_changed = asyncio.Event()
        self._listeners: list[Callable[[ArticleRecord], None]] = []
        self._watches = 0
        self._index_wake = asyncio.Event()
        self._index_task: asyncio.Task[None] | None = None

    # -- reading ----------------------------------------------------------------------------------------

    @property
    def ready(self) -> bool:
        return self._ready.is_set()

    @property
    def live(self) -> bool:
        return self._subscribed and self.connection.connected

    async def wait_ready(self, within: float) -> bool:
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._ready.wait(), within)
        return self.ready

    async def wait_live(self, within: float) -> bool:
        """Wait up to ``within`` seconds until the replica is ready and its watch is live."""
        deadline = time.monotonic() + within
        while not (self.ready and self.live) and time.monotonic() < deadline:
            self._live_changed.clear()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._live_changed.wait(), min(0.1, max(deadline - time.monotonic(), 0.0)))
        return self.ready and self.live

    def freshness(self) -> Freshness:
        contact = time.monotonic() - self._last_contact if self._last_contact else None
        return Freshness(
            ready=self.ready,
            connected=self.live,
            revision=self.revision,
            pending=self.pending,
            articles=len(self._records),
            search_ready=self.ready and not self.index.staged,
            watches=self._watches,
            last_change_at=self.last_change_at,
            seconds_since_contact=round(contact, 3) if contact is not None else None,
        )

    def article(self, article_id: str) -> ArticleRecord | None:
        return self._records.get(article_id)

    def __len__(self) -> int:
        return len(self._records)

    def records(self) -> list[ArticleRecord]:
        """Every article held (governance views walk them; agents never need this)."""
        return list(self._records.values())

    def topic_articles(self, scope: str, topic: str) -> tuple[ArticleRecord, ...]:
        """The articles of one scope on one topic, valid now or not."""
        return tuple(self._by_scope.get(scope, {}).get(topic, {}).values())

    def topics_of(self, scope: str) -> frozenset[str]:
        """The topics on which ``scope`` has at least one article."""
        return frozenset(topic for topic, articles in self._by_scope.get(scope, {}).items() if articles)

    def rules(self, kommune: str) -> RuleSet:
        """The kommune's effective rule set: a dictionary lookup, recomputed only when a change or a validity
        boundary has passed."""
        now = self.clock()
        cached = self._rules.get(kommune)
        if cached is None or (cached.expires is not None and now >= cached.expires):
            cached = self._compute(kommune, now)
            self._rules[kommune] = cached
        return cached.rules

    def surge(self) -> tuple[ArticleRecord, ...]:
        return self.rules(GENERAL).surge

    def hidden_general(self, kommune: str) -> frozenset[str]:
        """General articles the kommune has replaced or marked not offered: search leaves them out."""
        local = self._by_scope.get(kommune)
        if not local:
            return frozenset()
        hidden: set[str] = set()
        general = self._by_scope.get(GENERAL, {})
        for topic, articles in local.items():
            if any(record.mode in ("replace", "not_offered") for record in articles.values()):
                hidden.update(general.get(topic, {}))
        return frozenset(hidden)

    def search(self, query: str, kommune: str | None, *, limit: int = 20) -> list[tuple[ArticleRecord, float]]:
        hidden = self.hidden_general(kommune) if kommune else frozenset()
        return self.index.search(query, scopes_for(kommune), limit=limit, hidden=hidden)

    def on_change(self, listener: Callable[[ArticleRecord], None]) -> None:
        """Call ``listener`` with every record applied (the benchmark and tests observe changes this way)."""
        self._listeners.append(listener)

    # -- merging ----------------------------------------------------------------------------------------

    def _topic(self, kommune: str, topic: str, now: dt.datetime) -> TopicRules | None:
        general = self._by_scope.get(GENERAL, {}).get(topic, {})
        local = self._by_scope.get(kommune, {}).get(topic, {}) if kommune != GENERAL else {}
        return merge_topic(topic, general.values(), local.values(), now)

    def _surge(self, now: dt.datetime) -> tuple[ArticleRecord, ...]:
        banners = [record for articles in self._by_scope.get(FEDERATION, {}).values() for record in articles.values()]
        return tuple(sorted((r for r in banners if is_active(r, now)), key=lambda r: (r.valid_from or now, r.id)))

    def _expiry(self, kommune: str, now: dt.datetime) -> dt.datetime | None:
        considered = [
            record
            for scope in (GENERAL, FEDERATION, kommune)
            for articles in self._by_scope.get(scope, {}).values()
            for record in articles.values()
        ]
        return next_boundary(considered, now)

    def _compute(self, kommune: str, now: dt.datetime) -> _Cached:
        topics: dict[str, TopicRules] = {}
        names = set(self._by_scope.get(GENERAL, {})) | (
            set(self._by_scope.get(kommune, {})) if kommune != GENERAL else set()
        )
        for topic in names:
            merged = self._topic(kommune, topic, now)
            if merged is not None:
                topics[topic] = merged
        return self._assemble(kommune, topics, self._surge(now), self._expiry(kommune, now))

    def _assemble(
        self, kommune: str, topics: dict[str, TopicRules], surge: tuple[ArticleRecord, ...], expires: dt.datetime | None
    ) -> _Cached:
        ordered = tuple(topics[name] for name in sorted(topics))
        rules = RuleSet(kommune=kommune, revision=self.revision, topics=ordered, surge=surge)
        return _Cached(topics=topics, rules=rules, expires=expires)

    def _refresh(self) -> None:
        """Bring the cached rule sets up to date with the changes since the last refresh, recomputing only the
        topics that changed: a kommune's change touches its own rule set, a general one every kommune's."""
        if not self._dirty:
            return
        dirty, self._dirty = self._dirty, set()
        if len(dirty) > 64:
            self._rules.clear()  # a bulk load: each rule set is computed whole when first read
            return
        now = self.clock()
        surge_changed = any(scope == FEDERATION for scope, _ in dirty)
        surge = self._surge(now) if surge_changed else None
        for kommune, cached in list(self._rules.items()):
            topics = [t for scope, t in dirty if scope == GENERAL or (scope == kommune and kommune != GENERAL)]
            if not topics and surge is None:
                continue
            updated = dict(cached.topics)
            for topic in topics:
                merged = self._topic(kommune, topic, now)
                if merged is None:
                    updated.pop(topic, None)
                else:
                    updated[topic] = merged
            self._rules[kommune] = self._assemble(
                kommune,
                updated,
                surge if surge is not None else cached.rules.surge,
                self._expiry(kommune, now),
            )

    # -- applying changes -------------------------------------------------------------------------------

    def apply(self, key: str, revision: int, value: bytes | None, *, deleted: bool = False) -> bool:
        """Apply one KV entry; True if it changed anything. Safe to call with duplicates and stale entries."""
        if revision <= self._key_revision.get(key, 0):
            return False
        try:
            _scope, _topic, article_id = split_key(key)
        except ValueError:
            log.warning("ignoring KV key not of the form scope.topic.id")
            return False
        self._key_revision[key] = revision
        self.revision = max(self.revision, revision)
        current = self._records.get(article_id)
        if deleted:
            if current is None:
                return False
            self._remove(current)
        else:
            try:
                record = record_decoder.decode(value or b"")
            except msgspec.DecodeError:
                log.warning("ignoring an undecodable article record at revision %d", revision)
                return False
            if current is not None and record.version <= current.version:
                return False
            if current is not None:
                self._remove(current)
            self._records[record.id] = record
            self._by_scope[record.scope][record.topic][record.id] = record
            self.index.stage(record)
            self._index_wake.set()
            self._dirty.add((record.scope, record.topic))
            for listener in self._listeners:
                listener(record)
        self.last_change_at = self.clock()
        return True

    def _remove(self, record: ArticleRecord) -> None:
        self._records.pop(record.id, None)
        self._by_scope[record.scope][record.topic].pop(record.id, None)
        self.index.stage_removal(record.scope, record.id)
        self._index_wake.set()
        self._dirty.add((record.scope, record.topic))

    async def _on_message(self, msg: Msg) -> None:
        self._last_contact = time.monotonic()
        metadata = msg.metadata
        operation = (msg.headers or {}).get(_KV_OPERATION)
        self.apply(
            msg.subject[len(BUCKET_SUBJECT_PREFIX) :],
            metadata.sequence.stream,
            msg.data,
            deleted=operation in _DELETES,
        )
        self.pending = metadata.num_pending
        if metadata.num_pending == 0:
            self._refresh()
            self._ready.set()
            self._live_changed.set()

    # -- the watch --------------------------------------------------------------------------------------

    async def start(self) -> None:
        self.connection.on_reconnected(self._reconnected)
        self._task = asyncio.create_task(self._watch_forever(), name=f"{self.name}-replica")
        self._index_task = asyncio.create_task(self._index_forever(), name=f"{self.name}-search-index")

    def index_pending(self) -> None:
        """Index everything applied so far, now (tests and the benchmark use it; the app lets the task do it)."""
        self.index.index_all()

    async def _index_forever(self) -> None:
        # Indexing competes with the cold start for the event loop: start once every article is held.
        await self._ready.wait()
        while not self._stopping:
            await self._index_wake.wait()
            self._index_wake.clear()
            while self.index.staged:
                self.index.index_some(100)
                await asyncio.sleep(0)  # let messages and requests through between slices

    async def _reconnected(self) -> None:
        self._resubscribe.set()

    async def _subscribe(self) -> None:
        client = self.connection.client
        assert client is not None  # noqa: S101 - called only while connected
        js = client.jetstream(timeout=2)
        state = (await js.stream_info(BUCKET_STREAM)).state
        if state.last_seq < self.revision:
            # The stream is younger than what we hold (lost and rebuilt from the database): revisions restart, so
            # read it whole again. Article versions still keep older content from replacing newer.
            log.warning("%s replica: bucket restarted below revision %d; resyncing", self.name, self.revision)
            self._key_revision.clear()
            self.revision = 0
        if self.revision == 0:
            config = api.ConsumerConfig(deliver_policy=api.DeliverPolicy.LAST_PER_SUBJECT)
        else:
            config = api.ConsumerConfig(
                deliver_policy=api.DeliverPolicy.BY_START_SEQUENCE, opt_start_seq=self.revision + 1
            )
        sub = await js.subscribe(
            f"{BUCKET_SUBJECT_PREFIX}>",
            stream=BUCKET_STREAM,
            cb=self._on_message,
            ordered_consumer=True,
            idle_heartbeat=1.0,
            inactive_threshold=60.0,
            config=config,
            pending_msgs_limit=-1,
            pending_bytes_limit=-1,
        )
        self._sub = sub
        self._subscribed = True
        self._watches += 1
        self._live_changed.set()
        self._last_contact = time.monotonic()
        info = await sub.consumer_info()
        if info.num_pending == 0 and sub.delivered == 0:
            self._refresh()
            self._ready.set()

    async def _consumer_alive(self) -> bool:
        """A quiet bucket sends no messages, and nats-py keeps the watch's idle heartbeats to itself: before calling
        a silent watch stalled, ask the server whether its consumer is still there (one small request per
        ``stall_after`` of silence instead of a resubscription)."""
        sub = self._sub
        if sub is None or not self.connection.connected:
            return False
        try:
            await asyncio.wait_for(sub.consumer_info(), 1.0)
        except Exception:  # timeout, consumer gone with a restarted server, connection closing: re-watch
            return False
        self._last_contact = time.monotonic()
        return True

    async def _unsubscribe(self) -> None:
        sub, self._sub = self._sub, None
        self._subscribed = False
        if sub is not None:
            with contextlib.suppress(Exception):  # the old consumer may be gone with the old server
                await sub.unsubscribe()

    async def _watch_forever(self) -> None:
        while not self._stopping:
            try:
                if not await self.connection.wait_connected(1.0):
                    continue
                if self._sub is None:
                    self._resubscribe.clear()
                    await self._subscribe()
                    log.info("%s replica watching from revision %d", self.name, self.revision)
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self._resubscribe.wait(), 1.0)
                stalled = time.monotonic() - self._last_contact > self.stall_after
                if stalled and not self._resubscribe.is_set():
                    stalled = not await self._consumer_alive()
                if self._resubscribe.is_set() or stalled or not self.connection.connected:
                    await self._unsubscribe()
            except asyncio.CancelledError:
                raise
            except NotFoundError:
                # The bucket does not exist yet: the publisher creates it when it first connects.
                await asyncio.sleep(_RETRY_DELAY)
            except Exception as exc:  # NATS is restarting or JetStream is not ready: try again shortly
                log.info("%s replica watch: %s; retrying", self.name, type(exc).__name__)
                await self._unsubscribe()
                await asyncio.sleep(_RETRY_DELAY)

    async def stop(self) -> None:
        self.connection.remove_reconnected(self._reconnected)
        self._stopping = True
        await stop_task(self._task)
        await stop_task(self._index_task)
        await self._unsubscribe()

"""The outbox publisher: carries committed article changes from the database's outbox to the KV bucket.

Every change writes its outbox row in the same transaction as the article (see
:mod:`hotline.knowledge.service`). This task drains the outbox in commit order whenever NATS is connected; a row is
deleted only after JetStream has acknowledged the put, so an edit made while NATS is down is published when it
returns, and a crash between put and delete only causes a duplicate, which replicas ignore (same version).

Within one batch only the newest row per key is written (older rows of that key are obsolete), and the writes of
distinct keys run concurrently: a batch costs a couple of round trips, not a couple per row.

Every app process runs a publisher, so two may publish the same rows. A write is therefore a compare-and-set on
the key's KV revision that never replaces a newer article version with an older one: the bucket's last value per
key (what a cold-starting replica reads) is always the newest version.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from typing import Any

import msgspec
from nats.js.api import KeyValueConfig, StorageType
from nats.js.errors import BucketNotFoundError, KeyNotFoundError, KeyWrongLastSequenceError, NotFoundError
from nats.js.kv import KeyValue

from hotline.knowledge import repository
from hotline.knowledge import service as knowledge
from hotline.server.nats import NatsConnection
from kb_sync.outbox_loop import OutboxLoop
from kb_sync.subjects import BUCKET

log = logging.getLogger(__name__)

BATCH = 500
_CAS_ATTEMPTS = 10


class _Versioned(msgspec.Struct):
    version: int


_version_of = msgspec.json.Decoder(_Versioned).decode


Written = dict[str, tuple[int, int]]
"""What this publisher last wrote per key: (KV revision, article version)."""


async def _put_as_remembered(kv: KeyValue, key: str, payload: bytes, version: int, written: Written) -> bool:
    """One round trip in the common case: a new article (version 1) is created, and a key this publisher wrote
    last is updated on the revision it remembers. False if that guess was wrong (the key exists, or someone
    wrote it since); the compare-and-set made sure nothing was overwritten."""
    hint = written.get(key)
    try:
        if hint is None and version == 1:
            written[key] = (await kv.create(key, payload), version)
            return True
        if hint is not None and hint[1] < version:
            written[key] = (await kv.update(key, payload, last=hint[0]), version)
            return True
    except KeyWrongLastSequenceError:
        written.pop(key, None)
    return False


async def put_newest(kv: KeyValue, key: str, payload: bytes, written: Written | None = None) -> bool:
    """Write ``payload`` under ``key`` unless the bucket already holds that article version or a newer one.
    True if it was written. ``written`` (kept by the publisher) saves the read before the write when it can."""
    version = _version_of(payload).version
    if written is not None and await _put_as_remembered(kv, key, payload, version, written):
        return True
    for _ in range(_CAS_ATTEMPTS):
        try:
            entry = await kv.get(key)
        except KeyNotFoundError:  # never written, or deleted
            entry = None
        try:
            if entry is None or not entry.value:
                revision = await kv.create(key, payload)
            elif _version_of(entry.value).version >= version:
                return False
            else:
                revision = await kv.update(key, payload, last=entry.revision)
        except KeyWrongLastSequenceError:
            continue  # another publisher wrote in between: look again
        if written is not None:
            written[key] = (revision, version)
        return True
    raise RuntimeError("the key kept changing under the publisher")


async def ensure_bucket(connection: NatsConnection, *, history: int = 5) -> KeyValue:
    """The KV bucket, created if it does not exist (file storage: it must survive a server restart)."""
    client = connection.client
    assert client is not None  # noqa: S101 - called only while connected
    js = client.jetstream(timeout=5)
    try:
        return await js.key_value(BUCKET)
    except (BucketNotFoundError, NotFoundError):
        return await js.create_key_value(
            KeyValueConfig(bucket=BUCKET, history=history, storage=StorageType.FILE, description="knowledge bank")
        )


class OutboxPublisher(OutboxLoop[NatsConnection]):
    """Drains the knowledge outbox into the KV bucket; ``notify()`` after a commit to publish at once."""

    def __init__(
        self,
        connection: NatsConnection,
        *,
        transaction: Callable[[], Any] | None = None,
        rebuild_empty_bucket: bool = True,
    ) -> None:
        super().__init__(connection, name="kb-outbox-publisher", what="knowledge outbox", log=log)
        self.rebuild_empty_bucket = rebuild_empty_bucket
        self._transaction = transaction or repository.transaction
        self._kv: KeyValue | None = None
        self._kv_client: object | None = None
        self._written: Written = {}
        self.published = 0

    def forget_connection_state(self) -> None:
        # The bucket may have been lost with the server: look it up (and maybe rebuild it) on the next batch.
        self._kv = None

    async def _bucket(self) -> KeyValue:
        # A new client object (after a full reconnect) needs a new JetStream context.
        if self._kv is None or self._kv_client is not self.connection.client:
            kv = await ensure_bucket(self.connection)
            if self.rebuild_empty_bucket and (await kv.status()).values == 0:
                await self._rebuild()
            self._kv, self._kv_client = kv, self.connection.client
            self._written = {}  # a new connection may face a rebuilt bucket: read before writing again
        return self._kv

    async def _rebuild(self) -> None:
        """An empty bucket with articles in the database means the stream was lost: queue everything again."""
        async with self._transaction():
            if await repository.article_count() and not await repository.outbox_size():
                count = await knowledge.republish_all()
                log.warning("knowledge bucket was empty: queued %d article(s) for publication", count)

    async def drain_once(self) -> int:
        """Publish one batch; returns how many outbox rows it cleared."""
        kv = await self._bucket()
        rows = await repository.outbox_batch(BATCH)
        if not rows:
            return 0
        newest: dict[str, dict[str, Any]] = {}
        for row in rows:  # ordered by id: the last row of a key is its newest change
            newest[row["key"]] = row
        await _gather_puts(put_newest(kv, key, row["payload"].encode(), self._written) for key, row in newest.items())
        await repository.outbox_delete([row["id"] for row in rows])
        self.published += len(newest)
        return len(rows)


async def _gather_puts(puts: Any) -> None:
    tasks: list[Awaitable[bool]] = list(puts)
    results = await asyncio.gather(*tasks, return_exceptions=True)
    for result in results:
        if isinstance(result, BaseException):
            raise result

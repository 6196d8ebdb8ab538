"""Distribution end to end on real nats-servers: edits reach every replica, a new replica cold-starts from the
bucket, edits made while NATS is down are published from the outbox when it returns, and live replicas
reconverge after the server is killed and restarted."""

from __future__ import annotations

import asyncio
from pathlib import Path

from hotline.knowledge import repository
from hotline.lib.embedded_nats import EmbeddedNatsServer
from tests.fixtures.databases import Database
from tests.fixtures.knowledge import create, eventually, knowledge_node, update


def holds(replica: object, article_id: str, version: int) -> bool:
    record = replica.article(article_id)  # type: ignore[attr-defined]
    return record is not None and record.version == version


async def test_an_edit_reaches_every_replica_and_a_new_replica_cold_starts(
    demo_federation: Database, make_nats: type[EmbeddedNatsServer], tmp_path: Path
) -> None:
    server = make_nats(tmp_path / "nats")
    server.start()
    async with (
        knowledge_node(server.url, name="a") as (_, publisher_a, a),
        knowledge_node(server.url, name="b") as (
            _,
            _,
            b,
        ),
    ):
        assert await a.wait_ready(10)
        assert await b.wait_ready(10)
        article = await create("0751", department="affald-og-genbrug", mode="replace")
        publisher_a.notify()
        await eventually(lambda: holds(a, article.id, 1) and holds(b, article.id, 1), what="the edit in both replicas")
        edited = await update(article, body="Ny regel.", department="affald-og-genbrug", mode="replace")
        publisher_a.notify()
        await eventually(lambda: holds(a, article.id, 2) and holds(b, article.id, 2), what="version 2 everywhere")
        assert b.rules("0751").topics[0].articles[0].body == "Ny regel."
        assert a.freshness().revision == b.freshness().revision >= 2

        async with knowledge_node(server.url, name="c") as (_, _, c):
            assert await c.wait_ready(10)
            assert c.article(edited.id) == edited
            assert c.freshness().ready
    assert await repository.outbox_size() == 0


async def test_live_replicas_reconverge_after_a_server_restart_and_no_edit_is_lost(
    demo_federation: Database, make_nats: type[EmbeddedNatsServer], tmp_path: Path
) -> None:
    server = make_nats(tmp_path / "nats")
    server.start()
    async with (
        knowledge_node(server.url, name="a") as (conn_a, publisher, a),
        knowledge_node(server.url, name="b") as (_, _, b),
    ):
        assert await a.wait_ready(10)
        assert await b.wait_ready(10)
        first = await create("general", topic="pas", title="Pas")
        publisher.notify()
        await eventually(lambda: holds(a, first.id, 1) and holds(b, first.id, 1), what="the first article")

        server.kill()
        await eventually(lambda: not conn_a.connected, what="the client to notice the crash")
        # Edits while NATS is down: committed to the database, queued in the outbox.
        edited = await update(first, title="Pas (ændret under nedbrud)")
        added = await create("0615", title="Storskrald i Horsens", department="affald-og-genbrug")
        publisher.notify()
        assert await repository.outbox_size() == 2
        assert not a.freshness().connected
        assert holds(a, first.id, 1)  # the replica keeps serving what it has

        server.start()
        await eventually(
            lambda: all(holds(r, edited.id, 2) and holds(r, added.id, 1) for r in (a, b)),
            within=30,
            what="both replicas to receive the edits made while NATS was down",
        )
        await eventually(lambda: a.freshness().connected and b.freshness().connected, what="the watches to be live")
        # Each replica subscribed again from its last revision once reconnected (on the disconnect and the
        # reconnect hook), rather than waiting for nats-py's ordered consumer to notice the restart on its own.
        assert a.freshness().watches >= 2
        assert b.freshness().watches >= 2
        # The publisher deletes its rows once JetStream acknowledged them, which may be just after the replicas
        # applied the change.
        for _ in range(100):
            if await repository.outbox_size() == 0:
                break
            await asyncio.sleep(0.05)
        assert await repository.outbox_size() == 0

        # The watches are live again: a new edit arrives as before.
        later = await update(added, title="Storskrald i Horsens, ny", department="affald-og-genbrug")
        publisher.notify()
        await eventually(lambda: holds(a, later.id, 2) and holds(b, later.id, 2), what="an edit after the restart")
        assert [t.articles[0].title for t in b.rules("0615").topics if t.topic == "storskrald"] == [later.title]


async def test_a_lost_bucket_is_rebuilt_from_the_database(
    demo_federation: Database, make_nats: type[EmbeddedNatsServer], tmp_path: Path
) -> None:
    first_server = make_nats(tmp_path / "first")
    first_server.start()
    async with knowledge_node(first_server.url, name="a") as (_, publisher, a):
        article = await create("general", topic="mitid", title="MitID")
        publisher.notify()
        await eventually(lambda: holds(a, article.id, 1), what="the article")
    first_server.stop()

    # A new, empty server (its volume lost): the publisher finds an empty bucket and queues every article again.
    fresh = make_nats(tmp_path / "fresh")
    fresh.start()
    async with knowledge_node(fresh.url, name="b") as (_, _, b):
        await eventually(lambda: holds(b, article.id, 1), what="the rebuilt bucket to reach a new replica")


async def test_a_late_publisher_never_puts_an_older_version_over_a_newer_one(
    make_nats: type[EmbeddedNatsServer], tmp_path: Path
) -> None:
    import datetime as dt

    from hotline.config import NatsSettings
    from hotline.server.nats import NatsConnection
    from kb_sync.publisher import ensure_bucket, put_newest
    from kb_sync.subjects import ArticleRecord, encoder, record_decoder

    server = make_nats(tmp_path / "nats")
    server.start()
    connection = NatsConnection(NatsSettings(), [server.url])
    await connection.start()
    try:
        assert await connection.wait_connected(10)
        kv = await ensure_bucket(connection)

        def version(number: int) -> bytes:
            record = ArticleRecord(
                id="a", scope="general", kind="general", topic="pas", title=f"v{number}", body="b",
                body_html="<p>b</p>", version=number, author="t", updated_at=dt.datetime.now(dt.UTC),
            )  # fmt: skip
            return encoder.encode(record)

        assert await put_newest(kv, "general.pas.a", version(2))
        assert not await put_newest(kv, "general.pas.a", version(1))  # a second publisher, late
        assert not await put_newest(kv, "general.pas.a", version(2))  # a duplicate
        assert await put_newest(kv, "general.pas.a", version(3))
        entry = await kv.get("general.pas.a")
        assert entry.value is not None
        assert record_decoder.decode(entry.value).version == 3
        await kv.delete("general.pas.a")
        assert await put_newest(kv, "general.pas.a", version(4))  # a deleted key can be written again

        # A publisher remembers the revision it wrote and writes the next version on it in one round trip; when
        # another publisher wrote in between, the compare-and-set refuses and it looks again.
        mine: dict[str, tuple[int, int]] = {}
        other: dict[str, tuple[int, int]] = {}
        key = "general.pas.b"
        assert await put_newest(kv, key, version(1), mine)
        assert key in mine
        assert await put_newest(kv, key, version(2), other)
        assert not await put_newest(kv, key, version(2), mine)  # stale memory: refused, then seen as a duplicate
        assert await put_newest(kv, key, version(3), mine)
        assert await put_newest(kv, key, version(4), mine)
        assert mine[key][1] == 4
        assert not await put_newest(kv, key, version(1), {})  # a late create of an existing key changes nothing
        assert not await put_newest(kv, key, version(3), other)
        entry = await kv.get(key)
        assert entry.value is not None
        assert record_decoder.decode(entry.value).version == 4
        assert entry.revision == mine[key][0]
    finally:
        await connection.close()


async def test_a_quiet_bucket_is_not_mistaken_for_a_stalled_watch(
    demo_federation: Database, make_nats: type[EmbeddedNatsServer], tmp_path: Path
) -> None:
    """Nothing is edited for several stall periods: the watch stays the one it was (no resubscription every
    ``stall_after`` seconds), and an edit after the quiet spell still arrives on it."""
    server = make_nats(tmp_path / "nats")
    server.start()
    async with knowledge_node(server.url, name="quiet", stall_after=0.3) as (_, publisher, replica):
        assert await replica.wait_ready(10)
        await asyncio.sleep(1.5)  # five stall periods of silence
        assert replica.freshness().watches == 1
        assert replica.freshness().connected
        article = await create("0751", department="affald-og-genbrug", mode="replace")
        publisher.notify()
        await eventually(lambda: holds(replica, article.id, 1), what="the edit after a quiet spell")
        assert replica.freshness().watches == 1

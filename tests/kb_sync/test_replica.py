"""The replica applies KV entries idempotently and keeps each kommune's effective rule set up to date."""

from __future__ import annotations

import datetime as dt

import msgspec

from hotline.config import NatsSettings
from hotline.server.nats import NatsConnection
from kb_sync.replica import Replica
from kb_sync.subjects import ArticleRecord, article_key, encoder

NOW = dt.datetime(2026, 11, 25, 12, 0, tzinfo=dt.UTC)


def make(
    scope: str, topic: str, *, version: int = 1, mode: str = "add", title: str = "", body: str = "x"
) -> ArticleRecord:
    return ArticleRecord(
        id=f"{scope}-{topic}-{title or mode}",
        scope=scope,
        kind="general" if scope == "general" else ("surge" if scope == "federation" else "kommune"),
        topic=topic,
        title=title or f"{scope} {topic}",
        body=body,
        body_html=f"<p>{body}</p>",
        version=version,
        author="t",
        updated_at=NOW,
        mode=mode,  # type: ignore[arg-type]
    )


def replica() -> Replica:
    return Replica(NatsConnection(NatsSettings(), []), clock=lambda: NOW)


class Feed:
    """Feeds records to a replica as KV entries with increasing revisions."""

    def __init__(self, target: Replica) -> None:
        self.target = target
        self.revision = 0
        self.sent: list[tuple[str, int, bytes]] = []

    def put(self, record: ArticleRecord) -> bool:
        self.revision += 1
        entry = (article_key(record.scope, record.topic, record.id), self.revision, encoder.encode(record))
        self.sent.append(entry)
        changed = self.target.apply(*entry)
        self.target._refresh()
        self.target.index_pending()
        return changed


def snapshot(target: Replica) -> bytes:
    target.index_pending()
    return msgspec.json.encode(
        [target.rules(code) for code in ("0751", "0615")] + [target.search("storskrald", "0751")]
    )


def test_duplicates_and_late_deliveries_change_nothing() -> None:
    target = replica()
    feed = Feed(target)
    feed.put(make("general", "storskrald", body="generel"))
    feed.put(make("0751", "storskrald", mode="replace", body="aarhus v1"))
    feed.put(make("0751", "storskrald", mode="replace", body="aarhus v2", version=2))
    before = snapshot(target)
    revision = target.revision

    # Every entry again (a redelivery after a reconnect), in reverse order.
    assert not any(target.apply(*entry) for entry in reversed(feed.sent))
    # An old version under a newer revision (the publisher retried a stale outbox row).
    assert not feed.put(make("0751", "storskrald", mode="replace", body="aarhus v1"))
    target._refresh()
    assert snapshot(target) == before
    assert target.article("0751-storskrald-replace") is not None
    assert target.article("0751-storskrald-replace").body == "aarhus v2"  # type: ignore[union-attr]
    assert target.revision == revision + 1


def test_rule_sets_follow_kommune_and_general_changes() -> None:
    target = replica()
    feed = Feed(target)
    feed.put(make("general", "pas", title="Pas generelt"))
    aarhus = target.rules("0751")
    assert [(t.topic, [a.title for a in t.articles]) for t in aarhus.topics] == [("pas", ["Pas generelt"])]

    feed.put(make("0751", "pas", mode="replace", title="Pas i Aarhus"))
    assert [a.title for a in target.rules("0751").topics[0].articles] == ["Pas i Aarhus"]
    assert [a.title for a in target.rules("0615").topics[0].articles] == ["Pas generelt"]

    feed.put(make("general", "pas", title="Pas generelt", version=2, body="ny tekst"))
    horsens = target.rules("0615").topics[0].articles
    assert [(a.title, a.version) for a in horsens] == [("Pas generelt", 2)]
    assert [a.title for a in target.rules("0751").topics[0].articles] == ["Pas i Aarhus"]

    feed.put(make("0825", "pas", mode="not_offered", title="Ikke på Læsø"))
    laesoe = target.rules("0825").topics[0]
    assert laesoe.offered is False
    assert target.rules("0825") is target.rules("0825")  # precomputed: the same object until something changes


def test_a_delete_marker_removes_the_article() -> None:
    target = replica()
    feed = Feed(target)
    record = make("0751", "storskrald")
    feed.put(record)
    assert target.apply(article_key("0751", "storskrald", record.id), 99, None, deleted=True)
    target._refresh()
    target.index_pending()
    assert target.article(record.id) is None
    assert target.rules("0751").topics == ()
    assert target.search("storskrald", "0751") == []


def test_search_puts_the_kommune_first_and_hides_replaced_general_articles() -> None:
    target = replica()
    feed = Feed(target)
    feed.put(make("general", "storskrald", title="Storskrald generelt", body="stort affald hentes"))
    feed.put(make("general", "pas", title="Pas", body="bestil pas i borgerservice"))
    feed.put(make("0615", "storskrald", mode="add", title="Storskrald i Horsens", body="faste runder"))
    feed.put(make("0751", "storskrald", mode="replace", title="Storskrald i Aarhus", body="bestilling"))
    horsens = [record.title for record, _ in target.search("storskrald", "0615")]
    assert horsens == ["Storskrald i Horsens", "Storskrald generelt"]
    aarhus = [record.title for record, _ in target.search("storskrald", "0751")]
    assert aarhus == ["Storskrald i Aarhus"]
    general_only = [record.title for record, _ in target.search("storskrald", None)]
    assert general_only == ["Storskrald generelt"]

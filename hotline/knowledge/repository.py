"""Every query of the knowledge area. The caller owns the transaction."""

from __future__ import annotations

from typing import Any

from piccolo.engine.sqlite import SQLiteEngine, TransactionType

from hotline.knowledge.tables import KbArticle, KbArticleVersion, KbOutbox


def transaction() -> Any:
    """A transaction for a knowledge change. On SQLite it takes the write lock at once (IMMEDIATE): a deferred
    transaction that reads first and writes later fails with "database is locked" when the outbox publisher
    writes in between, instead of waiting for it."""
    engine = KbArticle._meta.db
    if isinstance(engine, SQLiteEngine):
        return engine.transaction(transaction_type=TransactionType.immediate)
    return engine.transaction()


async def article(article_id: str) -> dict[str, Any] | None:
    return await KbArticle.select().where(KbArticle.article_id == article_id).first().run()


async def article_by_external_id(scope: str, external_id: str) -> dict[str, Any] | None:
    return (
        await KbArticle.select()
        .where((KbArticle.scope == scope) & (KbArticle.external_id == external_id))
        .first()
        .run()
    )


async def articles_by_ids(article_ids: list[str]) -> list[dict[str, Any]]:
    if not article_ids:
        return []
    return await KbArticle.select().where(KbArticle.article_id.is_in(article_ids)).run()


async def all_articles() -> list[dict[str, Any]]:
    return await KbArticle.select().order_by(KbArticle._meta.primary_key).run()


async def insert_article(values: dict[str, Any]) -> None:
    await KbArticle.insert(KbArticle(**values)).run()


async def update_article(article_id: str, values: dict[str, Any]) -> None:
    await (
        KbArticle.update({getattr(KbArticle, key): value for key, value in values.items()})
        .where(KbArticle.article_id == article_id)
        .run()
    )


async def insert_version(article_id: str, version: int, record: str, author: str, note: str) -> None:
    await KbArticleVersion.insert(
        KbArticleVersion(article_id=article_id, version=version, record=record, author=author, note=note)
    ).run()


async def versions(article_id: str) -> list[dict[str, Any]]:
    return (
        await KbArticleVersion.select()
        .where(KbArticleVersion.article_id == article_id)
        .order_by(KbArticleVersion.version)
        .run()
    )


async def version(article_id: str, number: int) -> dict[str, Any] | None:
    return (
        await KbArticleVersion.select()
        .where((KbArticleVersion.article_id == article_id) & (KbArticleVersion.version == number))
        .first()
        .run()
    )


async def enqueue(key: str, payload: str) -> None:
    await KbOutbox.insert(KbOutbox(key=key, payload=payload)).run()


async def enqueue_many(rows: list[tuple[str, str]]) -> None:
    if rows:
        await KbOutbox.insert(*(KbOutbox(key=key, payload=payload) for key, payload in rows)).run()


async def outbox_batch(limit: int) -> list[dict[str, Any]]:
    return await KbOutbox.select().order_by(KbOutbox._meta.primary_key).limit(limit).run()


async def outbox_size() -> int:
    return int(await KbOutbox.count().run())


async def outbox_delete(ids: list[int]) -> None:
    if ids:
        await KbOutbox.delete().where(KbOutbox._meta.primary_key.is_in(ids)).run()


async def outbox_attempted(ids: list[int]) -> None:
    if ids:
        await (
            KbOutbox.update({KbOutbox.attempts: KbOutbox.attempts + 1})
            .where(KbOutbox._meta.primary_key.is_in(ids))
            .run()
        )


async def article_count() -> int:
    return int(await KbArticle.count().run())

"""Create the engine for a database URL and bind it to every table (and to Piccolo's migration table)."""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import io
import logging
from pathlib import Path
from typing import Any, Final
from urllib.parse import unquote, urlsplit

from piccolo.apps.migrations.tables import Migration
from piccolo.engine.base import Engine
from piccolo.engine.postgres import PostgresEngine
from piccolo.engine.sqlite import SQLiteEngine, SQLiteTransaction, TransactionType
from piccolo.table import Table

from hotline.db import piccolo_conf
from hotline.db.registry import all_tables

INTEGER_MAX: Final = 2**31 - 1
"""The largest value of an INTEGER column on PostgreSQL (SQLite's is larger): the bound of every integer that
comes from a request and reaches a query (ids, versions), so an oversized one is a 400 naming the parameter, not
a database error."""

log = logging.getLogger(__name__)


class MigrationError(Exception):
    """The schema could not be brought up to date."""


class _CancellationSafeTransaction(SQLiteTransaction):
    """Piccolo's SQLite transaction, except that its connection is closed even when the task is cancelled while
    the transaction begins, commits or rolls back (a handler whose client went away, a worker stopped at
    shutdown). Left open, the connection keeps its thread and, with ``BEGIN IMMEDIATE``, the write lock."""

    async def __aenter__(self) -> SQLiteTransaction:
        if self._parent is not None:
            return self._parent
        opening = asyncio.ensure_future(self.get_connection())  # type: ignore[no-untyped-call]
        try:
            self.connection = await asyncio.shield(opening)
        except BaseException:
            opening.add_done_callback(_close_when_open)  # cancelled while connecting: close it once it is open
            raise
        try:
            await self.begin()  # type: ignore[no-untyped-call]
        except BaseException:
            await _close(self.connection)
            raise
        self.context = self.engine.current_transaction.set(self)
        return self

    async def __aexit__(self, exception_type: Any, exception: Any, traceback: Any) -> bool:
        if self._parent:
            return exception is None
        try:
            if exception:
                if not self._rolled_back:
                    await self.rollback()  # type: ignore[no-untyped-call]
            elif not self._committed and not self._rolled_back:
                await self.commit()  # type: ignore[no-untyped-call]
        finally:
            await _close(self.connection)  # closing rolls back whatever was not committed
            self.engine.current_transaction.reset(self.context)
        return exception is None


_closing: set[asyncio.Task[None]] = set()


def _close_when_open(opening: asyncio.Future[Any]) -> None:
    if opening.cancelled() or opening.exception() is not None:
        return
    task = asyncio.ensure_future(_close(opening.result()))
    _closing.add(task)  # keep a reference until it is done
    task.add_done_callback(_closing.discard)


async def _close(connection: Any) -> None:
    # Shielded: a second cancellation must not stop the close half-way and leak the connection after all.
    await asyncio.shield(connection.close())


class ImmediateSQLiteEngine(SQLiteEngine):
    """SQLite whose transactions take the write lock when they begin (``BEGIN IMMEDIATE``).

    A deferred transaction that reads first and writes later cannot wait for the lock when another connection
    holds it: SQLite answers "database is locked" at once instead of using the busy timeout (waiting could
    deadlock). The app runs several writers in one process (outbox workers, the call queue's tick, request
    handlers), so every transaction here is immediate: writers queue on the timeout; readers are not blocked (WAL).
    """

    def transaction(
        self,
        transaction_type: TransactionType = TransactionType.immediate,
        allow_nested: bool = True,
    ) -> SQLiteTransaction:
        return _CancellationSafeTransaction(engine=self, transaction_type=transaction_type, allow_nested=allow_nested)


def make_engine(url: str) -> Engine:  # type: ignore[type-arg]
    """An engine for ``sqlite:///path`` or ``postgresql://…``."""
    parts = urlsplit(url)
    if parts.scheme == "sqlite":
        path = unquote(parts.path)
        if url.startswith("sqlite:////"):
            path = "/" + path.lstrip("/")
        elif url.startswith("sqlite:///"):
            path = path[1:] if not path.startswith("//") else path
        Path(path).parent.mkdir(parents=True, exist_ok=True)
        # WAL lets readers and the single writer work at once; the timeout rides out short write locks.
        return ImmediateSQLiteEngine(path=path, timeout=30)
    if parts.scheme in {"postgres", "postgresql"}:
        return PostgresEngine(config={"dsn": url})
    raise ValueError(f"unsupported database URL scheme {parts.scheme!r}")


def bind(engine: Engine) -> None:  # type: ignore[type-arg]
    """Make ``engine`` the database of every table of the service, and of Piccolo's own bookkeeping."""
    piccolo_conf.DB = engine
    tables: list[type[Table]] = [*all_tables(), Migration]
    for table in tables:
        table._meta.db = engine


async def _keep_session(connection: object) -> None:
    """Reset of a pooled connection on release: nothing beyond what asyncpg always does.

    asyncpg's default reset sends ``pg_advisory_unlock_all(); CLOSE ALL; UNLISTEN *; RESET ALL`` on every
    release: an extra round trip for each query outside a transaction and for each transaction, which the
    screen-pop path pays several times. The service leaves no session state behind: no ``SET``, no ``LISTEN``
    (notifications go over NATS), no session advisory locks (federation takes ``pg_advisory_xact_lock``, released
    at commit), no cursors outside a transaction. Before calling this, asyncpg still rolls back a transaction left
    open and drops the connection's listeners (``Connection._reset``).
    Whoever adds session state must go back to the default reset.
    """


async def open_database(url: str, pool_size: int = 10) -> Engine:  # type: ignore[type-arg]
    """Create, bind and open the engine: a connection pool for PostgreSQL, WAL mode for SQLite."""
    engine = make_engine(url)
    bind(engine)
    if isinstance(engine, PostgresEngine):
        await engine.start_connection_pool(min_size=1, max_size=pool_size, reset=_keep_session)
    else:
        await engine.run_ddl("PRAGMA journal_mode=WAL")
    return engine


async def close_database(engine: Engine, *, within: float = 10.0) -> None:  # type: ignore[type-arg]
    """Close the pool, waiting at most ``within`` seconds for connections in use to come back: a connection that
    a cancelled task never returned would otherwise hold a shutdown (or a test session) forever."""
    if isinstance(engine, PostgresEngine):
        try:
            await asyncio.wait_for(engine.close_connection_pool(), within)
        except TimeoutError:
            log.warning("database pool did not close within %.0f s; terminating its connections", within)
            if engine.pool is not None:
                engine.pool.terminate()


def transaction() -> Any:
    """A transaction on the bound database; inside an enclosing one it joins it (Piccolo's nesting). On SQLite it
    takes the write lock when it begins (see :class:`ImmediateSQLiteEngine`), so every area gets the same rule."""
    return piccolo_conf.DB.transaction()


def utc(moment: dt.datetime) -> dt.datetime:
    """Timestamps are stored in UTC, so that SQLite's text comparison orders them correctly."""
    return moment.astimezone(dt.UTC)


def aware(moment: dt.datetime) -> dt.datetime:
    """SQLite hands timestamps back naive; they are stored in UTC."""
    return moment if moment.tzinfo is not None else moment.replace(tzinfo=dt.UTC)


async def migrate() -> list[str]:
    """Apply every migration not yet applied to the bound database; returns the IDs that were applied."""
    from piccolo.apps.migrations.commands.forwards import run_forwards

    before = set(await Migration.get_migrations_which_ran()) if await Migration.table_exists() else set()
    # Piccolo prints progress; keep the CLI's output ours.
    with contextlib.redirect_stdout(io.StringIO()) as out:
        result = await run_forwards(app_name="all")
    if not result.success:
        raise MigrationError(result.message or out.getvalue().strip())
    after = set(await Migration.get_migrations_which_ran())
    return sorted(after - before)

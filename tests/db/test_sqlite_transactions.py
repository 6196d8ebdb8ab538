"""SQLite transactions under cancellation: whenever a task is cancelled (while its transaction begins, works,
commits or rolls back), the connection is closed, nothing half-done is kept and the write lock is released."""

from __future__ import annotations

import asyncio
import gc
from pathlib import Path

from hotline.db.engine import close_database, migrate, open_database
from hotline.knowledge.tables import KbOutbox


async def test_a_cancelled_transaction_never_keeps_the_write_lock_or_its_connection(tmp_path: Path) -> None:
    engine = await open_database(f"sqlite:///{tmp_path / 'tx.sqlite'}")
    try:
        await migrate()

        async def write(n: int) -> None:
            async with engine.transaction():
                await KbOutbox.insert(KbOutbox(key=f"k{n}", payload="x")).run()
                await KbOutbox.insert(KbOutbox(key=f"k{n}b", payload="x")).run()

        cancelled = 0
        for n in range(60):
            task = asyncio.create_task(write(n))
            for _ in range(n % 12):  # land the cancellation on each await in turn: connect, BEGIN, inserts, COMMIT
                await asyncio.sleep(0)
            task.cancel()
            try:
                await task
            except asyncio.CancelledError:
                cancelled += 1
            # The next writer gets the lock at once, and no transaction was kept half-done.
            await asyncio.wait_for(KbOutbox.insert(KbOutbox(key=f"after{n}", payload="x")).run(), 2)
        assert cancelled > 0
        keys = {row["key"] for row in await KbOutbox.select(KbOutbox.key)}
        for n in range(60):
            assert (f"k{n}" in keys) == (f"k{n}b" in keys), n  # both rows of a transaction, or neither
        gc.collect()  # a leaked aiosqlite connection would warn here (warnings are errors in this suite)
    finally:
        await close_database(engine)

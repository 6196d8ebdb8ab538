"""The audit log is append-only in the database itself: raw UPDATE, DELETE (and TRUNCATE on PostgreSQL) are refused
by triggers whoever sends them, while inserting goes on working."""

from __future__ import annotations

import datetime as dt
import sqlite3

import asyncpg
import pytest

from hotline.identity import audit
from hotline.identity.tables import AuditEntry
from tests.fixtures.databases import Database

NOW = dt.datetime(2026, 11, 25, 18, 0, tzinfo=dt.UTC)
AGENT = audit.Actor(id="https://idp.example/0727|abc", name="Agent A", role="agent")
REFUSED = (asyncpg.PostgresError, sqlite3.DatabaseError)


async def _rows() -> list[dict[str, object]]:
    return await AuditEntry.select().order_by(AuditEntry.id).run()


async def _one_entry() -> list[dict[str, object]]:
    await audit.record(audit.CONFIG_CHANGED, actor=AGENT, kommune_code="0751", now=NOW, target="api_token:7")
    rows = await _rows()
    assert len(rows) == 1
    return rows


@pytest.mark.parametrize(
    ("statement", "operation"),
    [
        ("UPDATE identity_audit SET actor_name = 'Someone else', outcome = 'refused'", "UPDATE"),
        ("UPDATE identity_audit SET at = '2020-01-01T00:00:00+00:00' WHERE action = 'config_changed'", "UPDATE"),
        ("DELETE FROM identity_audit", "DELETE"),
        ("DELETE FROM identity_audit WHERE action = 'config_changed'", "DELETE"),
    ],
)
async def test_a_raw_update_or_delete_of_an_audit_entry_is_refused_and_changes_nothing(
    db: Database, statement: str, operation: str
) -> None:
    before = await _one_entry()
    with pytest.raises(REFUSED, match=f"identity_audit is append-only: {operation} refused"):
        await db.engine.run_ddl(statement)
    assert await _rows() == before


async def test_the_orm_cannot_update_or_delete_an_audit_entry_either(db: Database) -> None:
    before = await _one_entry()
    with pytest.raises(REFUSED, match="append-only: UPDATE refused"):
        await AuditEntry.update({AuditEntry.target: "api_token:8"}, force=True).run()
    with pytest.raises(REFUSED, match="append-only: DELETE refused"):
        await AuditEntry.delete(force=True).run()
    assert await _rows() == before


async def test_truncate_of_the_audit_log_is_refused_on_postgres(db: Database) -> None:
    before = await _one_entry()
    if db.backend == "postgres":
        with pytest.raises(asyncpg.InsufficientPrivilegeError, match="append-only: TRUNCATE refused"):
            await db.engine.run_ddl("TRUNCATE identity_audit")
    else:
        # SQLite has no TRUNCATE: its nearest, an unconditional DELETE, is refused by the DELETE trigger.
        with pytest.raises(sqlite3.DatabaseError, match="append-only: DELETE refused"):
            await db.engine.run_ddl("DELETE FROM identity_audit")
    assert await _rows() == before


async def test_a_refused_change_takes_the_rest_of_its_transaction_with_it(db: Database) -> None:
    before = await _one_entry()

    async def sign_in_and_erase_the_change() -> None:
        async with db.engine.transaction():
            await audit.record(audit.SIGN_IN, actor=AGENT, kommune_code="0751", now=NOW)
            await db.engine.run_ddl("DELETE FROM identity_audit WHERE action = 'config_changed'")

    with pytest.raises(REFUSED, match="append-only"):
        await sign_in_and_erase_the_change()
    assert await _rows() == before


async def test_inserting_still_works_after_a_refusal(db: Database) -> None:
    before = await _one_entry()
    with pytest.raises(REFUSED, match="append-only"):
        await db.engine.run_ddl("UPDATE identity_audit SET kommune_code = '0615'")
    await audit.record(audit.SIGN_OUT, actor=AGENT, kommune_code="0751", now=NOW + dt.timedelta(minutes=1))
    after = await _rows()
    assert after[0] == before[0]
    assert [row["action"] for row in after] == [audit.CONFIG_CHANGED, audit.SIGN_OUT]

"""Every query of the calls area. The caller owns the transaction (:func:`transaction`).

Assignment relies on conditional updates (``... WHERE status = 'queued' RETURNING``) so that two app processes
can never both take one call or one agent; on PostgreSQL the queued calls a process considers are also locked
with ``FOR UPDATE SKIP LOCKED`` so that two processes work on different calls instead of colliding. SQLite
serialises writers (IMMEDIATE transactions), which gives the same guarantee there.

Timestamps are written in UTC; SQLite hands them back naive (:func:`aware`).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Sequence
from typing import Any

from piccolo.columns import Column
from piccolo.engine.postgres import PostgresEngine
from piccolo.engine.sqlite import SQLiteEngine, TransactionType

from hotline.calls.tables import AgentPresence, Call, Callback, CallEvent, PresenceSpan


def transaction() -> Any:
    """A write transaction; on SQLite it takes the write lock at once (IMMEDIATE), so a read-then-write inside it
    cannot fail half-way with "database is locked". Joins an enclosing transaction."""
    engine = Call._meta.db
    if isinstance(engine, SQLiteEngine):
        return engine.transaction(transaction_type=TransactionType.immediate)
    return engine.transaction()


def is_postgres() -> bool:
    return isinstance(Call._meta.db, PostgresEngine)


def utc(moment: dt.datetime) -> dt.datetime:
    return moment.astimezone(dt.UTC)


def aware(moment: dt.datetime | None) -> dt.datetime | None:
    if moment is None:
        return None
    return moment if moment.tzinfo is not None else moment.replace(tzinfo=dt.UTC)


def _aware_row(row: dict[str, Any]) -> dict[str, Any]:
    for key, value in row.items():
        if isinstance(value, dt.datetime) and value.tzinfo is None:
            row[key] = value.replace(tzinfo=dt.UTC)
    return row


# -- telephony events ------------------------------------------------------------------------------------


async def existing_dedupe_keys(keys: Sequence[str]) -> set[str]:
    if not keys:
        return set()
    rows = await CallEvent.select(CallEvent.dedupe_key).where(CallEvent.dedupe_key.is_in(list(keys)))
    return {row["dedupe_key"] for row in rows}


async def insert_events(rows: list[dict[str, Any]]) -> None:
    if rows:
        await CallEvent.insert(*[CallEvent(**row) for row in rows])


async def pending_events(call_ids: Iterable[str]) -> list[dict[str, Any]]:
    ids = list(call_ids)
    if not ids:
        return []
    rows = await (
        CallEvent.select(
            CallEvent._meta.primary_key, CallEvent.call_id, CallEvent.kind, CallEvent.payload, CallEvent.occurred_at
        )
        .where(CallEvent.call_id.is_in(ids) & (CallEvent.applied == False))  # noqa: E712  (SQL, not Python)
        .order_by(CallEvent.occurred_at)
        .order_by(CallEvent._meta.primary_key)
    )
    return [_aware_row(row) for row in rows]


async def mark_applied(event_ids: list[int]) -> None:
    if event_ids:
        await CallEvent.update({CallEvent.applied: True}).where(CallEvent._meta.primary_key.is_in(event_ids))


# -- calls ----------------------------------------------------------------------------------------------------


async def calls_by_id(call_ids: Iterable[str]) -> dict[str, dict[str, Any]]:
    ids = list(call_ids)
    if not ids:
        return {}
    rows = await Call.select().where(Call.call_id.is_in(ids))
    return {row["call_id"]: _aware_row(row) for row in rows}


async def call(call_id: str) -> dict[str, Any] | None:
    row = await Call.select().where(Call.call_id == call_id).first()
    return _aware_row(row) if row else None


async def insert_call(values: dict[str, Any]) -> None:
    await Call.insert(Call(**values))


async def insert_calls(rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Insert new calls in one statement; returns them as stored."""
    inserted = await Call.insert(*[Call(**values) for values in rows]).returning(*Call.all_columns())
    return [_aware_row(row) for row in inserted]


async def update_call(call_id: str, values: dict[str, Any], *, status_in: Sequence[str] | None = None) -> bool:
    """Update one call; with ``status_in`` only while its status is one of those. True when a row changed."""
    where: Any = Call.call_id == call_id
    if status_in is not None:
        where = where & Call.status.is_in(list(status_in))
    changes: dict[Column | str, Any] = dict(values.items())
    rows = await Call.update(changes).where(where).returning(Call._meta.primary_key)
    return bool(rows)


async def queued_calls(limit: int) -> list[dict[str, Any]]:
    """The calls waiting for an agent, highest priority first, then longest waiting; on PostgreSQL the rows are
    locked for this transaction, and rows another process holds are skipped."""
    if is_postgres():
        locked = await Call.raw(
            'SELECT id FROM "call" WHERE status = {} ORDER BY priority DESC, offered_at ASC LIMIT {} '
            "FOR UPDATE SKIP LOCKED",
            "queued",
            limit,
        )
        ids = [row["id"] for row in locked]
        if not ids:
            return []
        rows = await Call.select().where(Call._meta.primary_key.is_in(ids) & (Call.status == "queued"))
    else:
        rows = await Call.select().where(Call.status == "queued").limit(limit)
    ordered = sorted((_aware_row(r) for r in rows), key=lambda r: (-r["priority"], r["offered_at"], r["id"]))
    return ordered[:limit]


async def ringing_past(now: dt.datetime) -> list[dict[str, Any]]:
    rows: list[dict[str, Any]] = await Call.select(Call.call_id, Call.ring_agent_id, Call.status).where(
        Call.status.is_in(["ringing", "callback"]) & Call.ring_agent_id.is_not_null() & (Call.ring_until < utc(now))
    )
    return rows


async def waiting_past(cutoff: dt.datetime) -> list[dict[str, Any]]:
    rows = await Call.select().where((Call.status == "queued") & (Call.offered_at < utc(cutoff)))
    return [_aware_row(r) for r in rows]


async def queue_stats() -> tuple[int, dt.datetime | None]:
    rows = await Call.select(Call.offered_at).where(Call.status.is_in(["queued", "ringing"])).order_by(Call.offered_at)
    return len(rows), aware(rows[0]["offered_at"]) if rows else None


async def topic_counts(since: dt.datetime) -> list[dict[str, Any]]:
    rows: list[dict[str, Any]] = await Call.raw(
        'SELECT kommune_code, topic, COUNT(*) AS n FROM "call" WHERE topic <> {} AND offered_at >= {} '
        "GROUP BY kommune_code, topic",
        "",
        utc(since),
    )
    return rows


# -- presence -------------------------------------------------------------------------------------------------


async def presence(user_id: int) -> dict[str, Any] | None:
    row = await AgentPresence.select().where(AgentPresence.user_id == user_id).first()
    return _aware_row(row) if row else None


async def insert_presence(values: dict[str, Any]) -> None:
    await AgentPresence.insert(AgentPresence(**values))


async def update_presence(
    user_id: int, values: dict[str, Any], *, state_in: Sequence[str] | None = None, current_call_id: str | None = None
) -> bool:
    where: Any = AgentPresence.user_id == user_id
    if state_in is not None:
        where = where & AgentPresence.state.is_in(list(state_in))
    if current_call_id is not None:
        where = where & (AgentPresence.current_call_id == current_call_id)
    changes: dict[Column | str, Any] = dict(values.items())
    rows = await AgentPresence.update(changes).where(where).returning(AgentPresence._meta.primary_key)
    return bool(rows)


async def available_agents(*, limit: int = 1000) -> list[dict[str, Any]]:
    """Available agents, longest idle first (``limit`` of them: enough for one round of assignment)."""
    rows = await (
        AgentPresence.select(
            AgentPresence.user_id,
            AgentPresence.state,
            AgentPresence.since,
            AgentPresence.idle_since,
            AgentPresence.languages,
            AgentPresence.skills,
            AgentPresence.home_kommune,
            AgentPresence.display_name,
            AgentPresence.current_call_id,
        )
        .where(AgentPresence.state == "available")
        .order_by(AgentPresence.idle_since)
        .order_by(AgentPresence.user_id)
        .limit(limit)
    )
    return [_aware_row(r) for r in rows]


async def presence_counts() -> dict[str, int]:
    rows = await AgentPresence.select(AgentPresence.state)
    counts: dict[str, int] = {}
    for row in rows:
        counts[row["state"]] = counts.get(row["state"], 0) + 1
    return counts


async def stale_agents(cutoff: dt.datetime) -> list[dict[str, Any]]:
    rows = await AgentPresence.select().where(
        (AgentPresence.node != "")
        & AgentPresence.state.is_in(["available", "pause", "ringing"])
        & (AgentPresence.last_seen_at < utc(cutoff))
    )
    return [_aware_row(r) for r in rows]


async def touch_agents(user_ids: Sequence[int], node: str, now: dt.datetime) -> None:
    if user_ids:
        await AgentPresence.update({AgentPresence.node: node, AgentPresence.last_seen_at: utc(now)}).where(
            AgentPresence.user_id.is_in(list(user_ids))
        )


async def insert_span(values: dict[str, Any]) -> None:
    await PresenceSpan.insert(PresenceSpan(**values))


# -- callbacks ------------------------------------------------------------------------------------------------


async def callbacks_waiting() -> bool:
    return bool(await Callback.exists().where(Callback.status == "queued"))


async def callback_exists(call_id: str) -> bool:
    return bool(await Callback.exists().where(Callback.call_id == call_id))


async def insert_callback(values: dict[str, Any]) -> None:
    await Callback.insert(Callback(**values))


async def queued_callbacks(limit: int) -> list[dict[str, Any]]:
    if is_postgres():
        locked = await Callback.raw(
            "SELECT id FROM call_callback WHERE status = {} ORDER BY requested_at ASC LIMIT {} FOR UPDATE SKIP LOCKED",
            "queued",
            limit,
        )
        ids = [row["id"] for row in locked]
        if not ids:
            return []
        rows = await Callback.select().where(Callback._meta.primary_key.is_in(ids) & (Callback.status == "queued"))
    else:
        rows = await Callback.select().where(Callback.status == "queued").order_by(Callback.requested_at).limit(limit)
    return sorted((_aware_row(r) for r in rows), key=lambda r: (r["requested_at"], r["id"]))


async def update_callback(call_id: str, values: dict[str, Any], *, status_in: Sequence[str] | None = None) -> bool:
    where: Any = Callback.call_id == call_id
    if status_in is not None:
        where = where & Callback.status.is_in(list(status_in))
    changes: dict[Column | str, Any] = dict(values.items())
    rows = await Callback.update(changes).where(where).returning(Callback._meta.primary_key)
    return bool(rows)


async def callback(call_id: str) -> dict[str, Any] | None:
    row = await Callback.select().where(Callback.call_id == call_id).first()
    return _aware_row(row) if row else None

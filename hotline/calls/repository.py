"""Every query of the calls area. The caller owns the transaction (:func:`transaction`).

Assignment relies on conditional updates (``... WHERE status = 'queued' RETURNING``) so that two app processes
can never both take one call or one agent; on PostgreSQL the queued calls a process considers are also locked
with ``FOR UPDATE SKIP LOCKED`` so that two processes work on different calls instead of colliding. SQLite
serialises writers (IMMEDIATE transactions), which gives the same guarantee there.

Timestamps are written in UTC; SQLite hands them back naive (:func:`aware`).

The statements on the path of every call (read a call or a presence, conditional updates, queued calls, available
agents) are written as parameterised SQL: building them with the query builder cost more CPU than running them.
Column names in those statements come from the tables' own column lists (:func:`_assignments`), never from input.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Sequence
from typing import Any, Final

from piccolo.engine.postgres import PostgresEngine
from piccolo.engine.sqlite import SQLiteEngine, TransactionType
from piccolo.table import Table

from hotline.calls.tables import AgentPresence, Call, Callback, CallEvent, PresenceSpan
from hotline.tenancy.service import RetentionCutoffs


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


def _marks(count: int) -> str:
    return ", ".join(["{}"] * count)


def _columns(table: type[Table]) -> frozenset[str]:
    return frozenset(column._meta.db_column_name for column in table._meta.columns)


_CALL_COLUMNS: Final = _columns(Call)
_PRESENCE_COLUMNS: Final = _columns(AgentPresence)
_CALLBACK_COLUMNS: Final = _columns(Callback)


def _assignments(values: dict[str, Any], allowed: frozenset[str]) -> tuple[str, list[Any]]:
    """``"a" = {}, "b" = {}`` and the values, for the columns of ``values`` (which must be columns of the table)."""
    unknown = set(values) - allowed
    if unknown:
        raise ValueError(f"not columns of the table: {sorted(unknown)}")
    return ", ".join(f'"{name}" = {{}}' for name in values), list(values.values())


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


_EVENT_COLUMNS: Final = (
    "call_id",
    "kind",
    "dedupe_key",
    "occurred_at",
    "received_at",
    "integration",
    "payload",
    "applied",
)


async def insert_new_events(rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Insert events whose ``dedupe_key`` is new (the others are repeats and skipped); returns the keys inserted.
    Each row has every column of :data:`_EVENT_COLUMNS`."""
    if not rows:
        return []
    one = "(" + _marks(len(_EVENT_COLUMNS)) + ")"
    names = ", ".join(_EVENT_COLUMNS)
    inserted: list[dict[str, Any]] = await CallEvent.raw(
        f"INSERT INTO call_event ({names}) VALUES {', '.join([one] * len(rows))} "  # noqa: S608  (placeholders)
        "ON CONFLICT (dedupe_key) DO NOTHING RETURNING dedupe_key",
        *[row[name] for row in rows for name in _EVENT_COLUMNS],
    )
    return inserted


async def insert_events(rows: list[dict[str, Any]]) -> None:
    if rows:
        await CallEvent.insert(*[CallEvent(**row) for row in rows])


async def pending_events(call_ids: Iterable[str]) -> list[dict[str, Any]]:
    ids = list(call_ids)
    if not ids:
        return []
    rows = await CallEvent.raw(
        "SELECT id, call_id, kind, payload, occurred_at FROM call_event "  # noqa: S608  (placeholders only)
        f"WHERE call_id IN ({_marks(len(ids))}) AND applied = {{}} ORDER BY occurred_at, id",
        *ids,
        False,
    )
    return [_aware_row(row) for row in rows]


async def mark_applied(event_ids: list[int]) -> None:
    if event_ids:
        await CallEvent.raw(
            f"UPDATE call_event SET applied = {{}} WHERE id IN ({_marks(len(event_ids))})",  # noqa: S608
            True,
            *event_ids,
        )


# -- calls ----------------------------------------------------------------------------------------------------


async def calls_by_id(call_ids: Iterable[str]) -> dict[str, dict[str, Any]]:
    ids = list(call_ids)
    if not ids:
        return {}
    rows = await Call.raw(f'SELECT * FROM "call" WHERE call_id IN ({_marks(len(ids))})', *ids)  # noqa: S608
    return {row["call_id"]: _aware_row(row) for row in rows}


async def call(call_id: str) -> dict[str, Any] | None:
    rows = await Call.raw('SELECT * FROM "call" WHERE call_id = {}', call_id)
    return _aware_row(rows[0]) if rows else None


async def insert_call(values: dict[str, Any]) -> None:
    await Call.insert(Call(**values))


async def insert_calls(rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Insert new calls in one statement; returns those inserted, as stored (a call that exists already is left
    as it is and not returned)."""
    inserted = (
        await Call.insert(*[Call(**values) for values in rows])
        .on_conflict(target=Call.call_id, action="DO NOTHING")
        .returning(*Call.all_columns())
    )
    return [_aware_row(row) for row in inserted]


async def answer_ringing(call_id: str, user_id: int, now: dt.datetime) -> dict[str, Any] | None:
    """The common answer in one statement: the call rings for this agent, so it becomes ``answered`` by them.
    Returns the row as it now stands, or None when the call is not ringing for this agent (the caller then takes
    the general path, which reads the call and explains)."""
    rows = await Call.raw(
        'UPDATE "call" SET status = {}, answered_at = {}, agent_id = {}, ring_agent_id = NULL, ring_until = NULL, '
        "updated_at = {} WHERE call_id = {} AND status = {} AND ring_agent_id = {} RETURNING *",
        "answered",
        utc(now),
        user_id,
        utc(now),
        call_id,
        "ringing",
        user_id,
    )
    return _aware_row(rows[0]) if rows else None


async def finish_call(call_id: str, user_id: int, values: dict[str, Any]) -> dict[str, Any] | None:
    """Wrap up a call this agent holds (answered or in wrap-up) in one statement; returns the row as it now
    stands, or None when the call is not theirs in those states (the caller then reads it and explains)."""
    assignments, args = _assignments(values, _CALL_COLUMNS)
    rows = await Call.raw(
        f'UPDATE "call" SET {assignments} WHERE call_id = {{}} AND agent_id = {{}} '  # noqa: S608  (_assignments)
        "AND status IN ({}, {}) RETURNING *",
        *args,
        call_id,
        user_id,
        "answered",
        "wrap_up",
    )
    return _aware_row(rows[0]) if rows else None


async def update_call(call_id: str, values: dict[str, Any], *, status_in: Sequence[str] | None = None) -> bool:
    """Update one call; with ``status_in`` only while its status is one of those. True when a row changed."""
    assignments, args = _assignments(values, _CALL_COLUMNS)
    sql = f'UPDATE "call" SET {assignments} WHERE call_id = {{}}'  # noqa: S608  (see _assignments)
    args.append(call_id)
    if status_in is not None:
        sql += f" AND status IN ({_marks(len(status_in))})"
        args.extend(status_in)
    rows = await Call.raw(sql + " RETURNING id", *args)
    return bool(rows)


async def queued_calls(limit: int) -> list[dict[str, Any]]:
    """The calls waiting for an agent, highest priority first, then longest waiting; on PostgreSQL the rows are
    locked for this transaction, and rows another process holds are skipped."""
    lock = " FOR UPDATE SKIP LOCKED" if is_postgres() else ""
    rows = await Call.raw(
        'SELECT * FROM "call" WHERE status = {} ORDER BY priority DESC, offered_at ASC, id ASC LIMIT {}'  # noqa: S608
        + lock,
        "queued",
        limit,
    )
    return [_aware_row(r) for r in rows]


async def ringing_past(now: dt.datetime) -> list[dict[str, Any]]:
    rows: list[dict[str, Any]] = await Call.select(Call.call_id, Call.ring_agent_id, Call.status).where(
        Call.status.is_in(["ringing", "callback"]) & Call.ring_agent_id.is_not_null() & (Call.ring_until < utc(now))
    )
    return rows


async def waiting_past(cutoff: dt.datetime) -> list[dict[str, Any]]:
    rows = await Call.select().where((Call.status == "queued") & (Call.offered_at < utc(cutoff)))
    return [_aware_row(r) for r in rows]


async def queue_stats() -> tuple[int, dt.datetime | None]:
    rows = await Call.raw(
        'SELECT COUNT(*) AS n, MIN(offered_at) AS oldest FROM "call" WHERE status IN ({}, {})', "queued", "ringing"
    )
    oldest = rows[0]["oldest"] if rows else None
    if isinstance(oldest, str):  # SQLite: an aggregate has no declared type, so no timestamp conversion
        oldest = dt.datetime.fromisoformat(oldest)
    return (int(rows[0]["n"]) if rows else 0), aware(oldest)


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
    rows = await AgentPresence.raw("SELECT * FROM agent_presence WHERE user_id = {}", user_id)
    return _aware_row(rows[0]) if rows else None


async def insert_presence(values: dict[str, Any]) -> None:
    await AgentPresence.insert(AgentPresence(**values))


async def update_presence(
    user_id: int,
    values: dict[str, Any],
    *,
    state_in: Sequence[str] | None = None,
    current_call_id: str | None = None,
    skip_locked: bool = False,
    span: dict[str, Any] | None = None,
) -> bool:
    """Update one agent's presence while it matches ``state_in`` / ``current_call_id``. With ``skip_locked`` (on
    PostgreSQL) a row another transaction is changing right now counts as not matching instead of being waited
    for: concurrent assignments then move on to the next agent rather than queueing behind one another.

    ``span`` (the stretch the move closes, see :func:`insert_span`) is inserted only when the row changed; on
    PostgreSQL in the same statement as the update (one round trip instead of two)."""
    assignments, args = _assignments(values, _PRESENCE_COLUMNS)
    match, match_args = "user_id = {}", list[Any]([user_id])
    if state_in is not None:
        match += f" AND state IN ({_marks(len(state_in))})"
        match_args.extend(state_in)
    if current_call_id is not None:
        match += " AND current_call_id = {}"
        match_args.append(current_call_id)
    postgres = is_postgres()
    if skip_locked and postgres:
        # The lock is taken only on a row that still matches: a row that moved on since it was read (another
        # process gave the agent a call) is passed over unlocked, so the agent's own answer does not wait for
        # this transaction to end.
        sql = (
            f"UPDATE agent_presence SET {assignments} WHERE id = "  # noqa: S608  (see _assignments)
            f"(SELECT id FROM agent_presence WHERE {match} FOR UPDATE SKIP LOCKED)"
        )
    else:
        sql = f"UPDATE agent_presence SET {assignments} WHERE {match}"  # noqa: S608  (see _assignments)
    args.extend(match_args)
    sql += " RETURNING id"
    if span is not None and postgres:
        rows = await AgentPresence.raw(
            f"WITH moved AS ({sql}) INSERT INTO agent_presence_span "  # noqa: S608  (built above)
            "(user_id, home_kommune, state, started_at, ended_at) "
            "SELECT {}::integer, {}::varchar, {}::varchar, {}::timestamptz, {}::timestamptz FROM moved RETURNING id",
            *args,
            *_span_values(span),
        )
        return bool(rows)
    rows = await AgentPresence.raw(sql, *args)
    if rows and span is not None:
        await insert_span(span)
    return bool(rows)


async def available_agents(*, limit: int = 1000) -> list[dict[str, Any]]:
    """Available agents, longest idle first (``limit`` of them: enough for one round of assignment). Each row
    also says whether any callback is queued (``callbacks_waiting``), so assignment needs no query of its own to
    learn that none is."""
    rows = await AgentPresence.raw(
        "SELECT user_id, state, since, idle_since, languages, skills, home_kommune, display_name, current_call_id, "
        "EXISTS (SELECT 1 FROM call_callback WHERE status = {}) AS callbacks_waiting "
        "FROM agent_presence WHERE state = {} ORDER BY idle_since, user_id LIMIT {}",
        "queued",
        "available",
        limit,
    )
    return [_aware_row(r) for r in rows]


async def anything_waiting() -> bool:
    """Whether a call or a callback waits for an agent: one query, for the many moments (a wrap-up, a tick) when
    nothing does."""
    rows = await Call.raw(
        'SELECT EXISTS (SELECT 1 FROM "call" WHERE status = {}) AS calls, '
        "EXISTS (SELECT 1 FROM call_callback WHERE status = {}) AS callbacks",
        "queued",
        "queued",
    )
    return bool(rows and (rows[0]["calls"] or rows[0]["callbacks"]))


async def move_presence_at_once(
    user_id: int,
    to_state: str,
    now: dt.datetime,
    *,
    state_in: Sequence[str] | None,
    call_id_is: str | None,
    current_call_id: str,
) -> str:
    """PostgreSQL: read, check, move and close the previous stretch (see :func:`insert_span`) in one statement,
    with the row locked. Returns ``"moved"``, ``"already"`` (it was in that state for that call) or ``"no"``
    (no presence, or it did not match ``state_in`` / ``call_id_is``)."""
    where, args = "user_id = {}", list[Any]([user_id])
    if state_in is not None:
        where += f" AND state IN ({_marks(len(state_in))})"
        args.extend(state_in)
    if call_id_is is not None:
        where += " AND current_call_id = {}"
        args.append(call_id_is)
    idle = ", idle_since = {}" if to_state == "available" else ""
    moment = utc(now)
    rows = await AgentPresence.raw(
        "WITH old AS (SELECT id, state, since, home_kommune, current_call_id FROM agent_presence "  # noqa: S608
        f"WHERE {where} FOR UPDATE), "
        "moved AS (UPDATE agent_presence SET state = {}, since = {}, current_call_id = {}" + idle + " FROM old "
        "WHERE agent_presence.id = old.id AND NOT (old.state = {} AND old.current_call_id = {}) "
        "RETURNING old.state AS old_state, old.since AS old_since, old.home_kommune AS home_kommune), "
        "span AS (INSERT INTO agent_presence_span (user_id, home_kommune, state, started_at, ended_at) "
        "SELECT {}::integer, home_kommune, old_state, old_since, {}::timestamptz FROM moved "
        "WHERE old_state <> {} AND old_state <> {} RETURNING id) "
        "SELECT (SELECT COUNT(*) FROM old) AS matched, (SELECT COUNT(*) FROM moved) AS moved",
        *args,
        to_state,
        moment,
        current_call_id,
        *([moment] if idle else []),
        to_state,
        current_call_id,
        user_id,
        moment,
        "offline",
        to_state,
    )
    if not rows or not rows[0]["matched"]:
        return "no"
    return "moved" if rows[0]["moved"] else "already"


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


HEARTBEAT_CHUNK: Final = 25


async def touch_agents(user_ids: Sequence[int], node: str, now: dt.datetime) -> None:
    """Vouch for these agents (this process holds their live connections). Meant to run outside a transaction.

    On PostgreSQL in chunks, each its own short statement, skipping rows another transaction is changing: one
    UPDATE of all 200 rows held their locks while it waited for the busiest of them, and every answer, wrap-up
    and assignment queued behind it (a 300 ms stall every heartbeat at 100 calls/s). A skipped agent is busy
    right now, so alive; the next heartbeat vouches for them (they go stale only after several missed ones)."""
    ids = list(user_ids)
    if not ids:
        return
    if not is_postgres():
        await AgentPresence.update({AgentPresence.node: node, AgentPresence.last_seen_at: utc(now)}).where(
            AgentPresence.user_id.is_in(ids)
        )
        return
    for start in range(0, len(ids), HEARTBEAT_CHUNK):
        chunk = ids[start : start + HEARTBEAT_CHUNK]
        await AgentPresence.raw(
            "UPDATE agent_presence SET node = {}, last_seen_at = {} WHERE id IN "  # noqa: S608  (placeholders only)
            f"(SELECT id FROM agent_presence WHERE user_id IN ({_marks(len(chunk))}) FOR UPDATE SKIP LOCKED)",
            node,
            utc(now),
            *chunk,
        )


def _span_values(values: dict[str, Any]) -> list[Any]:
    return [values["user_id"], values["home_kommune"], values["state"], values["started_at"], values["ended_at"]]


async def insert_span(values: dict[str, Any]) -> None:
    """A closed stretch of one presence state: ``user_id``, ``home_kommune``, ``state``, ``started_at``,
    ``ended_at``."""
    await PresenceSpan.raw(
        "INSERT INTO agent_presence_span (user_id, home_kommune, state, started_at, ended_at) "
        "VALUES ({}, {}, {}, {}, {})",
        *_span_values(values),
    )


# -- callbacks ------------------------------------------------------------------------------------------------


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
    assignments, args = _assignments(values, _CALLBACK_COLUMNS)
    sql = f"UPDATE call_callback SET {assignments} WHERE call_id = {{}}"  # noqa: S608  (see _assignments)
    args.append(call_id)
    if status_in is not None:
        sql += f" AND status IN ({_marks(len(status_in))})"
        args.extend(status_in)
    rows = await Callback.raw(sql + " RETURNING id", *args)
    return bool(rows)


async def callback(call_id: str) -> dict[str, Any] | None:
    row = await Callback.select().where(Callback.call_id == call_id).first()
    return _aware_row(row) if row else None


# -- retention ------------------------------------------------------------------------------------------------
# Not on the path of a call: plain statements, run by the tick every few minutes. Column names in them are ours.
#
# Where a citizen's number sits in the events: ``offered.caller_number`` (the same number as the call's
# ``caller_number``) and ``callback_requested.number``. Events are rewritten with the call (or callback) they belong
# to, found through the index on ``call_event.call_id``; only a ``callback_requested`` with a number whose call holds
# nothing else (a withheld caller who gave a number) or never came needs a look at the events themselves.

PERSONAL_EVENT_KEYS: Final = ("caller_number", "number", "callback_number")
"""Keys of a telephony event's payload that hold a citizen's number."""
# How the keys appear in the stored JSON text (compact, as ``msgspec`` writes it), matched with LIKE: cheap, no JSON
# parsing of every event. A rewritten payload has none of them.
_EVENT_KEY_PATTERNS: Final = tuple(f'%"{key}"%' for key in PERSONAL_EVENT_KEYS)
_CALLBACK_NUMBER_PATTERN: Final = '%"number":"%'


def _past(instant: str, kommune: str, cutoffs: RetentionCutoffs) -> tuple[str, list[Any]]:
    """``instant`` before the cutoff of the row's kommune: one condition per distinct retention, and the default
    retention for every code that is not a configured kommune (``""`` included)."""
    known = list(cutoffs.known)
    if known:
        parts = [f"({kommune} NOT IN ({_marks(len(known))}) AND {instant} < {{}})"]
        args: list[Any] = [*known, utc(cutoffs.other)]
    else:
        parts, args = [f"{instant} < {{}}"], [utc(cutoffs.other)]
    for cutoff, codes in cutoffs.groups:
        parts.append(f"({kommune} IN ({_marks(len(codes))}) AND {instant} < {{}})")
        args.extend([*codes, utc(cutoff)])
    return "(" + " OR ".join(parts) + ")", args


def _calls_past(cutoffs: RetentionCutoffs) -> tuple[str, list[Any]]:
    due, args = _past("offered_at", "kommune_code", cutoffs)
    return f'FROM "call" WHERE {due} AND (caller_number <> {{}} OR notes <> {{}})', [*args, "", ""]


def _callbacks_past(cutoffs: RetentionCutoffs) -> tuple[str, list[Any]]:
    # A callback ringing at an agent right now keeps its number until the ring ends (the next pass takes it).
    due, args = _past("requested_at", "kommune_code", cutoffs)
    return f"FROM call_callback WHERE {due} AND number <> {{}} AND status <> {{}}", [*args, "", "assigned"]


def _callback_events_past(cutoffs: RetentionCutoffs) -> tuple[str, list[Any]]:
    """``callback_requested`` events that still carry a number, of calls past their kommune's retention (counted
    from the offer) or of calls that never came (the default retention, counted from the event's arrival)."""
    due, args = _past("c.offered_at", "c.kommune_code", cutoffs)
    sql = (
        'FROM call_event e LEFT JOIN "call" c ON c.call_id = e.call_id '
        "WHERE e.kind = {} AND CAST(e.payload AS TEXT) LIKE {} "
        f"AND ((c.id IS NOT NULL AND {due}) OR (c.id IS NULL AND e.received_at < {{}}))"
    )
    return sql, ["callback_requested", _CALLBACK_NUMBER_PATTERN, *args, utc(cutoffs.other)]


async def personal_data_past(cutoffs: RetentionCutoffs) -> bool:
    """Whether any call, callback or telephony event past its kommune's retention still holds personal data: one
    statement, so a sweep with nothing to do costs one read and takes no lock."""
    calls, call_args = _calls_past(cutoffs)
    callbacks, callback_args = _callbacks_past(cutoffs)
    events, event_args = _callback_events_past(cutoffs)
    rows = await Call.raw(
        f"SELECT EXISTS (SELECT 1 {calls}) AS calls, EXISTS (SELECT 1 {callbacks}) AS callbacks, "
        f"EXISTS (SELECT 1 {events}) AS events",
        *call_args,
        *callback_args,
        *event_args,
    )
    return bool(rows and (rows[0]["calls"] or rows[0]["callbacks"] or rows[0]["events"]))


async def call_ids_past_retention(cutoffs: RetentionCutoffs, limit: int) -> list[int]:
    # No ORDER BY: the scan stops at the ``limit``-th match instead of finding and sorting every one.
    where, args = _calls_past(cutoffs)
    rows = await Call.raw(f"SELECT id {where} LIMIT {{}}", *args, limit)
    return [row["id"] for row in rows]


async def anonymise_calls(row_ids: Sequence[int]) -> dict[str, str]:
    """Erase the caller's number and the agent's notes of these calls (those that still hold either); returns
    call id -> kommune code of each call changed."""
    if not row_ids:
        return {}
    rows = await Call.raw(
        f'UPDATE "call" SET caller_number = {{}}, notes = {{}} WHERE id IN ({_marks(len(row_ids))}) '  # noqa: S608
        "AND (caller_number <> {} OR notes <> {}) RETURNING call_id, kommune_code",
        "",
        "",
        *row_ids,
        "",
        "",
    )
    return {row["call_id"]: row["kommune_code"] for row in rows}


async def callbacks_past_retention(cutoffs: RetentionCutoffs, limit: int) -> list[int]:
    where, args = _callbacks_past(cutoffs)
    rows = await Callback.raw(f"SELECT id {where} LIMIT {{}}", *args, limit)
    return [row["id"] for row in rows]


async def give_up_callbacks(row_ids: Sequence[int], outcome: str) -> None:
    """Close those of these callbacks still waiting in the queue as ``failed`` with ``outcome``."""
    if row_ids:
        await Callback.raw(
            f"UPDATE call_callback SET status = {{}}, outcome = {{}} WHERE id IN ({_marks(len(row_ids))}) "  # noqa: S608
            "AND status = {}",
            "failed",
            outcome,
            *row_ids,
            "queued",
        )


async def anonymise_callbacks(row_ids: Sequence[int]) -> dict[str, str]:
    """Erase the number of these callbacks (those that still hold one and are not ringing at an agent right now);
    returns call id -> kommune code."""
    if not row_ids:
        return {}
    rows = await Callback.raw(
        f"UPDATE call_callback SET number = {{}} WHERE id IN ({_marks(len(row_ids))}) "  # noqa: S608
        "AND number <> {} AND status <> {} RETURNING call_id, kommune_code",
        "",
        *row_ids,
        "",
        "assigned",
    )
    return {row["call_id"]: row["kommune_code"] for row in rows}


async def callback_events_past_retention(cutoffs: RetentionCutoffs, limit: int) -> list[dict[str, Any]]:
    """Up to ``limit`` of them: ``id``, ``call_id`` and ``kommune_code`` (``""`` when the call never came)."""
    where, args = _callback_events_past(cutoffs)
    rows: list[dict[str, Any]] = await CallEvent.raw(
        f"SELECT e.id AS id, e.call_id AS call_id, COALESCE(c.kommune_code, {{}}) AS kommune_code {where} LIMIT {{}}",
        "",
        *args,
        limit,
    )
    return rows


async def strip_event_numbers(event_ids: Sequence[int]) -> list[str]:
    """Rewrite the payloads of these events without :data:`PERSONAL_EVENT_KEYS`; returns the call id of each
    event changed."""
    return await _strip_event_numbers("id", list(event_ids))


async def strip_event_numbers_of_calls(call_ids: Sequence[str]) -> list[str]:
    """Rewrite the payloads of every event of these calls without :data:`PERSONAL_EVENT_KEYS`; returns the call id
    of each event changed."""
    return await _strip_event_numbers("call_id", list(call_ids))


async def _strip_event_numbers(column: str, targets: list[Any]) -> list[str]:
    """The rest of the payload, which applying a late event still needs, stays; events that hold none of the keys
    (already rewritten, or never had them) are left untouched."""
    if not targets:
        return []
    keys = list(PERSONAL_EVENT_KEYS)
    if is_postgres():
        removed = "CAST(CAST(payload AS jsonb) - CAST({} AS text) - CAST({} AS text) - CAST({} AS text) AS json)"
        type_check = "json_typeof(payload)"
    else:
        removed = "json_remove(payload, {}, {}, {})"
        keys = [f"$.{key}" for key in keys]
        type_check = "json_type(payload)"
    holds = " OR ".join(["CAST(payload AS TEXT) LIKE {}"] * len(_EVENT_KEY_PATTERNS))
    rows = await CallEvent.raw(
        f"UPDATE call_event SET payload = {removed} WHERE {column} IN ({_marks(len(targets))}) "  # noqa: S608
        f"AND ({holds}) AND {type_check} = {{}} RETURNING call_id",
        *keys,
        *targets,
        *_EVENT_KEY_PATTERNS,
        "object",
    )
    return [row["call_id"] for row in rows]

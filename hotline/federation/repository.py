"""Every query of the federation area: its own tables (settings, shifts, sign-ups, pledges) and read-only
aggregates over the calls area's ``call`` and ``agent_presence_span`` tables (the fixed data model the rota and the
settlement are computed from; the calls area has no service function for these federation-wide sums).

The settlement's sums run in SQL, unchanged on SQLite and PostgreSQL except for the seconds between two
timestamps and the clipping of a span to the period (:class:`Dialect`). Everything a request supplies is a bound
parameter; instants are passed in UTC so SQLite's text comparison of stored timestamps orders them correctly.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Sequence
from typing import Any

from hotline.calls.tables import Call, PresenceSpan
from hotline.db.dialect import Dialect, dialect
from hotline.db.engine import aware as aware  # shared by every area: naive SQLite timestamps are UTC
from hotline.db.engine import transaction as transaction  # one write-transaction rule for every area
from hotline.db.engine import utc as utc
from hotline.federation.tables import FederationSettings, Pledge, Shift, ShiftSignup

# Presence states that count as hours worked: the agent was at the federation's disposal. ``pause`` and
# ``offline`` do not count (see docs/SETTLEMENT.md).
WORKED_STATES: tuple[str, ...] = ("available", "ringing", "on_call", "wrap_up")


def _param(moment: dt.datetime, d: Dialect) -> Any:
    # SQLite compares the stored text; it must be written exactly as Piccolo writes it (UTC, ``str()``).
    return utc(moment) if d.postgres else str(utc(moment))


# -- settings ---------------------------------------------------------------------------------------------


async def settings_row() -> dict[str, Any] | None:
    rows: list[dict[str, Any]] = (
        await FederationSettings.select().order_by(FederationSettings._meta.primary_key).limit(1).run()
    )
    return rows[0] if rows else None


async def save_settings(values: dict[Any, Any]) -> None:
    existing = await settings_row()
    if existing is None:
        await FederationSettings.insert(FederationSettings(**values)).run()
    else:
        await FederationSettings.update(values).where(FederationSettings._meta.primary_key == existing["id"]).run()


# -- calls history (forecast) -------------------------------------------------------------------------------


async def calls_in(windows: Sequence[tuple[dt.datetime, dt.datetime]]) -> list[dict[str, Any]]:
    """Offered calls in any of ``windows`` with the instants the forecast needs (one row per call)."""
    if not windows:
        return []
    condition: Any = None
    for start, end in windows:
        part = (Call.offered_at >= utc(start)) & (Call.offered_at < utc(end))
        condition = part if condition is None else condition | part
    rows: list[dict[str, Any]] = (
        await Call.select(Call.offered_at, Call.answered_at, Call.ended_at, Call.wrapped_up_at).where(condition).run()
    )
    return rows


async def first_call_at() -> dt.datetime | None:
    rows = await Call.select(Call.offered_at).order_by(Call.offered_at).limit(1).run()
    return aware(rows[0]["offered_at"]) if rows else None


# -- settlement aggregates ------------------------------------------------------------------------------------


async def worked_seconds_by_kommune(start: dt.datetime, end: dt.datetime) -> dict[str, float]:
    """Seconds of worked presence per agent home kommune inside [start, end) (spans clipped to the period)."""
    d = dialect()
    states = ", ".join(f"'{state}'" for state in WORKED_STATES)  # constants, not input
    # Column names and constants only in the text; every value is a bound parameter.
    sql = (
        f"SELECT home_kommune, SUM({d.clipped_seconds('started_at', 'ended_at')}) AS seconds "  # noqa: S608
        f"FROM agent_presence_span WHERE started_at < {{}} AND ended_at > {{}} AND state IN ({states}) "
        "GROUP BY home_kommune"
    )
    args = [_param(end, d), _param(start, d), _param(end, d), _param(start, d)]
    rows: list[dict[str, Any]] = await PresenceSpan.raw(sql, *args).run()
    return {row["home_kommune"]: float(row["seconds"] or 0) for row in rows}


async def answered_calls_by_kommune(start: dt.datetime, end: dt.datetime) -> list[dict[str, Any]]:
    """Answered calls offered in [start, end) per (kommune, mode): their number and handled seconds
    (answered → wrapped up, or → ended when there was no wrap-up)."""
    d = dialect()
    handled = d.seconds("answered_at", "COALESCE(wrapped_up_at, ended_at)")
    # Column names and constants only in the text; every value is a bound parameter.
    sql = (
        f"SELECT kommune_code, mode, COUNT(*) AS calls, "  # noqa: S608
        f"SUM(CASE WHEN COALESCE(wrapped_up_at, ended_at) IS NOT NULL AND {handled} > 0 THEN {handled} ELSE 0 END) "
        "AS handled FROM call WHERE offered_at >= {} AND offered_at < {} AND answered_at IS NOT NULL "
        "GROUP BY kommune_code, mode"
    )
    rows: list[dict[str, Any]] = await Call.raw(sql, _param(start, d), _param(end, d)).run()
    return rows


# -- rota ------------------------------------------------------------------------------------------------------


async def insert_shifts(rows: Iterable[dict[str, Any]]) -> list[int]:
    shifts = [Shift(**row) for row in rows]
    if not shifts:
        return []
    inserted: list[dict[str, Any]] = await Shift.insert(*shifts).returning(Shift._meta.primary_key).run()
    return [row["id"] for row in inserted]


async def shift(shift_id: int) -> dict[str, Any] | None:
    rows: list[dict[str, Any]] = await Shift.select().where(Shift._meta.primary_key == shift_id).run()
    return rows[0] if rows else None


async def shifts_by_id(shift_ids: Sequence[int]) -> list[dict[str, Any]]:
    if not shift_ids:
        return []
    rows: list[dict[str, Any]] = await Shift.select().where(Shift._meta.primary_key.is_in(list(shift_ids))).run()
    return rows


async def delete_shift(shift_id: int) -> None:
    await ShiftSignup.delete().where(ShiftSignup.shift == shift_id).run()
    await Shift.delete().where(Shift._meta.primary_key == shift_id).run()


async def shifts_between(start: dt.datetime, end: dt.datetime) -> list[dict[str, Any]]:
    """Shifts that overlap [start, end), oldest first."""
    rows: list[dict[str, Any]] = (
        await Shift.select()
        .where((Shift.starts_at < utc(end)) & (Shift.ends_at > utc(start)))
        .order_by(Shift.starts_at)
        .order_by(Shift._meta.primary_key)
        .run()
    )
    return rows


async def signups_for(shift_ids: Sequence[int]) -> list[dict[str, Any]]:
    if not shift_ids:
        return []
    rows: list[dict[str, Any]] = (
        await ShiftSignup.select(
            ShiftSignup._meta.primary_key,
            ShiftSignup.shift,
            ShiftSignup.user_id,
            ShiftSignup.home_kommune,
            ShiftSignup.display_name,
        )
        .where(ShiftSignup.shift.is_in(list(shift_ids)))
        .order_by(ShiftSignup._meta.primary_key)
        .run()
    )
    return rows


async def shifts_of_user(user_id: int) -> list[dict[str, Any]]:
    """The shifts ``user_id`` is signed up to (start and end of each)."""
    rows: list[dict[str, Any]] = (
        await ShiftSignup.select(
            ShiftSignup.shift.id.as_alias("shift_id"),
            ShiftSignup.shift.starts_at.as_alias("starts_at"),
            ShiftSignup.shift.ends_at.as_alias("ends_at"),
        )
        .where(ShiftSignup.user_id == user_id)
        .run()
    )
    return rows


async def shifts_of_users(user_ids: Sequence[int], start: dt.datetime, end: dt.datetime) -> list[dict[str, Any]]:
    """The shifts overlapping [start, end) that each of ``user_ids`` is signed up to (``user_id``, ``shift_id``,
    start and end)."""
    if not user_ids:
        return []
    rows: list[dict[str, Any]] = (
        await ShiftSignup.select(
            ShiftSignup.user_id,
            ShiftSignup.shift.id.as_alias("shift_id"),
            ShiftSignup.shift.starts_at.as_alias("starts_at"),
            ShiftSignup.shift.ends_at.as_alias("ends_at"),
        )
        .where(
            ShiftSignup.user_id.is_in(list(user_ids))
            & (ShiftSignup.shift.starts_at < utc(end))
            & (ShiftSignup.shift.ends_at > utc(start))
        )
        .run()
    )
    return rows


async def lock_for_signups(user_ids: Sequence[int], shift_ids: Sequence[int]) -> None:
    """:func:`lock_for_signup` for many agents and shifts at once, in a fixed order (no deadlock between two)."""
    if dialect().postgres and (user_ids or shift_ids):
        await Shift.raw(
            "SELECT pg_advisory_xact_lock(k1, k2) FROM (SELECT 7301 AS k1, u AS k2 FROM unnest({}::int[]) AS u "
            "UNION ALL SELECT 7302, s FROM unnest({}::int[]) AS s ORDER BY 1, 2) AS wanted",
            sorted(user_ids),
            sorted(shift_ids),
        ).run()


async def lock_for_signup(user_id: int, shift_id: int) -> None:
    """Serialise sign-ups of one agent, and to one shift, until the transaction ends (PostgreSQL; SQLite's
    IMMEDIATE transaction already holds the one write lock), so double-booking and over-filling cannot race."""
    if dialect().postgres:
        await Shift.raw("SELECT pg_advisory_xact_lock(7301, {})", user_id).run()
        await Shift.raw("SELECT pg_advisory_xact_lock(7302, {})", shift_id).run()


async def count_signups(shift_id: int) -> int:
    return int(await ShiftSignup.count().where(ShiftSignup.shift == shift_id).run())


async def insert_signup(values: dict[str, Any]) -> None:
    await ShiftSignup.insert(ShiftSignup(**values)).run()


async def insert_signups(rows: Sequence[dict[str, Any]], batch: int = 500) -> None:
    for start in range(0, len(rows), batch):
        await ShiftSignup.insert(*(ShiftSignup(**row) for row in rows[start : start + batch])).run()


async def delete_signup(shift_id: int, user_id: int) -> int:
    rows = (
        await ShiftSignup.delete()
        .where((ShiftSignup.shift == shift_id) & (ShiftSignup.user_id == user_id))
        .returning(ShiftSignup._meta.primary_key)
        .run()
    )
    return len(rows)


async def signed_hours_by_kommune(start: dt.datetime, end: dt.datetime) -> dict[str, float]:
    """Hours signed up per agent home kommune for shifts starting in [start, end)."""
    rows: list[dict[str, Any]] = (
        await ShiftSignup.select(
            ShiftSignup.home_kommune,
            ShiftSignup.shift.starts_at.as_alias("starts_at"),
            ShiftSignup.shift.ends_at.as_alias("ends_at"),
        )
        .where((ShiftSignup.shift.starts_at >= utc(start)) & (ShiftSignup.shift.starts_at < utc(end)))
        .run()
    )
    hours: dict[str, float] = {}
    for row in rows:
        length = (aware(row["ends_at"]) - aware(row["starts_at"])).total_seconds() / 3600
        hours[row["home_kommune"]] = hours.get(row["home_kommune"], 0.0) + length
    return hours


async def insert_pledge(values: dict[str, Any]) -> int:
    rows: list[dict[str, Any]] = await Pledge.insert(Pledge(**values)).returning(Pledge._meta.primary_key).run()
    return int(rows[0]["id"])


async def insert_pledges(rows: Sequence[dict[str, Any]]) -> None:
    if rows:
        await Pledge.insert(*(Pledge(**row) for row in rows)).run()


async def pledges_overlapping(first: dt.date, last: dt.date) -> list[dict[str, Any]]:
    rows: list[dict[str, Any]] = (
        await Pledge.select()
        .where((Pledge.period_start <= last) & (Pledge.period_end >= first))
        .order_by(Pledge.kommune_code)
        .order_by(Pledge.period_start)
        .run()
    )
    return rows

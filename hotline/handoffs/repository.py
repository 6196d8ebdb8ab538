"""Every query of the hand-offs area. The caller owns the transaction (:func:`transaction`).

Timestamps are written in UTC (:func:`utc`) so that SQLite's text comparison of them orders correctly, and read
back aware (:func:`aware`): SQLite returns them naive.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from typing import Any

from hotline.db.engine import aware as aware  # shared by every area: naive SQLite timestamps are UTC
from hotline.db.engine import transaction as transaction  # one write-transaction rule for every area
from hotline.db.engine import utc as utc
from hotline.handoffs.tables import HandOff, HandOffOutbox, HandOffUpdate
from hotline.tenancy.service import RetentionCutoffs

_HANDOFF_PK = HandOff._meta.primary_key
_UPDATE_PK = HandOffUpdate._meta.primary_key
_OUTBOX_PK = HandOffOutbox._meta.primary_key


def maybe_aware(moment: dt.datetime | None) -> dt.datetime | None:
    return aware(moment) if moment is not None else None


# -- hand-offs ------------------------------------------------------------------------------------------------


async def insert_handoff(values: dict[str, Any]) -> None:
    await HandOff.insert(HandOff(**values)).run()


async def insert_update(values: dict[str, Any]) -> None:
    await HandOffUpdate.insert(HandOffUpdate(**values)).run()


async def handoff(handoff_id: str, kommune_code: str | None = None) -> dict[str, Any] | None:
    query = HandOff.select().where(HandOff.handoff_id == handoff_id)
    if kommune_code is not None:
        query = query.where(HandOff.kommune_code == kommune_code)
    row: dict[str, Any] | None = await query.first().run()
    return row


async def handoffs(
    *,
    kommune_code: str | None = None,
    statuses: Sequence[str] = (),
    created_from: dt.datetime | None = None,
    created_to: dt.datetime | None = None,
    ids: Sequence[str] = (),
    overdue_at: dt.datetime | None = None,
    department: str = "",
    limit: int = 1000,
) -> list[dict[str, Any]]:
    """Hand-offs matching every given filter, newest first. ``overdue_at``: still open with ``due_at`` before it."""
    query = HandOff.select()
    if kommune_code is not None:
        query = query.where(HandOff.kommune_code == kommune_code)
    if statuses:
        query = query.where(HandOff.status.is_in(list(statuses)))
    if created_from is not None:
        query = query.where(HandOff.created_at >= utc(created_from))
    if created_to is not None:
        query = query.where(HandOff.created_at <= utc(created_to))
    if ids:
        query = query.where(HandOff.handoff_id.is_in(list(ids)))
    if department:
        query = query.where(HandOff.department == department)
    if overdue_at is not None:
        query = query.where(HandOff.status == "open").where(HandOff.due_at < utc(overdue_at))
    rows: list[dict[str, Any]] = await query.order_by(HandOff.created_at, ascending=False).limit(limit).run()
    return rows


async def set_status_if(handoff_id: str, old_status: str, values: dict[Any, Any]) -> bool:
    """Apply ``values`` only if the hand-off still has ``old_status`` (compare-and-set); True if it did."""
    changed = (
        await HandOff.update(values)
        .where(HandOff.handoff_id == handoff_id)
        .where(HandOff.status == old_status)
        .returning(_HANDOFF_PK)
        .run()
    )
    return bool(changed)


async def updates_of(handoff_id: str) -> list[dict[str, Any]]:
    rows: list[dict[str, Any]] = (
        await HandOffUpdate.select()
        .where(HandOffUpdate.handoff_id == handoff_id)
        .order_by(HandOffUpdate.at)
        .order_by(_UPDATE_PK)
        .run()
    )
    return rows


async def due_for_escalation(now: dt.datetime, limit: int = 500) -> list[dict[str, Any]]:
    rows: list[dict[str, Any]] = (
        await HandOff.select()
        .where(HandOff.status == "open")
        .where(HandOff.escalated_at.is_null())
        .where(HandOff.due_at < utc(now))
        .order_by(HandOff.due_at)
        .limit(limit)
        .run()
    )
    return rows


async def counts(kommune_code: str | None, now: dt.datetime) -> dict[str, int]:
    """How many hand-offs of one kommune (all with None) are open, acknowledged and overdue (open past due)."""

    def of(*conditions: Any) -> Any:
        query = HandOff.count()
        if kommune_code is not None:
            query = query.where(HandOff.kommune_code == kommune_code)
        for condition in conditions:
            query = query.where(condition)
        return query

    return {
        "open": int(await of(HandOff.status == "open").run()),
        "acknowledged": int(await of(HandOff.status == "acknowledged").run()),
        "overdue": int(await of(HandOff.status == "open", HandOff.due_at < utc(now)).run()),
    }


async def mark_escalated(handoff_id: str, now: dt.datetime) -> dict[str, Any] | None:
    """Set ``escalated_at`` unless another process did it first (or the kommune acknowledged it meanwhile); the
    hand-off as it now is if this call did, else None. One conditional UPDATE: of two processes racing for the same
    hand-off, exactly one matches (PostgreSQL re-checks the condition on the locked row; SQLite has one writer)."""
    rows: list[dict[str, Any]] = (
        await HandOff.update({HandOff.escalated_at: utc(now)})
        .where(HandOff.handoff_id == handoff_id)
        .where(HandOff.escalated_at.is_null())
        .where(HandOff.status == "open")
        .where(HandOff.due_at < utc(now))
        .returning(*HandOff._meta.columns)
        .run()
    )
    return rows[0] if rows else None


# -- retention ------------------------------------------------------------------------------------------------


def _holds_personal_data() -> Any:
    # Every non-empty note of a hand-off's history is also its latest ``status_notes`` until a later note replaces
    # it, so a hand-off whose history holds a note holds one itself: the row alone says whether there is work.
    return (
        (HandOff.citizen_email != "")
        | (HandOff.citizen_phone != "")
        | (HandOff.description != "")
        | (HandOff.status_notes != "")
    )


def _closed_past_retention(cutoffs: RetentionCutoffs) -> Any:
    """Closed before its kommune's cutoff (one condition per distinct retention) and still holding personal data."""
    due: Any = HandOff.closed_at < utc(cutoffs.other)
    if cutoffs.known:
        due = HandOff.kommune_code.not_in(list(cutoffs.known)) & due
    for cutoff, codes in cutoffs.groups:
        due = due | (HandOff.kommune_code.is_in(list(codes)) & (HandOff.closed_at < utc(cutoff)))
    return (HandOff.status == "closed") & HandOff.closed_at.is_not_null() & due & _holds_personal_data()


async def personal_data_past(cutoffs: RetentionCutoffs) -> bool:
    """Whether any closed hand-off past its kommune's retention still holds personal data (one EXISTS)."""
    return bool(await HandOff.exists().where(_closed_past_retention(cutoffs)).run())


async def ids_past_retention(cutoffs: RetentionCutoffs, limit: int) -> list[int]:
    rows = (
        await HandOff.select(_HANDOFF_PK)
        .where(_closed_past_retention(cutoffs))
        .order_by(_HANDOFF_PK)
        .limit(limit)
        .run()
    )
    return [row["id"] for row in rows]


async def anonymise(row_ids: list[int]) -> list[dict[str, str]]:
    """Erase the citizen's contact, the description and the kommune's notes of these hand-offs, and the notes of
    their history; keep everything the figures and the kommune's statistics read (kommune, department, topic,
    times, status). Rows that hold nothing personal any more (swept meanwhile) are left untouched. Returns the
    ``handoff_id`` and ``kommune_code`` of each hand-off changed."""
    if not row_ids:
        return []
    values: dict[Any, Any] = {
        HandOff.citizen_email: "",
        HandOff.citizen_phone: "",
        HandOff.description: "",
        HandOff.status_notes: "",
    }
    rows: list[dict[str, str]] = (
        await HandOff.update(values)
        .where(_HANDOFF_PK.is_in(row_ids) & _holds_personal_data())
        .returning(HandOff.handoff_id, HandOff.kommune_code)
        .run()
    )
    if rows:
        await (
            HandOffUpdate.update({HandOffUpdate.note: ""})
            .where(HandOffUpdate.handoff_id.is_in([row["handoff_id"] for row in rows]) & (HandOffUpdate.note != ""))
            .run()
        )
    return rows


# -- the outbox -----------------------------------------------------------------------------------------------


async def insert_outbox(values: dict[str, Any]) -> None:
    await HandOffOutbox.insert(HandOffOutbox(**values)).run()


async def outbox_batch(limit: int) -> list[dict[str, Any]]:
    rows: list[dict[str, Any]] = await HandOffOutbox.select().order_by(_OUTBOX_PK).limit(limit).run()
    return rows


async def outbox_delete(ids: Sequence[int]) -> None:
    if ids:
        await HandOffOutbox.delete().where(_OUTBOX_PK.is_in(list(ids))).run()


async def outbox_attempted(ids: Sequence[int]) -> None:
    if ids:
        await (
            HandOffOutbox.update({HandOffOutbox.attempts: HandOffOutbox.attempts + 1})
            .where(_OUTBOX_PK.is_in(list(ids)))
            .run()
        )


async def outbox_size() -> int:
    return int(await HandOffOutbox.count().run())

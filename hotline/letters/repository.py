"""Every query of the letters area. The caller owns the transaction, except where a function says otherwise:
the outbox worker's claim and its records of an attempt are single conditional statements, each atomic by itself,
so that two workers (two app processes) never hold the same letter."""

from __future__ import annotations

import datetime as dt
from typing import Any

from piccolo.columns import Column

from hotline.db.engine import aware as aware  # shared by every area: naive SQLite timestamps are UTC
from hotline.db.engine import transaction as transaction  # one write-transaction rule for every area
from hotline.db.engine import utc as utc
from hotline.letters.tables import NOTICE_PREFIX, Letter
from hotline.tenancy.service import RetentionCutoffs


async def insert_letter(values: dict[str, Any]) -> None:
    await Letter.insert(Letter(**values)).run()


async def letter(letter_id: str, kommune_code: str | None = None) -> dict[str, Any] | None:
    query = Letter.select().where(Letter.letter_id == letter_id)
    if kommune_code is not None:
        query = query.where(Letter.kommune_code == kommune_code)
    return await query.first().run()


def _replies() -> Any:
    """Letters proper: not the notices to staff that share the outbox (see ``tables.NOTICE_PREFIX``)."""
    return Letter.template.not_like(f"{NOTICE_PREFIX}%")


async def letters_of(kommune_code: str, limit: int = 50) -> list[dict[str, Any]]:
    """The kommune's most recent replies (never its notices), without their text or address."""
    columns = [c for c in Letter._meta.columns if c._meta.name not in {"html", "text", "pdf", "body", "recipient"}]
    return (
        await Letter.select(*columns)
        .where((Letter.kommune_code == kommune_code) & _replies())
        .order_by(Letter.created_at, ascending=False)
        .limit(limit)
        .run()
    )


def _claimable(now: dt.datetime) -> Any:
    # Due and queued, or "sending" by a worker whose lease ran out (it crashed or hung): that letter may already
    # have been accepted by the relay, so it goes again with the same Message-ID.
    return ((Letter.status == "queued") & (Letter.next_attempt_at <= now)) | (
        (Letter.status == "sending") & (Letter.lease_until < now)
    )


async def due(now: dt.datetime, limit: int) -> list[int]:
    rows = (
        await Letter.select(Letter._meta.primary_key)
        .where(_claimable(utc(now)))
        .order_by(Letter.next_attempt_at)
        .limit(limit)
        .run()
    )
    return [row["id"] for row in rows]


async def claim(row_id: int, owner: str, now: dt.datetime, lease_until: dt.datetime) -> dict[str, Any] | None:
    """Take the letter for ``owner`` until ``lease_until``, if it is still claimable. One conditional UPDATE: of
    two workers racing for the same row, the database lets exactly one match (PostgreSQL re-checks the condition
    on the locked row; SQLite has one writer at a time), so a letter is never held by two workers at once."""
    now = utc(now)
    values: dict[Column | str, Any] = {
        Letter.status: "sending",
        Letter.lease_owner: owner,
        Letter.lease_until: utc(lease_until),
        Letter.attempts: Letter.attempts + 1,
    }
    claimed = (
        await Letter.update(values)
        .where((Letter._meta.primary_key == row_id) & _claimable(now))
        .returning(Letter._meta.primary_key)
        .run()
    )
    if not claimed:
        return None
    return await Letter.select().where(Letter._meta.primary_key == row_id).first().run()


async def claim_many(
    row_ids: list[int], owner: str, now: dt.datetime, lease_until: dt.datetime
) -> list[dict[str, Any]]:
    """:func:`claim` for a batch in one statement: the rows of ``row_ids`` that are still claimable are taken for
    ``owner``, atomically (the same conditional UPDATE, so a row another worker took meanwhile is left out), and
    returned in full. One round trip per batch instead of two per letter."""
    if not row_ids:
        return []
    values: dict[Column | str, Any] = {
        Letter.status: "sending",
        Letter.lease_owner: owner,
        Letter.lease_until: utc(lease_until),
        Letter.attempts: Letter.attempts + 1,
    }
    claimed: list[dict[str, Any]] = (
        await Letter.update(values)
        .where(Letter._meta.primary_key.is_in(row_ids) & _claimable(utc(now)))
        .returning(*Letter._meta.columns)
        .run()
    )
    order = {row_id: index for index, row_id in enumerate(row_ids)}
    return sorted(claimed, key=lambda row: order[row["id"]])


async def mark_sent(row_id: int, owner: str, now: dt.datetime) -> None:
    """Record the relay's acceptance and drop the rendered e-mail (it is no longer needed to deliver it)."""
    values: dict[Column | str, Any] = {
        Letter.status: "sent",
        Letter.sent_at: utc(now),
        Letter.lease_owner: "",
        Letter.lease_until: None,
        Letter.last_error: "",
        Letter.html: None,
        Letter.pdf: None,
    }
    # Whoever delivered it records it, even if its lease ran out meanwhile: the letter *was* accepted.
    await Letter.update(values).where((Letter._meta.primary_key == row_id) & (Letter.status != "sent")).run()


async def mark_retry(row_id: int, owner: str, next_attempt: dt.datetime, reason: str) -> None:
    values: dict[Column | str, Any] = {
        Letter.status: "queued",
        Letter.next_attempt_at: utc(next_attempt),
        Letter.lease_owner: "",
        Letter.lease_until: None,
        Letter.last_error: reason[:500],
    }
    await (
        Letter.update(values)
        .where((Letter._meta.primary_key == row_id) & (Letter.status == "sending") & (Letter.lease_owner == owner))
        .run()
    )


async def mark_failed(row_id: int, owner: str, reason: str) -> None:
    values: dict[Column | str, Any] = {
        Letter.status: "failed",
        Letter.lease_owner: "",
        Letter.lease_until: None,
        Letter.last_error: reason[:500],
        Letter.html: None,
        Letter.pdf: None,
    }
    await (
        Letter.update(values)
        .where((Letter._meta.primary_key == row_id) & (Letter.status == "sending") & (Letter.lease_owner == owner))
        .run()
    )


# -- retention ------------------------------------------------------------------------------------------------


def _holds_personal_data() -> Any:
    return (
        (Letter.recipient != "")
        | (Letter.body != "")
        | (Letter.subject != "")
        | Letter.html.is_not_null()
        | Letter.text.is_not_null()
        | Letter.pdf.is_not_null()
    )


def _not_in_flight(now: dt.datetime) -> Any:
    # A letter a worker holds right now is being handed to the relay from the copy it read: erasing it under the
    # worker would leave a failed attempt queued again with no address. The next pass takes it.
    return (Letter.status != "sending") | Letter.lease_until.is_null() | (Letter.lease_until < utc(now))


def _past_retention(cutoffs: RetentionCutoffs, now: dt.datetime) -> Any:
    """Written before its kommune's cutoff (one condition per distinct retention), not held by a worker, and still
    holding personal data: the address, the agent's text or subject, or the rendered e-mail."""
    due: Any = Letter.created_at < utc(cutoffs.other)
    if cutoffs.known:
        due = Letter.kommune_code.not_in(list(cutoffs.known)) & due
    for cutoff, codes in cutoffs.groups:
        due = due | (Letter.kommune_code.is_in(list(codes)) & (Letter.created_at < utc(cutoff)))
    return due & _not_in_flight(now) & _holds_personal_data()


async def personal_data_past(cutoffs: RetentionCutoffs, now: dt.datetime) -> bool:
    """Whether any letter past its kommune's retention still holds personal data (one EXISTS)."""
    return bool(await Letter.exists().where(_past_retention(cutoffs, now)).run())


async def ids_past_retention(cutoffs: RetentionCutoffs, now: dt.datetime, limit: int) -> list[int]:
    rows = (
        await Letter.select(Letter._meta.primary_key)
        .where(_past_retention(cutoffs, now))
        .order_by(Letter._meta.primary_key)
        .limit(limit)
        .run()
    )
    return [row["id"] for row in rows]


async def give_up_unsent(row_ids: list[int], now: dt.datetime, reason: str) -> None:
    """Mark as failed those of ``row_ids`` still waiting to be sent (queued, or held by a worker whose lease ran
    out): their address is about to be erased."""
    if not row_ids:
        return
    values: dict[Column | str, Any] = {
        Letter.status: "failed",
        Letter.lease_owner: "",
        Letter.lease_until: None,
        Letter.last_error: reason[:500],
    }
    waiting = (Letter.status == "queued") | ((Letter.status == "sending") & (Letter.lease_until < utc(now)))
    await Letter.update(values).where(Letter._meta.primary_key.is_in(row_ids) & waiting).run()


async def anonymise(row_ids: list[int], now: dt.datetime) -> list[str]:
    """Erase the personal data of these letters (address, subject, text, rendered e-mail) and keep what the
    figures count; returns the kommune code of each letter changed. Rows that hold none any more (another process
    swept them meanwhile) or that a worker took meanwhile are left untouched."""
    if not row_ids:
        return []
    values: dict[Column | str, Any] = {
        Letter.recipient: "",
        Letter.subject: "",
        Letter.body: "",
        Letter.html: None,
        Letter.text: None,
        Letter.pdf: None,
    }
    rows = (
        await Letter.update(values)
        .where(Letter._meta.primary_key.is_in(row_ids) & _not_in_flight(now) & _holds_personal_data())
        .returning(Letter.kommune_code)
        .run()
    )
    return [row["kommune_code"] for row in rows]

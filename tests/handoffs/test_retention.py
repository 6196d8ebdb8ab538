"""Retention of hand-offs: once a hand-off has been closed for longer than its kommune's ``retention_days`` it
loses the citizen's contact, the description and the kommune's notes (on the row and in its history) and keeps
what the figures count; an open or acknowledged hand-off keeps them however old; a second sweep writes nothing."""

from __future__ import annotations

import datetime as dt
from typing import Any

import pytest

from hotline.config import NatsSettings
from hotline.handoffs import repository, service
from hotline.handoffs.publisher import HandOffsRuntime
from hotline.handoffs.tables import HandOff, HandOffUpdate
from hotline.server.nats import NatsConnection
from tests.fixtures.databases import Database

NOW = dt.datetime(2026, 11, 25, 18, 0, tzinfo=dt.UTC)
MINUTE = dt.timedelta(minutes=1)
# Aarhus keeps contact data 30 days, Horsens 90 (tenants/*/kommune.toml).
AARHUS_DAYS = dt.timedelta(days=30)
HORSENS_DAYS = dt.timedelta(days=90)
ERASED = {"citizen_email": "", "citizen_phone": "", "description": "", "status_notes": ""}


async def handoff(kommune: str, created: dt.datetime, closed: dt.datetime | None) -> str:
    made = await service.create_handoff(
        call_id=f"call-{kommune}-{created:%m%d%H%M}",
        kommune_code=kommune,
        topic="storskrald",
        description="Jens Hansen, Vestergade 12: storskrald blev ikke hentet.",
        citizen_email="jens@example.org",
        citizen_phone="+45 20 12 34 56",
        created_by="agent|1",
        now=created,
    )
    if closed is not None:
        for status, note, at in (
            ("acknowledged", "Vi ringer til Jens på 20123456", closed - dt.timedelta(hours=1)),
            ("closed", "Hentet hos Jens Hansen", closed),
        ):
            await service.update_status(
                kommune_code=kommune,
                handoff_id=made.handoff_id,
                status=status,
                note=note,
                source="admin",
                actor="admin|1",
                now=at,
            )
    return made.handoff_id


async def rows() -> dict[str, dict[str, Any]]:
    return {row["handoff_id"]: row for row in await HandOff.select().run()}


async def notes() -> dict[str, list[str]]:
    found: dict[str, list[str]] = {}
    for row in await HandOffUpdate.select().order_by(HandOffUpdate._meta.primary_key).run():
        found.setdefault(row["handoff_id"], []).append(row["note"])
    return found


def closed_at(days: dt.timedelta, offset: dt.timedelta) -> tuple[dt.datetime, dt.datetime]:
    """(created, closed) for a hand-off closed ``days`` + ``offset`` before NOW."""
    closed = NOW - days - offset
    return closed - dt.timedelta(days=3), closed


async def test_closed_handoffs_past_their_kommunes_retention_lose_the_personal_data_and_keep_the_rest(
    demo_federation: Database,
) -> None:
    aarhus_old = await handoff("0751", *closed_at(AARHUS_DAYS, MINUTE))
    aarhus_recent = await handoff("0751", *closed_at(AARHUS_DAYS, -MINUTE))
    horsens_month = await handoff("0615", *closed_at(AARHUS_DAYS, MINUTE))
    horsens_old = await handoff("0615", *closed_at(HORSENS_DAYS, MINUTE))
    before, notes_before = await rows(), await notes()
    assert notes_before[aarhus_old] == ["", "Vi ringer til Jens på 20123456", "Hentet hos Jens Hansen"]

    assert await service.retention_sweep(NOW) == {"0751": 1, "0615": 1}

    after, notes_after = await rows(), await notes()
    for handoff_id in (aarhus_old, horsens_old):
        # kommune, department, topic, call, times, status, escalation and who made it are as they were.
        assert after[handoff_id] == {**before[handoff_id], **ERASED}
        assert notes_after[handoff_id] == ["", "", ""]
    for handoff_id in (aarhus_recent, horsens_month):
        assert after[handoff_id] == before[handoff_id]
        assert notes_after[handoff_id] == notes_before[handoff_id]


async def test_an_open_or_acknowledged_handoff_keeps_its_contact_however_old(demo_federation: Database) -> None:
    long_ago = NOW - dt.timedelta(days=400)
    still_open = await handoff("0751", long_ago, None)
    acknowledged = await handoff("0751", long_ago, None)
    await service.update_status(
        kommune_code="0751",
        handoff_id=acknowledged,
        status="acknowledged",
        note="Vi ringer til Jens",
        source="admin",
        actor="admin|1",
        now=long_ago + dt.timedelta(days=1),
    )
    before = await rows()
    assert await service.retention_sweep(NOW) == {}
    assert await rows() == before
    assert before[still_open]["citizen_email"] == "jens@example.org"


async def test_a_second_sweep_finds_nothing_and_writes_nothing(
    demo_federation: Database, monkeypatch: pytest.MonkeyPatch
) -> None:
    await handoff("0751", *closed_at(AARHUS_DAYS, MINUTE))
    assert await service.retention_sweep(NOW) == {"0751": 1}
    before, notes_before = await rows(), await notes()

    async def no_writing(*args: Any, **kwargs: Any) -> list[dict[str, str]]:
        raise AssertionError("the sweep wrote although nothing was due")

    monkeypatch.setattr(repository, "anonymise", no_writing)
    assert await service.retention_sweep(NOW) == {}
    assert await service.retention_sweep(NOW + dt.timedelta(days=1)) == {}
    assert (await rows(), await notes()) == (before, notes_before)


async def test_a_long_history_is_anonymised_in_bounded_batches(demo_federation: Database) -> None:
    made = [await handoff("0751", *closed_at(AARHUS_DAYS, (index + 1) * MINUTE)) for index in range(5)]
    assert await service.retention_sweep(NOW, batch=2) == {"0751": 5}
    after = await rows()
    assert all(after[handoff_id]["citizen_email"] == "" for handoff_id in made)


async def test_the_runtimes_periodic_sweep_applies_each_kommunes_retention(demo_federation: Database) -> None:
    aarhus_old = await handoff("0751", *closed_at(AARHUS_DAYS, MINUTE))
    horsens_month = await handoff("0615", *closed_at(AARHUS_DAYS, MINUTE))
    # Never started: the sweep needs the database only.
    runtime = HandOffsRuntime(NatsConnection(NatsSettings(), servers=[]), clock=lambda: NOW)
    assert await runtime.sweep() == {"escalated": 0, "cleared": 1}
    after = await rows()
    assert (after[aarhus_old]["citizen_email"], after[horsens_month]["citizen_email"]) == ("", "jens@example.org")

"""After the hand-off: status changes and the citizen's e-mails (queued exactly once per transition), escalation
of overdue hand-offs (retention is in test_retention.py)."""

from __future__ import annotations

import datetime as dt
from zoneinfo import ZoneInfo

import pytest

from hotline.handoffs import repository, service
from hotline.handoffs.tables import HandOffOutbox, HandOffUpdate
from hotline.letters.rendering import Renderer
from hotline.letters.tables import Letter
from tests.fixtures.databases import Database

CPH = ZoneInfo("Europe/Copenhagen")
EVENING = dt.datetime(2026, 11, 25, 19, 30, tzinfo=CPH)  # due Thursday 26 November 09:00
NEXT_MORNING = dt.datetime(2026, 11, 26, 10, 0, tzinfo=CPH)


async def make(email: str = "borger@example.org", now: dt.datetime = EVENING) -> str:
    handoff = await service.create_handoff(
        call_id="call-1",
        kommune_code="0751",
        topic="storskrald",
        description="Storskrald ikke hentet",
        citizen_email=email,
        created_by="agent|1",
        now=now,
    )
    return handoff.handoff_id


async def change(handoff_id: str, status: str, renderer: Renderer | None, note: str = "") -> tuple[str, bool]:
    handoff, mailed = await service.update_status(
        kommune_code="0751",
        handoff_id=handoff_id,
        status=status,
        note=note,
        source="admin",
        actor="admin|1",
        now=NEXT_MORNING,
        renderer=renderer,
    )
    return handoff.status, mailed


async def test_the_citizen_gets_one_email_per_transition(demo_federation: Database, renderer: Renderer) -> None:
    handoff_id = await make()
    assert await change(handoff_id, "acknowledged", renderer, "Vi kigger på det") == ("acknowledged", True)
    assert await change(handoff_id, "acknowledged", renderer, "Stadig i gang") == ("acknowledged", False)
    assert await change(handoff_id, "closed", renderer, "Hentet") == ("closed", True)
    letters = await Letter.select(Letter.template, Letter.recipient, Letter.subject).order_by(Letter.id).run()
    assert [(row["template"], row["recipient"]) for row in letters] == [
        ("handoff_received", "borger@example.org"),
        ("handoff_done", "borger@example.org"),
    ]
    assert "Aarhus Kommune" in letters[0]["subject"]
    row = await repository.handoff(handoff_id)
    assert row is not None
    assert repository.aware(row["citizen_informed_at"]) == NEXT_MORNING
    assert row["status_notes"] == "Hentet"
    history = await service.history(handoff_id)
    assert [(entry.status, entry.note) for entry in history] == [
        ("open", ""),
        ("acknowledged", "Vi kigger på det"),
        ("acknowledged", "Stadig i gang"),
        ("closed", "Hentet"),
    ]
    subjects = [
        r["subject"] for r in await HandOffOutbox.select(HandOffOutbox.subject).order_by(HandOffOutbox.id).run()
    ]
    assert subjects == ["handoffs.0751.created"] + ["handoffs.0751.updated"] * 3


async def test_without_an_email_address_no_letter_is_queued(demo_federation: Database, renderer: Renderer) -> None:
    handoff_id = await make(email="")
    assert await change(handoff_id, "closed", renderer) == ("closed", False)
    assert await Letter.count().run() == 0


@pytest.mark.parametrize(
    ("path", "status", "field"),
    [
        (("closed",), "open", "status"),
        (("closed",), "acknowledged", "status"),
        (("acknowledged",), "open", "status"),
        ((), "reopened", "status"),
    ],
)
async def test_refused_status_changes_name_the_field_and_change_nothing(
    demo_federation: Database, path: tuple[str, ...], status: str, field: str
) -> None:
    handoff_id = await make()
    for step in path:
        await change(handoff_id, step, None)
    before = (await HandOffUpdate.count().run(), await HandOffOutbox.count().run())
    with pytest.raises(service.HandOffError) as refused:
        await change(handoff_id, status, None)
    assert refused.value.field == field
    assert (await HandOffUpdate.count().run(), await HandOffOutbox.count().run()) == before


async def test_a_note_with_a_cpr_number_is_masked(demo_federation: Database) -> None:
    handoff_id = await make()
    await change(handoff_id, "acknowledged", None, "Borger 010190-1234 ringet op")
    row = await repository.handoff(handoff_id)
    assert row is not None
    assert "010190-1234" not in row["status_notes"]
    assert all("010190-1234" not in entry.note for entry in await service.history(handoff_id))


async def test_escalation_marks_open_handoffs_past_due_once(demo_federation: Database) -> None:
    overdue = await make()
    acknowledged = await make()
    await change(acknowledged, "acknowledged", None)
    later = await make(now=dt.datetime(2026, 11, 26, 19, 0, tzinfo=CPH))  # due Friday morning

    assert await service.escalation_sweep(dt.datetime(2026, 11, 26, 8, 59, tzinfo=CPH)) == []
    swept = await service.escalation_sweep(dt.datetime(2026, 11, 26, 9, 30, tzinfo=CPH))
    assert [h.handoff_id for h in swept] == [overdue]
    assert swept[0].overdue
    assert await service.escalation_sweep(dt.datetime(2026, 11, 26, 9, 45, tzinfo=CPH)) == []
    escalated = await HandOffOutbox.select().where(HandOffOutbox.subject == "handoffs.0751.escalated").run()
    assert [row["handoff_id"] for row in escalated] == [overdue]

    listed = await service.list_handoffs(None, dt.datetime(2026, 11, 26, 9, 45, tzinfo=CPH), overdue_only=True)
    assert [h.handoff_id for h in listed] == [overdue]
    assert later not in {h.handoff_id for h in listed}
    row = await repository.handoff(overdue)
    assert row is not None
    assert repository.aware(row["escalated_at"]) == dt.datetime(2026, 11, 26, 9, 30, tzinfo=CPH)

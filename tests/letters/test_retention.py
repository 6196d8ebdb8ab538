"""Retention of letters: past its kommune's ``retention_days`` a letter loses the citizen's address, the subject,
the agent's text and the rendered e-mail, and keeps what the figures count; each kommune's own retention
applies; a second sweep writes nothing; a letter still waiting is given up rather than sent to no one."""

from __future__ import annotations

import datetime as dt
from typing import Any

import pytest

from hotline.letters import repository, service
from hotline.letters.rendering import Renderer
from hotline.letters.schemas import LetterDraft
from hotline.letters.tables import Letter
from hotline.tenancy.service import NO_KOMMUNE_RETENTION_DAYS
from tests.fixtures.databases import Database

NOW = dt.datetime(2026, 11, 25, 18, 0, tzinfo=dt.UTC)
MINUTE = dt.timedelta(minutes=1)
# Aarhus keeps contact data 30 days, Odder 90 (tenants/*/kommune.toml).
AARHUS_DAYS = dt.timedelta(days=30)
ODDER_DAYS = dt.timedelta(days=90)
PERSONAL = ("recipient", "subject", "body", "html", "text", "pdf")
ERASED: dict[str, Any] = {"recipient": "", "subject": "", "body": "", "html": None, "text": None, "pdf": None}


def draft(recipient: str) -> LetterDraft:
    return LetterDraft(
        recipient=recipient,
        template="flytning",
        subject="Flytning for Jens Hansen, Vestergade 12",
        text="Kære Jens Hansen\n\nDu melder flytning på https://www.borger.dk",
        topic="flytning",
        call_id="call-1",
    )


async def write(renderer: Renderer, kommune: str, created: dt.datetime, *, sent: bool = True) -> str:
    letter = await service.send(
        kommune, draft(f"jens.{created:%m%d%H%M}@example.org"), renderer, now=created, created_by="t"
    )
    if sent:
        row = await repository.letter(letter.letter_id)
        assert row is not None
        await repository.mark_sent(row["id"], "test", created + dt.timedelta(minutes=5))
    return letter.letter_id


async def rows() -> dict[str, dict[str, Any]]:
    return {row["letter_id"]: row for row in await Letter.select().run()}


async def test_letters_past_their_kommunes_retention_lose_the_personal_data_and_keep_what_is_counted(
    kommuner: Database, renderer: Renderer
) -> None:
    aarhus_old = await write(renderer, "0751", NOW - AARHUS_DAYS - MINUTE)
    aarhus_recent = await write(renderer, "0751", NOW - AARHUS_DAYS + MINUTE)
    odder_month = await write(renderer, "0727", NOW - AARHUS_DAYS - MINUTE)
    odder_old = await write(renderer, "0727", NOW - ODDER_DAYS - MINUTE)
    before = await rows()
    assert all(before[letter_id]["recipient"] and before[letter_id]["body"] for letter_id in before)

    assert await service.retention_sweep(NOW) == {"0751": 1, "0727": 1}

    after = await rows()
    for letter_id in (aarhus_old, odder_old):
        # Only the personal fields changed: kommune, topic, call, template, language, sender, written, sent,
        # status and message id are as they were.
        assert after[letter_id] == {**before[letter_id], **ERASED}
        assert after[letter_id]["status"] == "sent"
        assert after[letter_id]["sent_at"] is not None
    for letter_id in (aarhus_recent, odder_month):
        assert after[letter_id] == before[letter_id]
    assert await Letter.count().run() == 4  # anonymised, never deleted


async def test_a_second_sweep_finds_nothing_and_writes_nothing(
    kommuner: Database, renderer: Renderer, monkeypatch: pytest.MonkeyPatch
) -> None:
    await write(renderer, "0751", NOW - AARHUS_DAYS - MINUTE)
    assert await service.retention_sweep(NOW) == {"0751": 1}
    before = await rows()

    async def no_writing(*args: Any, **kwargs: Any) -> list[str]:
        raise AssertionError("the sweep wrote although nothing was due")

    monkeypatch.setattr(repository, "anonymise", no_writing)
    monkeypatch.setattr(repository, "give_up_unsent", no_writing)
    assert await service.retention_sweep(NOW) == {}
    assert await service.retention_sweep(NOW + dt.timedelta(days=1)) == {}
    assert await rows() == before


async def test_a_letter_still_waiting_past_the_retention_is_given_up_not_sent_to_no_one(
    kommuner: Database, renderer: Renderer
) -> None:
    waiting = await write(renderer, "0751", NOW - AARHUS_DAYS - MINUTE, sent=False)
    fresh = await write(renderer, "0751", NOW - dt.timedelta(days=1), sent=False)
    assert await service.retention_sweep(NOW) == {"0751": 1}
    after = await rows()
    assert (after[waiting]["status"], after[waiting]["last_error"]) == ("failed", service.GIVEN_UP)
    assert after[waiting]["sent_at"] is None
    assert {field: after[waiting][field] for field in PERSONAL} == ERASED
    assert after[fresh]["status"] == "queued"
    assert after[fresh]["recipient"]
    assert await repository.due(NOW, 10) == [after[fresh]["id"]]  # the worker will not pick the erased one


async def test_a_letter_a_worker_is_sending_right_now_is_left_to_the_next_pass(
    kommuner: Database, renderer: Renderer
) -> None:
    held = await write(renderer, "0751", NOW - AARHUS_DAYS - MINUTE, sent=False)
    row = await repository.letter(held)
    assert row is not None
    # A worker claimed it a minute ago and is handing it to the relay from the copy it read.
    claimed = await repository.claim_many([row["id"]], "worker-1", NOW - MINUTE, NOW + MINUTE)
    assert [letter["recipient"] for letter in claimed] == [row["recipient"]]
    assert await service.retention_sweep(NOW) == {}
    assert (await rows())[held] == {
        **row,
        **{key: claimed[0][key] for key in ("status", "attempts", "lease_owner", "lease_until")},
    }
    # The relay refused it for now: back in the queue, with its address. The next pass gives it up and erases it.
    await repository.mark_retry(row["id"], "worker-1", NOW + dt.timedelta(hours=1), "attempt 1: SMTPServerDisconnected")
    assert await service.retention_sweep(NOW) == {"0751": 1}
    after = (await rows())[held]
    assert (after["status"], after["last_error"]) == ("failed", service.GIVEN_UP)
    assert {field: after[field] for field in PERSONAL} == ERASED


async def test_a_long_history_is_anonymised_in_bounded_batches(kommuner: Database, renderer: Renderer) -> None:
    old = [await write(renderer, "0751", NOW - AARHUS_DAYS - (index + 1) * MINUTE) for index in range(5)]
    assert await service.retention_sweep(NOW, batch=2) == {"0751": 5}
    after = await rows()
    assert all(after[letter_id]["recipient"] == "" for letter_id in old)


async def test_a_letter_of_a_code_without_a_kommune_is_kept_the_default_retention(
    kommuner: Database, renderer: Renderer
) -> None:
    default = dt.timedelta(days=NO_KOMMUNE_RETENTION_DAYS)
    kept = await write(renderer, "0751", NOW - default + MINUTE)
    erased = await write(renderer, "0751", NOW - default - MINUTE)
    # Letters of a kommune since removed from the federation (no kommune row for 0999): the default retention.
    for letter_id in (kept, erased):
        await Letter.update({Letter.kommune_code: "0999"}).where(Letter.letter_id == letter_id).run()
    assert await service.retention_sweep(NOW) == {"0999": 1}
    after = await rows()
    assert (after[kept]["recipient"] != "", after[erased]["recipient"]) == (True, "")

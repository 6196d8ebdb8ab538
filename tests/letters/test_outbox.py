"""The outbox: a letter is written with its delivery in the caller's transaction, delivered by the worker to a
real SMTP server, retried on temporary failures, marked on permanent ones, and sent exactly once per Message-ID
except in the one window SMTP cannot close (relay accepted, worker died before recording it), where the
duplicate carries the same Message-ID."""

from __future__ import annotations

import asyncio
import dataclasses
import datetime as dt
import email
from email.policy import default

import pytest

from hotline.letters import repository, service
from hotline.letters.rendering import Renderer
from hotline.letters.schemas import LetterDraft
from hotline.letters.tables import Letter
from hotline.letters.worker import OutboxWorker, WorkerConfig
from tests.fixtures.databases import Database
from tests.fixtures.letters import SmtpServer

FAST = WorkerConfig(
    batch_size=25,
    poll_interval=0.02,
    base_delay=dt.timedelta(milliseconds=20),
    max_delay=dt.timedelta(milliseconds=200),
    smtp_timeout=5.0,
)


def draft(
    recipient: str = "borger@example.org", text: str = "Du melder flytning på https://www.borger.dk"
) -> LetterDraft:
    return LetterDraft(recipient=recipient, template="flytning", subject="Flytning", text=text, topic="flytning")


def now() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


async def queue(renderer: Renderer, count: int = 1, kommune: str = "0751") -> list[str]:
    ids = []
    for index in range(count):
        letter = await service.send(kommune, draft(f"borger{index}@example.org"), renderer, now=now(), created_by="t")
        ids.append(letter.letter_id)
    return ids


async def drain(worker: OutboxWorker, until: int, server: SmtpServer, within: float = 60) -> None:
    async def loop() -> None:
        while (
            sum(server.handler.message_ids.values()) < until
            or await Letter.count().where(Letter.status != "sent").run()
        ):
            await worker.run_once()
            await asyncio.sleep(0.01)

    await asyncio.wait_for(loop(), within)


async def test_a_sent_letter_arrives_once_with_its_pdf_and_the_kommune_as_sender(
    kommuner: Database, renderer: Renderer, smtp_server: SmtpServer
) -> None:
    [letter_id] = await queue(renderer)
    row = await repository.letter(letter_id)
    assert row is not None
    assert row["status"] == "queued"
    assert row["pdf"]
    worker = OutboxWorker(smtp_server.settings, config=FAST)
    assert await worker.run_once() == 1
    row = await repository.letter(letter_id)
    assert row is not None
    assert row["status"] == "sent"
    assert row["sent_at"] is not None
    assert row["attempts"] == 1
    assert row["pdf"] is None
    assert row["html"] is None
    [raw] = smtp_server.handler.messages
    message = email.message_from_bytes(raw, policy=default)
    assert message["Message-ID"] == row["message_id"] == f"<letter-{letter_id}@aarhus.kommune.example>"
    assert message["From"].addresses[0].display_name == "Aarhus Kommune"
    assert message["From"].addresses[0].addr_spec == "borgerservice@aarhus.kommune.example"
    assert message["Reply-To"] == "borgerservice@aarhus.kommune.example"
    assert message["To"] == "borger0@example.org"
    kinds = [part.get_content_type() for part in message.walk()]
    assert kinds == ["multipart/mixed", "multipart/alternative", "text/plain", "text/html", "application/pdf"]
    assert "Aarhus Kommune" in message.get_body(preferencelist=("plain",)).get_content()
    assert smtp_server.handler.message_ids[row["message_id"]] == 1
    assert await worker.run_once() == 0  # nothing left: a sent letter is never claimed again


async def test_batches_sent_one_after_another_share_one_smtp_connection_until_it_idles(
    kommuner: Database, renderer: Renderer, smtp_server: SmtpServer
) -> None:
    # Agents press send one at a time: each letter is a batch of one. They share the worker's connection.
    worker = OutboxWorker(smtp_server.settings, config=FAST)
    try:
        for _ in range(3):
            await queue(renderer)
            assert await worker.run_once() == 1
        assert sum(smtp_server.handler.message_ids.values()) == 3
        assert smtp_server.handler.greetings == 1
        # A connection the relay dropped meanwhile is noticed (NOOP) and replaced, and the letter still goes.
        smtp_server.stop()
        smtp_server.start()
        await queue(renderer)
        assert await worker.run_once() == 1
        assert sum(smtp_server.handler.message_ids.values()) == 4
        assert smtp_server.handler.greetings == 2
        # Kept no longer than keep_connection: after that a batch opens a fresh one.
        idle = OutboxWorker(smtp_server.settings, config=dataclasses.replace(FAST, keep_connection=0.0))
        for _ in range(2):
            await queue(renderer)
            assert await idle.run_once() == 1
        assert smtp_server.handler.greetings == 4
        assert idle._client is None  # nothing held open
    finally:
        await worker.stop()
    assert worker._client is None
    statuses = {row["status"] for row in await Letter.select(Letter.status).run()}
    assert statuses == {"sent"}


async def test_the_letter_is_written_in_the_callers_transaction(kommuner: Database, renderer: Renderer) -> None:
    prepared = await service.prepare("0751", draft(), renderer, now=now(), created_by="t")

    class CaseFailed(Exception):
        pass

    async def letter_then_failing_case() -> None:
        async with repository.transaction():
            await service.enqueue(prepared)
            raise CaseFailed  # e.g. the calls area's case write fails: the letter must not be sent either

    with pytest.raises(CaseFailed):
        await letter_then_failing_case()
    assert await Letter.count().run() == 0
    async with repository.transaction():
        await service.enqueue(prepared)
    assert await Letter.count().run() == 1


async def test_a_permanent_refusal_marks_the_letter_failed_with_the_reason(
    kommuner: Database, renderer: Renderer, smtp_server: SmtpServer
) -> None:
    smtp_server.handler.answer = lambda address: "550 5.1.1 mailbox unavailable" if "0@" in address else None
    ids = await queue(renderer, 2)
    worker = OutboxWorker(smtp_server.settings, config=FAST)
    await worker.run_once()
    failed = await service.letter_status("0751", ids[0])
    assert failed.status == "failed"
    assert "550" in failed.last_error
    assert "borger" not in failed.last_error  # the reason never carries the address
    assert (await service.letter_status("0751", ids[1])).status == "sent"  # one refusal does not stop the batch


async def test_a_temporary_refusal_is_retried_with_backoff_until_it_is_accepted(
    kommuner: Database, renderer: Renderer, smtp_server: SmtpServer
) -> None:
    refusals = iter(["451 4.3.0 try again later", "452 4.2.2 mailbox full"])
    smtp_server.handler.answer = lambda _address: next(refusals, None)
    [letter_id] = await queue(renderer)
    worker = OutboxWorker(smtp_server.settings, config=FAST)
    await worker.run_once()
    first = await repository.letter(letter_id)
    assert first is not None
    assert first["status"] == "queued"
    assert "451" in first["last_error"]
    assert repository.aware(first["next_attempt_at"]) > repository.aware(first["created_at"])
    await drain(worker, 1, smtp_server)
    done = await service.letter_status("0751", letter_id)
    assert done.status == "sent"
    assert done.attempts == 3
    assert sum(smtp_server.handler.message_ids.values()) == 1


async def test_two_workers_racing_for_one_letter_never_both_claim_it(kommuner: Database, renderer: Renderer) -> None:
    [letter_id] = await queue(renderer)
    row = await repository.letter(letter_id)
    assert row is not None
    moment = now()
    results = await asyncio.gather(
        *(repository.claim(row["id"], f"w{i}", moment, moment + dt.timedelta(minutes=1)) for i in range(8))
    )
    winners = [result for result in results if result is not None]
    assert len(winners) == 1
    assert winners[0]["status"] == "sending"
    assert await repository.claim(row["id"], "late", moment, moment + dt.timedelta(minutes=1)) is None


async def test_500_letters_queued_during_an_outage_are_all_delivered_exactly_once(
    kommuner: Database, renderer: Renderer, smtp_server: SmtpServer
) -> None:
    smtp_server.stop()  # the relay is down: connections are refused
    renders_before = renderer.pdf.renders
    # Queued as a burst of agents' sends would be, but written in one transaction: the test is about delivery,
    # and 500 separate commits only add fsyncs (each letter is still checked, rendered and prepared on its own).
    prepared = [
        await service.prepare("0751", draft(f"borger{index}@example.org"), renderer, now=now(), created_by="t")
        for index in range(500)
    ]
    async with repository.transaction():
        for letter in prepared:
            await service.enqueue(letter)
    # The same letter to 500 people is rendered once (identical HTML): the cache, not 500 PDFs.
    assert renderer.pdf.renders - renders_before <= 1
    workers = [OutboxWorker(smtp_server.settings, config=FAST, owner=f"w{i}") for i in range(2)]
    for worker in workers:
        await worker.run_once()
    queued = await Letter.select(Letter.status, Letter.last_error, Letter.attempts).run()
    assert {row["status"] for row in queued} == {"queued"}
    tried = [row for row in queued if row["attempts"]]
    assert len(tried) == 2 * FAST.batch_size
    assert all("attempt 1: SMTPConnect" in row["last_error"] for row in tried), tried[0]["last_error"]
    smtp_server.start()
    for worker in workers:
        worker.start()  # two workers, as two app processes would run
    try:
        pending = 500
        for _ in range(4_800):  # at most four minutes
            pending = await Letter.count().where(Letter.status != "sent").run()
            if not pending:
                break
            await asyncio.sleep(0.05)
        assert pending == 0
    finally:
        for worker in workers:
            await worker.stop()
    ids = smtp_server.handler.message_ids
    assert len(ids) == 500
    assert set(ids.values()) == {1}
    stored = {row["message_id"] for row in await Letter.select(Letter.message_id).run()}
    assert stored == set(ids)


async def test_a_worker_killed_after_the_relay_accepted_loses_nothing_and_resends_with_the_same_message_id(
    kommuner: Database, renderer: Renderer, smtp_server: SmtpServer
) -> None:
    ids = await queue(renderer, 3)
    lease = WorkerConfig(batch_size=10, lease=dt.timedelta(seconds=1), smtp_timeout=0.2, poll_interval=0.02)
    accepted = asyncio.Event()

    async def die_here(letter_id: str) -> None:
        if letter_id == ids[1]:
            accepted.set()
            await asyncio.Event().wait()  # hangs here until the task is cancelled: the "kill"

    doomed = OutboxWorker(smtp_server.settings, config=lease, owner="doomed", after_accepted=die_here)
    task = asyncio.create_task(doomed.run_once())
    await asyncio.wait_for(accepted.wait(), 30)
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    stuck = await repository.letter(ids[1])
    assert stuck is not None
    assert stuck["status"] == "sending"
    assert (await repository.letter(ids[2]) or {})["status"] == "sending"  # claimed, never tried

    survivor = OutboxWorker(smtp_server.settings, config=lease, owner="survivor")
    assert await survivor.run_once() == 0  # the dead worker's lease still holds: nobody takes its letters yet
    await asyncio.sleep(1.2)
    assert await survivor.run_once() == 2
    statuses = {letter_id: (await service.letter_status("0751", letter_id)).status for letter_id in ids}
    assert set(statuses.values()) == {"sent"}  # nothing lost
    by_letter = {letter_id: (await service.letter_status("0751", letter_id)).message_id for letter_id in ids}
    counts = smtp_server.handler.message_ids
    assert counts[by_letter[ids[0]]] == 1
    assert counts[by_letter[ids[2]]] == 1
    # The one letter caught in the window went twice, as SMTP allows no better, and both copies carry the
    # same Message-ID, so the recipient's mail system can show it once.
    assert counts[by_letter[ids[1]]] == 2
    copies = [m for m in smtp_server.handler.messages if by_letter[ids[1]].encode() in m]
    assert len(copies) == 2
    assert copies[0] == copies[1]

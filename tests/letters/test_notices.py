"""Notices to staff in the letters outbox: addressed and checked like a letter, delivered by the worker as text and
HTML without a PDF, and never shown as a kommune's letters (recent letters, the letter status API)."""

from __future__ import annotations

import dataclasses
import datetime as dt
import email
from email.message import EmailMessage
from email.policy import default

import pytest

from hotline.letters import service
from hotline.letters.rendering import Renderer
from hotline.letters.schemas import LetterDraft
from hotline.letters.worker import OutboxWorker, WorkerConfig
from tests.fixtures.databases import Database
from tests.fixtures.letters import SmtpServer

NOW = dt.datetime(2026, 11, 26, 15, 0, tzinfo=dt.UTC)


def notice(recipient: str = "afdeling@aarhus.kommune.example") -> service.Notice:
    return service.Notice(
        kind="handoff_overdue",
        kommune_code="0751",
        recipient=recipient,
        from_name="Den Fælleskommunale Aftenhotline",
        from_address="koordinator@aftenhotline.example",
        reply_to="koordinator@aftenhotline.example",
        subject="Overskredet: 1 henvendelse fra aftenhotlinen venter på Borgerservice",
        text="Reference: ab010190-1234-4abc-8def-0123456789ab\n",
        html="<p>Reference: ab010190-1234-4abc-8def-0123456789ab</p>",
    )


async def test_a_notice_is_delivered_without_a_pdf_and_is_not_a_kommune_letter(
    kommuner: Database, renderer: Renderer, smtp_server: SmtpServer
) -> None:
    reply = await service.send(
        "0751",
        LetterDraft(recipient="borger@example.org", template="svar", subject="Svar", text="Tak"),
        renderer,
        now=NOW,
        created_by="t",
    )
    prepared = service.prepare_notice(notice(), now=NOW, created_by="hotline:handoffs")
    await service.enqueue(prepared)

    assert [letter.letter_id for letter in await service.recent_letters("0751")] == [reply.letter_id]
    with pytest.raises(service.LetterError):
        await service.letter_status("0751", prepared.letter_id)

    worker = OutboxWorker(smtp_server.settings, clock=lambda: NOW, config=WorkerConfig(smtp_timeout=5.0))
    assert await worker.run_once() == 2
    await worker.close_connection()
    messages = [email.message_from_bytes(raw, policy=default) for raw in smtp_server.handler.messages]
    [sent] = [m for m in messages if str(m["To"]) == "afdeling@aarhus.kommune.example"]
    assert isinstance(sent, EmailMessage)
    assert sent.get_content_type() == "multipart/alternative"
    assert not list(sent.iter_attachments())
    assert str(sent["Subject"]) == "Overskredet: 1 henvendelse fra aftenhotlinen venter på Borgerservice"
    plain = sent.get_body(preferencelist=("plain",))
    assert plain is not None
    assert "ab010190-1234" in plain.get_content()  # type: ignore[attr-defined]
    [reply_mail] = [m for m in messages if str(m["To"]) == "borger@example.org"]
    assert isinstance(reply_mail, EmailMessage)
    assert [part.get_content_type() for part in reply_mail.iter_attachments()] == ["application/pdf"]


@pytest.mark.parametrize("recipient", ["", "not an address", "a@b.dk\r\nBcc: x@y.dk"])
def test_a_notice_to_no_address_is_refused(recipient: str) -> None:
    with pytest.raises(service.LetterError) as refused:
        service.prepare_notice(notice(recipient), now=NOW, created_by="t")
    assert refused.value.field == "recipient"


def test_a_notice_from_no_address_names_the_sender() -> None:
    bad = dataclasses.replace(notice(), from_address="")
    with pytest.raises(service.LetterError) as refused:
        service.prepare_notice(bad, now=NOW, created_by="t")
    assert refused.value.field == "sender"

"""Escalation notices: a sweep that escalates overdue hand-offs e-mails each department one notice listing its
newly escalated hand-offs and the coordinator one digest grouped by kommune, through the letters outbox and worker
to a real SMTP server; exactly once across sweeps and concurrent processes; no personal data in any of them; and
the figures do not count them as letters."""

from __future__ import annotations

import asyncio
import datetime as dt
import email
from email.message import EmailMessage
from email.policy import default
from typing import Any
from zoneinfo import ZoneInfo

import pytest

from hotline.config import NatsSettings
from hotline.figures import service as figures
from hotline.handoffs import notices, repository, service
from hotline.handoffs.publisher import HandOffsRuntime
from hotline.handoffs.tables import HandOff, HandOffOutbox
from hotline.letters.rendering import Renderer
from hotline.letters.tables import Letter
from hotline.letters.worker import OutboxWorker, WorkerConfig
from hotline.server.nats import NatsConnection
from hotline.tenancy import repository as tenancy_repository
from hotline.tenancy.tables import Department, Kommune
from tests.fixtures.databases import Database
from tests.fixtures.letters import SmtpServer

CPH = ZoneInfo("Europe/Copenhagen")
EVENING = dt.datetime(2026, 11, 25, 19, 30, tzinfo=CPH)  # Wednesday: due Thursday morning
SWEEP = dt.datetime(2026, 11, 26, 16, 0, tzinfo=CPH)
BASE_URL = "https://hotline.example"
COORDINATOR = "koordinator@aftenhotline.example"  # tenants/federation.toml
FEDERATION = "Den Fælleskommunale Aftenhotline"
CITIZEN_EMAIL = "karen.jensen@example.org"
CITIZEN_PHONE = "+45 20 12 34 56"
FAST = WorkerConfig(batch_size=25, poll_interval=0.02, smtp_timeout=5.0)

AARHUS_WASTE = "affald-og-genbrug@aarhus.kommune.example"
AARHUS_CITIZEN_SERVICE = "borgerservice@aarhus.kommune.example"
ROSKILDE_WASTE = "affald-og-genbrug@roskilde.kommune.example"


def description(n: int) -> str:
    return f"Karen Jensen, Vestergade {n}: sofaen blev ikke hentet"


async def handoff(kommune: str, topic: str, n: int) -> str:
    made = await service.create_handoff(
        call_id=f"call-{n}",
        kommune_code=kommune,
        topic=topic,
        description=description(n),
        citizen_email=CITIZEN_EMAIL,
        citizen_phone=CITIZEN_PHONE,
        created_by="agent|1",
        now=EVENING,
    )
    return made.handoff_id


async def overdue_handoffs() -> dict[str, list[str]]:
    """Two departments of Aarhus (two hand-offs for one) and one of Roskilde."""
    return {
        AARHUS_WASTE: [await handoff("0751", "storskrald", 1), await handoff("0751", "storskrald", 2)],
        AARHUS_CITIZEN_SERVICE: [await handoff("0751", "pas", 3)],
        ROSKILDE_WASTE: [await handoff("0265", "storskrald", 4)],
    }


def runtime(now: dt.datetime = SWEEP) -> HandOffsRuntime:
    """A process's hand-offs runtime, never started: the sweep needs the database only."""
    return HandOffsRuntime(NatsConnection(NatsSettings(), servers=[]), clock=lambda: now, base_url=BASE_URL)


async def deliver(smtp_server: SmtpServer, now: dt.datetime = SWEEP) -> list[bytes]:
    """Run the letters worker until nothing is waiting, and return what the SMTP server received."""
    worker = OutboxWorker(smtp_server.settings, clock=lambda: now, config=FAST)
    try:
        while await worker.run_once():
            pass
    finally:
        await worker.close_connection()
    assert await Letter.count().where(Letter.status != "sent").run() == 0
    return list(smtp_server.handler.messages)


def parsed(raw: bytes) -> EmailMessage:
    message = email.message_from_bytes(raw, policy=default)
    assert isinstance(message, EmailMessage)
    return message


def body(message: EmailMessage, kind: str) -> str:
    part = message.get_body(preferencelist=(kind,))
    assert part is not None
    content: str = part.get_content()  # type: ignore[attr-defined]
    return content


def by_recipient(raws: list[bytes]) -> dict[str, EmailMessage]:
    messages = [parsed(raw) for raw in raws]
    found = {str(m["To"]): m for m in messages}
    assert len(found) == len(messages), "two e-mails to the same recipient"
    return found


def assert_no_personal_data(raw: bytes, message: EmailMessage) -> None:
    decoded = body(message, "plain") + body(message, "html") + str(message["Subject"])
    for secret in (CITIZEN_EMAIL, CITIZEN_PHONE, "Karen", "Vestergade", "sofaen"):
        assert secret.encode() not in raw
        assert secret not in decoded


async def test_one_sweep_sends_one_notice_per_department_and_one_digest(
    demo_federation: Database, smtp_server: SmtpServer
) -> None:
    made = await overdue_handoffs()
    result = await runtime().sweep()
    assert result["escalated"] == 4

    received = by_recipient(await deliver(smtp_server))
    assert sorted(received) == sorted([*made, COORDINATOR])
    for recipient, ids in made.items():
        raw = next(r for r in smtp_server.handler.messages if parsed(r)["To"] == recipient)
        message = received[recipient]
        text, html = body(message, "plain"), body(message, "html")
        others = {i for group in made.values() for i in group} - set(ids)
        assert all(i in text and i in html for i in ids)
        assert not any(i in text for i in others)
        assert_no_personal_data(raw, message)
        assert message["From"].addresses[0].display_name == FEDERATION
        assert message["From"].addresses[0].addr_spec == COORDINATOR
        assert str(message["Reply-To"]) == COORDINATOR
        assert not list(message.iter_attachments())
        for handoff_id in ids:  # handed off and due, in Copenhagen time
            row = await repository.handoff(handoff_id)
            assert row is not None
            assert f"Frist: {notices.when(repository.aware(row['due_at']))}" in text
        assert "Givet videre: 25. november 2026 kl. 19:30" in text

    waste = received[AARHUS_WASTE]
    assert str(waste["Subject"]) == "Overskredet: 2 henvendelser fra aftenhotlinen venter på Affald og Genbrug"
    waste_text = body(waste, "plain")
    assert "Storskrald" in waste_text
    assert "Overskredet med: 7 timer" in waste_text  # due 09:00, swept 16:00
    assert f"{BASE_URL}/admin/0751/handoffs?overdue=1&department=affald-og-genbrug" in waste_text
    assert str(received[AARHUS_CITIZEN_SERVICE]["Subject"]) == (
        "Overskredet: 1 henvendelse fra aftenhotlinen venter på Borgerservice"
    )

    digest = received[COORDINATOR]
    assert str(digest["Subject"]) == "Overskredet: 4 henvendelser fra aftenhotlinen i 2 kommuner"
    digest_text = body(digest, "plain")
    assert all(i in digest_text for ids in made.values() for i in ids)
    # Grouped by kommune: Aarhus's three, then Roskilde's one.
    aarhus, roskilde = digest_text.index("Aarhus Kommune (0751): 3 henvendelser"), digest_text.index("Roskilde")
    assert all(
        aarhus < digest_text.index(i) < roskilde for key in (AARHUS_WASTE, AARHUS_CITIZEN_SERVICE) for i in made[key]
    )
    assert digest_text.index(made[ROSKILDE_WASTE][0]) > roskilde
    assert f"{BASE_URL}/admin/0265/handoffs?overdue=1" in digest_text
    assert f"{BASE_URL}/handoffs/overdue" in digest_text
    raw_digest = next(r for r in smtp_server.handler.messages if parsed(r)["To"] == COORDINATOR)
    assert_no_personal_data(raw_digest, digest)

    # The notices are the letters outbox's, of their own kind: the department's under its kommune, the digest
    # under none.
    rows = await Letter.select(Letter.template, Letter.kommune_code).run()
    assert sorted((row["template"], row["kommune_code"]) for row in rows) == sorted(
        [("notice:handoff_overdue", "0751")] * 2 + [("notice:handoff_overdue", "0265"), ("notice:handoff_overdue", "")]
    )


async def test_a_second_sweep_sends_nothing_new(demo_federation: Database, smtp_server: SmtpServer) -> None:
    await overdue_handoffs()
    assert (await runtime().sweep())["escalated"] == 4
    assert len(await deliver(smtp_server)) == 4
    later = SWEEP + dt.timedelta(minutes=1)
    assert (await runtime(later).sweep())["escalated"] == 0
    assert len(await deliver(smtp_server, later)) == 4
    assert await Letter.count().run() == 4

    # A hand-off overdue later is told on its own at the next pass: one notice and one digest, not the old ones.
    newer = await handoff("0751", "pas", 5)
    assert [h.handoff_id for h in await service.escalation_sweep(SWEEP + dt.timedelta(days=1), base_url=BASE_URL)] == [
        newer
    ]
    raws = await deliver(smtp_server, SWEEP + dt.timedelta(days=1))
    fresh = by_recipient(raws[4:])
    assert sorted(fresh) == sorted([AARHUS_CITIZEN_SERVICE, COORDINATOR])
    assert str(fresh[COORDINATOR]["Subject"]) == "Overskredet: 1 henvendelse fra aftenhotlinen i 1 kommune"


async def test_concurrent_sweeps_queue_exactly_one_set(
    demo_federation: Database, smtp_server: SmtpServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    made = await overdue_handoffs()
    # Both processes see the same overdue hand-offs before either marks one: the conditional mark must decide.
    barrier = asyncio.Barrier(2)
    read = repository.due_for_escalation

    async def read_together(*args: Any, **kwargs: Any) -> list[dict[str, Any]]:
        rows = await read(*args, **kwargs)
        await asyncio.wait_for(barrier.wait(), 10)
        return rows

    monkeypatch.setattr(repository, "due_for_escalation", read_together)
    first, second = await asyncio.gather(runtime().sweep(), runtime().sweep())
    assert first["escalated"] + second["escalated"] == 4

    assert sorted(by_recipient(await deliver(smtp_server))) == sorted([*made, COORDINATOR])
    assert await Letter.count().run() == 4
    escalated_events = await HandOffOutbox.count().where(HandOffOutbox.subject.like("%.escalated")).run()
    assert escalated_events == 4


async def test_without_a_coordinator_address_no_digest_and_the_kommune_sends(
    demo_federation: Database, smtp_server: SmtpServer
) -> None:
    await tenancy_repository.save_federation(FEDERATION, "The Joint Municipal Evening Hotline", "")
    made = await overdue_handoffs()
    await runtime().sweep()
    received = by_recipient(await deliver(smtp_server))
    assert sorted(received) == sorted(made)
    aarhus = received[AARHUS_WASTE]["From"].addresses[0]
    # The federation's name, from the kommune's own sender address (set up for the relay and DKIM).
    assert (aarhus.display_name, aarhus.addr_spec) == (FEDERATION, "borgerservice@aarhus.kommune.example")
    assert received[ROSKILDE_WASTE]["From"].addresses[0].addr_spec == "borgerservice@roskilde.kommune.example"


async def test_a_department_gone_from_the_definition_is_in_the_digest_only(
    demo_federation: Database, smtp_server: SmtpServer
) -> None:
    made = await overdue_handoffs()
    aarhus = await Kommune.select(Kommune._meta.primary_key).where(Kommune.code == "0751").first().run()
    assert aarhus is not None
    await Department.delete().where((Department.kommune == aarhus["id"]) & (Department.key == "borgerservice")).run()
    assert (await runtime().sweep())["escalated"] == 4
    received = by_recipient(await deliver(smtp_server))
    assert sorted(received) == sorted([AARHUS_WASTE, ROSKILDE_WASTE, COORDINATOR])
    assert made[AARHUS_CITIZEN_SERVICE][0] in body(received[COORDINATOR], "plain")
    row = await repository.handoff(made[AARHUS_CITIZEN_SERVICE][0])
    assert row is not None
    assert row["escalated_at"] is not None


async def test_the_notices_do_not_change_the_figures(
    demo_federation: Database, smtp_server: SmtpServer, renderer: Renderer
) -> None:
    made = await overdue_handoffs()
    # One real reply to a citizen, so there is a letter figure to keep: the "passed on" e-mail of an acknowledgement.
    acknowledged = await handoff("0751", "storskrald", 9)
    _, mailed = await service.update_status(
        kommune_code="0751",
        handoff_id=acknowledged,
        status="acknowledged",
        note="",
        source="admin",
        actor="admin|1",
        now=EVENING + dt.timedelta(hours=1),
        renderer=renderer,
    )
    assert mailed
    period = figures.month_of(SWEEP.date())
    after_day = SWEEP + dt.timedelta(days=1)
    await deliver(smtp_server, after_day)

    async def figures_now() -> tuple[dict[str, Any], dict[str, dict[str, Any]], dict[str, Any]]:
        federation = await figures.compute(period, kommune=None, now=after_day, by_kommune=True, detail=False)
        aarhus = await figures.compute(period, kommune="0751", now=after_day, detail=False)
        by_kommune = {code: f.values() for code, f in federation.by_kommune.items()}
        return federation.total.values(), by_kommune, aarhus.total.values()

    before = await figures_now()
    assert (before[2]["letters"], before[2]["letters_sl"]) == (1, 100.0)
    await runtime().sweep()
    raws = await deliver(smtp_server, after_day)
    assert len(raws) == 1 + len(made) + 1  # the reply, one notice per department, the digest
    assert await Letter.count().run() == 1 + len(made) + 1
    assert await figures_now() == before


async def test_a_reference_that_looks_like_a_cpr_number_is_still_notified(
    demo_federation: Database, smtp_server: SmtpServer
) -> None:
    # A UUID can hold "DDMMYY-XXXX" (here 010190-1234): the notice is composed by code and must not be refused.
    lookalike = "ab010190-1234-4abc-8def-0123456789ab"
    made = await handoff("0751", "storskrald", 1)
    await HandOff.update({HandOff.handoff_id: lookalike}).where(HandOff.handoff_id == made).run()
    assert [h.handoff_id for h in await service.escalation_sweep(SWEEP, base_url=BASE_URL)] == [lookalike]
    received = by_recipient(await deliver(smtp_server))
    assert sorted(received) == sorted([AARHUS_WASTE, COORDINATOR])
    assert all(lookalike in body(message, "plain") for message in received.values())

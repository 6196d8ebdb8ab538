"""End to end: the kommune's system acknowledges and closes a hand-off over Open311, and the citizen receives
exactly two e-mails under the kommune's letterhead through the letters outbox and a real SMTP server."""

from __future__ import annotations

import asyncio
import datetime as dt
import email
from collections.abc import AsyncIterator
from email.policy import default
from zoneinfo import ZoneInfo

import httpx
import msgspec
import pytest

from hotline.config import Settings
from hotline.handoffs import repository, service
from hotline.identity import service as identity
from hotline.lib.embedded_nats import EmbeddedNatsServer
from hotline.server.app import create_app
from tests.fixtures.app import FixedClock, running
from tests.fixtures.databases import Database
from tests.fixtures.knowledge import eventually
from tests.fixtures.letters import SmtpServer

CPH = ZoneInfo("Europe/Copenhagen")


@pytest.fixture
async def http(
    demo_federation: Database,
    settings: Settings,
    nats_server: EmbeddedNatsServer,
    clock: FixedClock,
    smtp_server: SmtpServer,
) -> AsyncIterator[httpx.AsyncClient]:
    clock.now = dt.datetime(2026, 11, 26, 10, 0, tzinfo=CPH)
    app = create_app(
        msgspec.structs.replace(settings, smtp=smtp_server.settings),
        engine=demo_federation.engine,
        nats_servers=[nats_server.url],
        clock=clock,
    )
    async with running(app):
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://testserver.local") as client:
            yield client


async def test_acknowledge_and_close_send_the_citizen_one_email_each(
    http: httpx.AsyncClient, smtp_server: SmtpServer, clock: FixedClock
) -> None:
    handoff = await service.create_handoff(
        call_id="call-1",
        kommune_code="0751",
        topic="storskrald",
        description="Storskrald ikke hentet",
        citizen_email="borger@example.org",
        created_by="agent|1",
        now=dt.datetime(2026, 11, 25, 19, 30, tzinfo=CPH),
    )
    _, secret = await identity.create_api_token("0751", "sag", ["handoffs"], created_by="t", now=clock.now)
    headers = {"authorization": f"Bearer {secret}"}
    url = f"/api/open311/v2/0751/requests/{handoff.handoff_id}/status"
    for status in ("acknowledged", "acknowledged", "closed"):
        response = await http.post(url, json={"status": status}, headers=headers)
        assert response.status_code == 200, response.text
    assert (await http.post(url, json={"status": "closed"}, headers=headers)).status_code == 409

    await eventually(lambda: len(smtp_server.handler.messages) >= 2, within=60, what="two e-mails delivered")
    await asyncio.sleep(0.3)  # a third message, wrongly queued, would arrive meanwhile
    messages = [email.message_from_bytes(raw, policy=default) for raw in smtp_server.handler.messages]
    assert [str(m["Subject"]) for m in messages] == [
        "Din henvendelse er givet videre – Aarhus Kommune",
        "Din henvendelse er færdigbehandlet – Aarhus Kommune",
    ]
    assert all(str(m["To"]) == "borger@example.org" for m in messages)
    assert "Affald og Genbrug" in messages[1].get_body(preferencelist=("plain",)).get_content()  # type: ignore[union-attr]
    row = await repository.handoff(handoff.handoff_id)
    assert row is not None
    assert row["citizen_informed_at"] is not None

"""The production NATS accounts (deploy/nats/accounts.conf) confine a kommune's system to its own hand-offs: it
reads its own events through its durable consumer and reports status on its own subject, and can do neither for
another kommune."""

from __future__ import annotations

import asyncio
from typing import Any

import nats
import pytest
from nats.errors import NoRespondersError
from nats.errors import TimeoutError as NatsTimeoutError
from nats.js.api import AckPolicy, ConsumerConfig

from hotline.handoffs import events
from hotline.handoffs.publisher import ensure_stream
from tests.deploy.test_deploy_files import _nats_environment, nats_with_accounts  # noqa: F401 - the fixture


async def test_a_kommune_user_reads_and_reports_only_its_own_handoffs(nats_with_accounts: str) -> None:  # noqa: F811
    secrets = _nats_environment()
    errors: list[str] = []

    async def note(exc: Exception) -> None:
        errors.append(str(exc).lower())

    admin = await nats.connect(nats_with_accounts, user="kb-admin", password=secrets["NATS_KB_ADMIN_PASSWORD"])
    agent = await nats.connect(nats_with_accounts, user="agent-node", password=secrets["NATS_AGENT_NODE_PASSWORD"])
    kommune = await nats.connect(
        nats_with_accounts,
        user="kommune-0751",
        password=secrets["NATS_KOMMUNE_0751_PASSWORD"],
        inbox_prefix="_INBOX_0751",
        error_cb=note,
        allow_reconnect=False,
    )
    try:

        class Admin:
            client = admin

        await ensure_stream(Admin)  # type: ignore[arg-type]  # kb-admin creates the stream, as documented
        js = agent.jetstream(timeout=2)
        await js.publish("handoffs.0751.created", b'{"own": true}')
        await js.publish("handoffs.0615.created", b'{"own": false}')

        received: list[tuple[str, bytes]] = []
        kjs = kommune.jetstream(timeout=2)
        config = ConsumerConfig(
            name="handoffs-0751",
            durable_name="handoffs-0751",
            filter_subject="handoffs.0751.>",
            ack_policy=AckPolicy.EXPLICIT,
        )
        await kjs.add_consumer(events.STREAM, config)
        subscription = await kjs.pull_subscribe_bind("handoffs-0751", events.STREAM)
        for msg in await subscription.fetch(5, timeout=2):
            received.append((msg.subject, msg.data))
            await msg.ack()
        assert received == [("handoffs.0751.created", b'{"own": true}')]

        # Another kommune's subjects: no consumer on them, whatever it is called.
        for name, subject in (("handoffs-0751", "handoffs.0615.>"), ("handoffs-0615", "handoffs.0615.>")):
            other = ConsumerConfig(name=name, durable_name=name, filter_subject=subject)
            with pytest.raises(NatsTimeoutError):  # the server drops the request: no permission
                await kjs.add_consumer(events.STREAM, other)
            assert any(f'publish to "$js.api.consumer.create.handoffs.{name}.{subject}"' in e for e in errors), errors

        # Status reports: its own subject reaches the app, another kommune's is refused.
        reports: list[str] = []

        async def answer(msg: Any) -> None:
            reports.append(msg.subject)
            await msg.respond(b'{"ok": true}')

        await agent.subscribe(events.STATUS_SUBJECT_WILDCARD, queue=events.STATUS_QUEUE, cb=answer)
        await agent.flush()
        # The subscription is in the app's account; the kommune's account sees its interest through an import,
        # which the server propagates a moment after the flush: wait for it rather than race it.
        for _ in range(50):
            try:
                reply = await kommune.request("handoffs.0751.status", b"{}", timeout=2)
                break
            except NoRespondersError:
                await asyncio.sleep(0.05)
        else:
            pytest.fail("the app's status subscription never became visible to the kommune's account")
        assert reply.data == b'{"ok": true}'
        await kommune.publish("handoffs.0615.status", b"{}")
        await kommune.flush()
        await asyncio.sleep(0.3)
        assert reports == ["handoffs.0751.status"]
        assert any('publish to "handoffs.0615.status"' in e for e in errors), errors
    finally:
        await kommune.close()
        await agent.close()
        await admin.close()

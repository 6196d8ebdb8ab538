"""Isolation at the broker, on a real nats-server running deploy/nats/accounts.conf: a kommune's system can push
and ask for its own rules only, its push is stored and reaches the replicas, and the server itself refuses it
anything in another kommune's subjects (the permission violation reaches the client)."""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import os
import shutil
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import nats
import pytest
from nats.aio.client import Client
from nats.errors import NoRespondersError
from nats.errors import TimeoutError as NatsTimeoutError
from nats.js.errors import BadRequestError, KeyNotFoundError

from hotline.config import NatsSettings
from hotline.knowledge.tables import KbArticle
from hotline.lib.embedded_nats import EmbeddedNatsServer
from hotline.server.nats import NatsConnection
from kb_sync.publisher import OutboxPublisher, ensure_bucket
from kb_sync.push import PushConsumer, ensure_push_stream
from kb_sync.replica import Replica
from kb_sync.responder import RulesResponder
from kb_sync.runtime import publisher_connection
from kb_sync.subjects import BUCKET_SUBJECT_PREFIX, PushedArticle, encoder, push_subject, rules_subject, ruleset_decoder
from tests.fixtures.databases import Database
from tests.fixtures.knowledge import eventually, knowledge_node

DEPLOY_NATS = Path(__file__).resolve().parents[2] / "deploy" / "nats"
EXAMPLE_ENV = DEPLOY_NATS.parent / "secrets" / "nats.env.example"


def _passwords() -> dict[str, str]:
    values = {}
    for line in EXAMPLE_ENV.read_text(encoding="utf-8").splitlines():
        key, sep, _ = line.partition("=")
        if sep and key.startswith("NATS_") and key.endswith("_PASSWORD"):
            values[key] = f"pw-{key.lower()}"
    return values


PASSWORDS = _passwords()


@pytest.fixture
def secured_nats(
    make_nats: type[EmbeddedNatsServer], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> EmbeddedNatsServer:
    """A nats-server with the deployment's accounts, its passwords in the environment it inherits."""
    for key, value in PASSWORDS.items():
        monkeypatch.setenv(key, value)
    shutil.copy(DEPLOY_NATS / "accounts.conf", tmp_path / "accounts.conf")
    (tmp_path / "server.conf").write_text('include "accounts.conf"\n', encoding="utf-8")
    server = make_nats(tmp_path / "store", config_file=tmp_path / "server.conf")
    server.start()
    assert os.environ["NATS_AGENT_NODE_PASSWORD"] == PASSWORDS["NATS_AGENT_NODE_PASSWORD"]
    return server


class Recorder:
    """Collects the errors the server sends a client (its ``error_cb``)."""

    def __init__(self) -> None:
        self.errors: list[str] = []

    async def callback(self, exc: Exception) -> None:
        self.errors.append(str(exc).lower())

    def saw(self, text: str) -> bool:
        return any(text in error for error in self.errors)


@contextlib.asynccontextmanager
async def kommune_client(url: str, code: str, recorder: Recorder) -> AsyncIterator[Client]:
    client = await nats.connect(
        url,
        user=f"kommune-{code}",
        password=PASSWORDS[f"NATS_KOMMUNE_{code}_PASSWORD"],
        inbox_prefix=f"_INBOX_{code}",
        error_cb=recorder.callback,
        allow_reconnect=False,
    )
    try:
        yield client
    finally:
        await client.close()


def user_url(server: EmbeddedNatsServer, user: str, password_key: str) -> str:
    return f"nats://{user}:{PASSWORDS[password_key]}@{server.host}:{server.port}"


@contextlib.asynccontextmanager
async def secured_node(server: EmbeddedNatsServer) -> AsyncIterator[tuple[NatsConnection, OutboxPublisher, Replica]]:
    """An app node as deployed: its replica on the read-only "agent-node" user, its outbox publisher on a
    connection of its own as "kb-publisher" (the connection the app's settings produce)."""
    settings = NatsSettings(
        user="agent-node",
        password=PASSWORDS["NATS_AGENT_NODE_PASSWORD"],
        kb_publisher_user="kb-publisher",
        kb_publisher_password=PASSWORDS["NATS_KB_PUBLISHER_PASSWORD"],
    )
    connection = NatsConnection(settings, [server.url], name="agent")
    own = publisher_connection(connection)
    assert own is not None
    publisher = OutboxPublisher(own)
    replica = Replica(connection, clock=lambda: dt.datetime.now(dt.UTC), name="agent")
    await connection.start()
    await own.start()
    await publisher.start()
    await replica.start()
    try:
        yield connection, publisher, replica
    finally:
        await replica.stop()
        await publisher.stop()
        await own.close()
        await connection.close()


async def test_a_kommune_pushes_its_own_rules_and_is_refused_anothers(
    demo_federation: Database, secured_nats: EmbeddedNatsServer
) -> None:
    # The streams are created once by kb-admin; the app (agent-node) may not create streams.
    admin = NatsConnection(
        NatsSettings(user="kb-admin", password=PASSWORDS["NATS_KB_ADMIN_PASSWORD"]), [secured_nats.url]
    )
    await admin.start()
    assert await admin.wait_connected(10)
    await ensure_bucket(admin)
    await ensure_push_stream(admin)
    await admin.close()

    agent_url = user_url(secured_nats, "agent-node", "NATS_AGENT_NODE_PASSWORD")
    async with secured_node(secured_nats) as (connection, publisher, replica):
        push = PushConsumer(connection, on_stored=publisher.notify)
        responder = RulesResponder(connection, replica)
        await push.start()
        assert await connection.wait_connected(10)
        await responder.start()
        assert await replica.wait_ready(10)
        try:
            aarhus_errors, agent_errors = Recorder(), Recorder()
            async with kommune_client(secured_nats.url, "0751", aarhus_errors) as aarhus:
                js = aarhus.jetstream(timeout=5)
                own = PushedArticle(
                    external_id="aarhus-42",
                    topic="storskrald",
                    title="Storskrald fra Aarhus' fagsystem",
                    body="Bestil senest kl. 12.",
                    mode="replace",
                    department="affald-og-genbrug",
                )
                ack = await js.publish(push_subject("0751"), encoder.encode(own))
                assert ack.stream == "KB_PUSH"
                await eventually(lambda: push.stored == 1, what="the push to be stored")
                await eventually(
                    lambda: any(r.title == own.title for r in _all(replica, "0751")), what="the push in the replica"
                )

                # Into another kommune's subject: the server refuses, and says so to the client.
                forged = PushedArticle(external_id="x", topic="storskrald", title="Forged", body="Not yours.")
                await aarhus.publish(push_subject("0615"), encoder.encode(forged))
                await aarhus.flush()
                await eventually(lambda: aarhus_errors.saw('publish to "kb.0615.push"'), what="the violation")

                # Its own effective rule set over request/reply; another kommune's is refused by the server.
                reply = await aarhus.request(rules_subject("0751"), b"", timeout=5)
                rules = ruleset_decoder.decode(reply.data)
                assert rules.kommune == "0751"
                assert [a.title for t in rules.topics if t.topic == "storskrald" for a in t.articles] == [own.title]
                with pytest.raises((NatsTimeoutError, NoRespondersError)):
                    await aarhus.request(rules_subject("0615"), b"", timeout=1)
                await eventually(lambda: aarhus_errors.saw('publish to "kb.rules.0615"'), what="the violation")

            # An agent node cannot push as a kommune either, nor write the KV bucket: only the publisher may.
            agent = await nats.connect(agent_url, error_cb=agent_errors.callback, allow_reconnect=False)
            try:
                await agent.publish(push_subject("0751"), encoder.encode(forged))
                await agent.flush()
                await eventually(lambda: agent_errors.saw('publish to "kb.0751.push"'), what="the violation")
                await agent.publish(f"{BUCKET_SUBJECT_PREFIX}general.storskrald.forged", b"{}")
                await agent.flush()
                await eventually(lambda: agent_errors.saw('publish to "$kv.kb.general'), what="the KV violation")
                kv = await agent.jetstream(timeout=5).key_value("KB")
                with pytest.raises(KeyNotFoundError):
                    await kv.get("general.storskrald.forged")
            finally:
                await agent.close()
            assert publisher.connection is not connection
            assert publisher.connection.settings.user == "kb-publisher"

            await asyncio.sleep(0.3)  # anything wrongly let through would have been consumed by now
            assert await KbArticle.count().where(KbArticle.scope == "0615").run() == 0
            assert await KbArticle.count().where(KbArticle.title == "Forged").run() == 0
            assert push.stored == 1

            # The responder is a micro service with statistics.
            stats_client = await nats.connect(agent_url, allow_reconnect=False)
            try:
                stats = await stats_client.request("$SRV.STATS.kb-rules", b"", timeout=5)
                assert b'"num_requests":1' in stats.data.replace(b" ", b"")
            finally:
                await stats_client.close()
        finally:
            await responder.stop()
            await push.stop()


async def test_poison_pushes_are_terminated_not_redelivered(
    demo_federation: Database, make_nats: type[EmbeddedNatsServer], tmp_path: Path
) -> None:
    server = make_nats(tmp_path / "nats")
    server.start()
    async with knowledge_node(server.url) as (connection, publisher, replica):
        push = PushConsumer(connection, on_stored=publisher.notify)
        await push.start()
        assert await replica.wait_ready(10)
        client = await nats.connect(server.url)
        try:
            js = client.jetstream(timeout=5)
            await eventually(lambda: push.refused == 0 and connection.connected, what="connection")
            await _wait_for_stream(js)
            await js.publish(push_subject("0751"), b"not json")
            await js.publish(push_subject("0751"), encoder.encode(_pushed(topic="no-such-topic")))
            await js.publish(push_subject("0751"), encoder.encode(_pushed(body="<b>x</b>" * 3_000)))  # > 20,000 chars
            with pytest.raises(BadRequestError):  # beyond 64 KiB the stream itself refuses it
                await js.publish(push_subject("0751"), b"x" * 70_000)
            await js.publish(push_subject("0751"), encoder.encode(_pushed(title="Gyldig")))
            await eventually(lambda: push.refused == 3 and push.stored == 1, what="three refusals and one store")
            info = await js.consumer_info("KB_PUSH", "kb-push")
            assert info.num_ack_pending == 0
            assert info.num_redelivered == 0
            assert await KbArticle.count().run() == 1
        finally:
            await client.close()
            await push.stop()


def _pushed(**changes: Any) -> PushedArticle:
    values: dict[str, Any] = {"external_id": "e1", "topic": "storskrald", "title": "T", "body": "B"}
    return PushedArticle(**{**values, **changes})


async def _wait_for_stream(js: Any) -> None:
    for _ in range(100):
        with contextlib.suppress(Exception):
            await js.stream_info("KB_PUSH")
            return
        await asyncio.sleep(0.05)
    raise AssertionError("the push consumer never created KB_PUSH")


def _all(replica: Any, kommune: str) -> list[Any]:
    return [article for topic in replica.rules(kommune).topics for article in topic.articles]

"""The request/reply service ``kb-rules``: any authorised system asks ``kb.rules.<kommune code>`` and gets that
kommune's effective rule set (general articles merged with its own), answered from this process's replica.

It is a NATS micro service (``nats.micro``), so ``$SRV.PING|INFO|STATS.kb-rules`` report its instances, request
counts, errors and processing time. Every app process answers in one queue group, so requests spread over them.
"""

from __future__ import annotations

import re

from nats.micro import add_service
from nats.micro.request import Request
from nats.micro.service import Service

from hotline.server.nats import NatsConnection
from kb_sync.replica import Replica
from kb_sync.subjects import RULES_SERVICE, RULES_SUBJECT_PREFIX, encoder

_CODE = re.compile(r"^[0-9]{4}$")


class RulesResponder:
    def __init__(self, connection: NatsConnection, replica: Replica, *, version: str = "1.0.0") -> None:
        self.connection = connection
        self.replica = replica
        self.version = version
        self.service: Service | None = None

    async def start(self) -> None:
        """Register the service on the current client (call once connected, and again after a new client)."""
        client = self.connection.client
        assert client is not None  # noqa: S101 - called only while connected
        service = await add_service(
            client,
            name=RULES_SERVICE,
            version=self.version,
            description="Effective knowledge-bank rule set of a kommune",
            queue_group="q",
        )
        await service.add_endpoint(name="rules", subject=f"{RULES_SUBJECT_PREFIX}.*", handler=self.handle)
        self.service = service

    async def handle(self, request: Request) -> None:
        code = request.subject.rsplit(".", 1)[-1]
        if not _CODE.match(code):
            await request.respond_error("400", "use kb.rules.<4-digit kommune code>")
            return
        if not self.replica.ready:
            await request.respond_error("503", "the knowledge replica is still starting")
            return
        await request.respond(encoder.encode(self.replica.rules(code)))

    async def stop(self) -> None:
        if self.service is not None:
            await self.service.stop()
            self.service = None

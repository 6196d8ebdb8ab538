"""Fixtures of the calls tests: the app on the demo federation with the queue's tick under the test's control,
a signed telephony client and agents with sessions (and CSRF) of their own."""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any
from zoneinfo import ZoneInfo

import httpx
import msgspec
import pytest
import uvicorn
from litestar import Litestar

from hotline.calls.runtime import CallsRuntime
from hotline.calls.service import QueueOptions
from hotline.calls.telephony import TelephonyEvent, encode_batch, sign
from hotline.config import Settings
from hotline.identity import service as identity
from hotline.identity.schemas import EVERY_KOMMUNE, Grant
from hotline.lib.embedded_nats import EmbeddedNatsServer, free_port
from hotline.server.app import create_app
from tests.fixtures.app import FixedClock, running
from tests.fixtures.databases import Database
from tests.fixtures.identity import session_cookie_for

CPH = ZoneInfo("Europe/Copenhagen")
EVENING = dt.datetime(2026, 11, 25, 19, 0, tzinfo=CPH)  # a Wednesday evening: every kommune closed
MORNING = dt.datetime(2026, 11, 25, 10, 0, tzinfo=CPH)  # a Wednesday morning: Aarhus open
AARHUS_NUMBER = "+4570751000"  # member
NON_MEMBER_CODE = "0101"


def roomy(settings: Settings) -> Settings:
    identity_settings = msgspec.structs.replace(settings.identity, api_rate_limit=100_000)
    return msgspec.structs.replace(settings, identity=identity_settings)


def make_app(settings: Settings, db: Database, nats_url: str, clock: FixedClock) -> Litestar:
    app = create_app(roomy(settings), engine=db.engine, nats_servers=[nats_url], clock=clock)
    runtime: CallsRuntime = app.state.services.calls
    runtime.run_tick_loop = False  # the tests call tick() themselves, on their clock
    runtime.options = QueueOptions(
        ring_timeout=dt.timedelta(seconds=20), max_wait=dt.timedelta(seconds=180), stale_after=dt.timedelta(seconds=60)
    )
    return app


@pytest.fixture
def calls_app(
    settings: Settings, demo_federation: Database, nats_server: EmbeddedNatsServer, clock: FixedClock
) -> Litestar:
    clock.now = EVENING
    return make_app(settings, demo_federation, nats_server.url, clock)


@pytest.fixture
async def http(calls_app: Litestar) -> AsyncIterator[httpx.AsyncClient]:
    async with running(calls_app):
        assert await calls_app.state.services.nats.wait_connected(5)
        transport = httpx.ASGITransport(app=calls_app)
        async with httpx.AsyncClient(transport=transport, base_url="http://testserver.local") as client:
            yield client


def runtime_of(app: Litestar) -> CallsRuntime:
    runtime: CallsRuntime = app.state.services.calls
    return runtime


@dataclass
class Telephony:
    """A contact-centre platform: signs every batch with a webhook secret of ``kommune``."""

    client: httpx.AsyncClient
    clock: FixedClock
    kommune: str
    secret: str

    def headers(self, body: bytes, *, at: dt.datetime | None = None, secret: str | None = None) -> dict[str, str]:
        moment = at or self.clock()
        return {
            "content-type": "application/json",
            "x-hotline-kommune": self.kommune,
            "x-hotline-signature": sign((secret or self.secret).encode(), body, int(moment.timestamp())),
        }

    async def post_raw(self, body: bytes, **kwargs: Any) -> httpx.Response:
        return await self.client.post("/api/telephony/events", content=body, headers=self.headers(body, **kwargs))

    async def post(self, *events: TelephonyEvent) -> httpx.Response:
        return await self.post_raw(encode_batch(list(events)))


async def new_secret(kommune: str, clock: FixedClock, app: Litestar) -> tuple[int, str]:
    return await identity.create_webhook_secret(
        app.state.services.secret_box, kommune, "test platform", created_by="test", now=clock()
    )


@pytest.fixture
async def telephony(http: httpx.AsyncClient, calls_app: Litestar, clock: FixedClock) -> Telephony:
    _, secret = await new_secret("0751", clock, calls_app)
    return Telephony(http, clock, "0751", secret)


@dataclass
class Agent:
    """An agent's browser: session cookie and CSRF token, and the console's JSON API."""

    client: httpx.AsyncClient
    user_id: int
    session: str
    csrf: str

    @property
    def headers(self) -> dict[str, str]:
        return {
            "cookie": f"hotline_session={self.session}; hotline_csrf={self.csrf}",
            "x-csrftoken": self.csrf,
            "accept": "application/json",
        }

    async def presence(self, state: str, **extra: Any) -> httpx.Response:
        return await self.client.post("/api/console/presence", json={"state": state, **extra}, headers=self.headers)

    async def answer(self, call_id: str) -> httpx.Response:
        return await self.client.post(f"/api/console/calls/{call_id}/answer", headers=self.headers)

    async def transfer(self, call_id: str, number: str) -> httpx.Response:
        return await self.client.post(
            f"/api/console/calls/{call_id}/transfer", json={"to_number": number}, headers=self.headers
        )

    async def wrap_up(self, call_id: str, **body: Any) -> httpx.Response:
        return await self.client.post(f"/api/console/calls/{call_id}/wrap-up", json=body, headers=self.headers)


async def make_agent(client: httpx.AsyncClient, clock: FixedClock, name: str, home: str = "0615") -> Agent:
    session = await session_cookie_for([Grant("agent", EVERY_KOMMUNE)], home, now=clock(), name=name)
    principal = await identity.session_principal(
        session, clock(), idle=dt.timedelta(hours=1), absolute=dt.timedelta(hours=12)
    )
    assert principal is not None
    response = await client.get("/tenants")
    csrf = response.cookies.get("hotline_csrf") or client.cookies["hotline_csrf"]
    client.cookies.clear()
    return Agent(client, principal.user_id, session, csrf)


@contextlib.asynccontextmanager
async def serve(app: Litestar) -> AsyncIterator[str]:
    """The app under uvicorn on a free port, in this event loop (the database pool lives here): real HTTP, so
    live event streams arrive as they are sent."""
    port = free_port("127.0.0.1")
    config = uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning", lifespan="on", ws="none")
    server = uvicorn.Server(config)
    task = asyncio.create_task(server.serve())
    for _ in range(200):
        if server.started or task.done():
            break
        await asyncio.sleep(0.05)
    if task.done():
        task.result()
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        await asyncio.wait_for(task, 20)


async def read_events(lines: AsyncIterator[str], wanted: str, *, within: float = 10.0) -> dict[str, str]:
    """Read a stream's lines (``response.aiter_lines()``, made once) until an event named ``wanted`` arrives;
    returns its fields (id, event, data)."""

    async def read() -> dict[str, str]:
        fields: dict[str, str] = {}
        data: list[str] = []
        async for line in lines:
            if line == "":
                if fields.get("event") == wanted:
                    fields["data"] = "\n".join(data)
                    return fields
                fields, data = {}, []
                continue
            name, _, value = line.partition(": ")
            if name == "data":
                data.append(value)
            elif name in ("id", "event"):
                fields[name] = value
        raise AssertionError("the stream ended")

    return await asyncio.wait_for(read(), within)

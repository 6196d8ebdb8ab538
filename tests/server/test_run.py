"""How the app is served: which peers may name the client through proxy headers (HOTLINE_TRUSTED_PROXIES)."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import httpx
import msgspec
import pytest
import uvicorn

from hotline.config import Settings, SettingsError, load_settings
from hotline.lib.embedded_nats import EmbeddedNatsServer, free_port
from hotline.server.app import create_app
from hotline.server.run import uvicorn_config
from tests.fixtures.app import FixedClock
from tests.fixtures.databases import Database


@asynccontextmanager
async def served(settings: Settings, db: Database, nats_url: str, clock: FixedClock) -> AsyncIterator[str]:
    """The app as ``hotline serve`` runs it (the same uvicorn settings), sign-in limited to one start a minute
    per client, on a free port."""
    port = free_port("127.0.0.1")
    identity = msgspec.structs.replace(settings.identity, login_rate_limit=1)
    server_settings = msgspec.structs.replace(settings.server, port=port)
    tight = msgspec.structs.replace(settings, identity=identity, server=server_settings, log_level="warning")
    app = create_app(tight, engine=db.engine, nats_servers=[nats_url], clock=clock)
    server = uvicorn.Server(uvicorn_config(app, tight))
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


async def _sign_in_starts_from(url: str, addresses: list[str]) -> list[int]:
    async with httpx.AsyncClient(base_url=url) as client:
        return [
            (await client.get("/auth/login", headers={"x-forwarded-for": address})).status_code for address in addresses
        ]


CLIENTS = ["203.0.113.1", "203.0.113.2", "203.0.113.3"]


async def test_a_trusted_proxy_names_the_client(
    settings: Settings, db: Database, nats_server: EmbeddedNatsServer, clock: FixedClock
) -> None:
    # The default trusts the local proxy: three clients behind it each have their own limit.
    assert settings.server.trusted_proxies == ("127.0.0.1",)
    async with served(settings, db, nats_server.url, clock) as url:
        assert await _sign_in_starts_from(url, CLIENTS) == [200, 200, 200]


async def test_a_peer_that_is_not_a_trusted_proxy_cannot_pose_as_other_clients(
    settings: Settings, db: Database, nats_server: EmbeddedNatsServer, clock: FixedClock
) -> None:
    # Reaching a replica directly, a client that invents X-Forwarded-For keeps its own address: one limit.
    elsewhere = msgspec.structs.replace(settings.server, trusted_proxies=("10.20.0.0/16",))
    untrusted = msgspec.structs.replace(settings, server=elsewhere)
    async with served(untrusted, db, nats_server.url, clock) as url:
        assert await _sign_in_starts_from(url, CLIENTS) == [200, 429, 429]


@pytest.mark.parametrize("value", ["10.0.0.300", "proxy.internal", "10.0.0.0/33"])
def test_a_bad_trusted_proxy_is_refused_by_name(value: str) -> None:
    with pytest.raises(SettingsError, match=r"HOTLINE_TRUSTED_PROXIES .*is not an address"):
        load_settings({"HOTLINE_DEMO": "true", "HOTLINE_TRUSTED_PROXIES": f"127.0.0.1, {value}"})


def test_trusted_proxies_are_read_as_a_list() -> None:
    settings = load_settings({"HOTLINE_DEMO": "true", "HOTLINE_TRUSTED_PROXIES": "172.30.80.10, 10.0.0.0/8"})
    assert settings.server.trusted_proxies == ("172.30.80.10", "10.0.0.0/8")

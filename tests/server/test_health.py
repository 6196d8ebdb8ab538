"""/health/live answers while the process runs; /health/ready is 503 while a dependency is down, 200 again after."""

from __future__ import annotations

import asyncio
from pathlib import Path

import httpx

from hotline.config import Settings
from hotline.lib.embedded_nats import EmbeddedNatsServer
from hotline.server.app import create_app
from tests.fixtures.app import FixedClock, running
from tests.fixtures.databases import Database


async def test_ready_reports_each_dependency(client: httpx.AsyncClient, db: Database) -> None:
    response = await client.get("/health/ready")
    assert response.status_code == 200
    body = response.json()
    assert body["status"] == "ready"
    assert body["checks"]["database"] == {
        "ok": True,
        "detail": db.engine.engine_type,
        "latency_ms": body["checks"]["database"]["latency_ms"],
    }
    assert body["checks"]["nats"]["ok"] is True
    assert (await client.get("/health/live")).json() == {"status": "ok"}


async def _wait_for_status(http: httpx.AsyncClient, status: int, seconds: float) -> httpx.Response:
    deadline = asyncio.get_running_loop().time() + seconds
    while True:
        response = await http.get("/health/ready")
        if response.status_code == status or asyncio.get_running_loop().time() > deadline:
            return response
        await asyncio.sleep(0.1)


async def test_ready_is_503_while_nats_is_down_and_recovers(
    settings: Settings, db: Database, make_nats: type[EmbeddedNatsServer], tmp_path: Path, clock: FixedClock
) -> None:
    server = make_nats(tmp_path / "nats")
    server.start()
    app = create_app(settings, engine=db.engine, nats_servers=[server.url], clock=clock)
    async with running(app):
        assert await app.state.services.nats.wait_connected(5)
        async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://t") as http:
            assert (await http.get("/health/ready")).status_code == 200
            server.kill()
            down = await _wait_for_status(http, 503, 10)
            assert down.status_code == 503
            assert down.json()["checks"]["nats"]["ok"] is False
            assert down.json()["checks"]["database"]["ok"] is True
            assert (await http.get("/health/live")).status_code == 200, "the process itself is still alive"
            restarted = EmbeddedNatsServer(tmp_path / "nats", port=server.port)
            restarted.start()
            try:
                back = await _wait_for_status(http, 200, 15)
                assert back.status_code == 200, back.json()
            finally:
                restarted.stop()


async def test_the_app_starts_while_nats_is_down_and_connects_when_it_appears(
    settings: Settings, db: Database, tmp_path: Path, clock: FixedClock
) -> None:
    late = EmbeddedNatsServer(tmp_path / "late")
    app = create_app(settings, engine=db.engine, nats_servers=[late.url], clock=clock)
    async with running(app), httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://t") as http:
        assert (await http.get("/health/ready")).status_code == 503
        late.start()
        try:
            assert (await _wait_for_status(http, 200, 15)).status_code == 200
        finally:
            late.stop()

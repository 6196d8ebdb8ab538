"""The authoring form in headless Chromium: the live preview follows the author's typing (htmx, CSRF included)
with script shown as text, and saving leads to the edit page with the new version."""

from __future__ import annotations

import asyncio
import socket
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import pytest
import uvicorn
from litestar import Litestar

from hotline.identity.schemas import Grant
from hotline.server.app import create_app
from tests.fixtures.browser import signed_in_page
from tests.fixtures.databases import Database
from tests.fixtures.identity import session_cookie_for
from tests.fixtures.knowledge import eventually


@asynccontextmanager
async def serve(app: Litestar) -> AsyncIterator[str]:
    """The app under uvicorn on a free port, in this event loop."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning", ws="none"))
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


@pytest.mark.browser
async def test_the_preview_follows_the_typing_and_saving_opens_the_new_version(
    settings: Any, kb_seeded: Database, make_nats: Any, tmp_path: Path, clock: Any
) -> None:
    nats_server = make_nats(tmp_path / "kb-nats")
    nats_server.start()
    app = create_app(settings, engine=kb_seeded.engine, nats_servers=[nats_server.url], clock=clock)
    async with serve(app) as url:
        replica = app.state.services.kb_replica
        await eventually(lambda: replica.ready and len(replica) >= 16, what="the replica")
        session = await session_cookie_for(
            [Grant(role="kommune_admin", kommune="0751")], "0751", now=clock(), name="Aase Admin"
        )
        async with signed_in_page(url, session) as (page, problems):
            await page.goto("/admin/kommuner/0751/kb/new")
            await page.select_option("#topic", "pas")
            await page.fill("#title", "Pas i Aarhus")
            await page.get_by_label("Tekst (Markdown)").fill("Husk **pasfoto**.\n\n<script>alert(1)</script>")
            preview = page.locator("#kb-preview")
            await preview.locator("strong", has_text="pasfoto").wait_for(timeout=10_000)
            assert await preview.locator("script").count() == 0
            assert "<script>alert(1)</script>" in await preview.inner_text()  # shown as text
            await page.get_by_role("button", name="Gem ny version").click()
            await page.get_by_role("status").filter(has_text="Gemt som version 1").wait_for(timeout=10_000)
            assert "/edit" in page.url
            assert await page.locator("main > h1").inner_text() == "Rediger: Pas i Aarhus"
            assert await preview.get_by_role("heading", name="Pas i Aarhus").count() == 1
            assert problems == []  # no CSP violation, no script error

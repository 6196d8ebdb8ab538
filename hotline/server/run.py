"""Running the ASGI app under uvicorn, for ``hotline serve`` (production) and ``hotline demo``."""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Coroutine
from typing import Any, TypeVar

import uvicorn
from litestar import Litestar

from hotline.config import Settings

T = TypeVar("T")


def run_event_loop(main: Coroutine[Any, Any, T]) -> T:
    """Run the service's event loop: uvloop where it is installed (Linux and macOS, pulled in by uvicorn[standard]),
    the standard loop elsewhere. uvloop halves the loop's own cost per socket write and wake-up, which is most of
    what a screen-pop fan-out to hundreds of open event streams spends."""
    try:
        import uvloop
    except ImportError:  # Windows: no uvloop wheel; the standard loop serves the same code
        return asyncio.run(main)
    return uvloop.run(main)


def uvicorn_config(app: Litestar, settings: Settings) -> uvicorn.Config:
    """How the app is served: the one place that decides which peers may name the client (proxy headers)."""
    return uvicorn.Config(
        app,
        host=settings.server.host,
        port=settings.server.port,
        log_level=settings.log_level,
        access_log=False,  # an access log line holds query strings, which may hold personal data
        proxy_headers=True,
        # Only the configured proxies may say who the client is (HOTLINE_TRUSTED_PROXIES).
        forwarded_allow_ips=list(settings.server.trusted_proxies),
        timeout_graceful_shutdown=10,
    )


async def run_server(app: Litestar, settings: Settings, *, on_started: Callable[[], None] | None = None) -> None:
    config = uvicorn_config(app, settings)
    server = uvicorn.Server(config)
    if on_started is None:
        await server.serve()
        return

    async def announce() -> None:
        while not server.started:
            if server.should_exit:
                return
            await asyncio.sleep(0.05)
        on_started()

    watcher = asyncio.create_task(announce())
    try:
        await server.serve()
    finally:
        watcher.cancel()


def serve(settings: Settings) -> int:
    """``hotline serve``: the production web server; the database must already be migrated (``hotline migrate``)."""
    from hotline.server.app import create_app

    run_event_loop(run_server(create_app(settings), settings))
    return 0

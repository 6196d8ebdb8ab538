"""The process's connection to NATS.

The service must start, and keep accepting work, while NATS is down: the connection is made in the background,
retried forever, and its state is reported by ``/health/ready``. Work that needs NATS goes through an outbox
in the database and is published once the connection is back.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable

import nats
from nats.aio.client import Client
from nats.errors import NoServersError

from hotline.config import NatsSettings

log = logging.getLogger(__name__)

ReconnectedHook = Callable[[], Awaitable[None]]


class NatsConnection:
    def __init__(self, settings: NatsSettings, servers: list[str], *, name: str = "hotline") -> None:
        self.settings = settings
        self.servers = servers
        self.name = name
        self.client: Client | None = None
        self._task: asyncio.Task[None] | None = None
        self._connected = asyncio.Event()
        self.settings_drain_timeout = 5.0
        self._reconnected_hooks: list[ReconnectedHook] = []

    def on_reconnected(self, hook: ReconnectedHook) -> None:
        """Run ``hook`` after every reconnect. Watches use it to resubscribe at once: after a server restart an
        ordered consumer of nats-py can otherwise stall for many seconds before it notices."""
        self._reconnected_hooks.append(hook)

    def remove_reconnected(self, hook: ReconnectedHook) -> None:
        with contextlib.suppress(ValueError):
            self._reconnected_hooks.remove(hook)

    @property
    def connected(self) -> bool:
        return self.client is not None and self.client.is_connected

    async def start(self) -> None:
        """Begin connecting in the background; returns at once."""
        self._task = asyncio.create_task(self._connect_forever(), name="nats-connect")

    async def wait_connected(self, within: float) -> bool:
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._connected.wait(), within)
        return self.connected

    async def _connect_forever(self) -> None:
        delay = 0.2
        while True:
            try:
                self.client = await nats.connect(
                    servers=self.servers,
                    name=self.name,
                    user=self.settings.user or None,
                    password=self.settings.password or None,
                    user_credentials=self.settings.creds_file or None,
                    connect_timeout=2,
                    reconnect_time_wait=0.5,
                    max_reconnect_attempts=-1,
                    allow_reconnect=True,
                    error_cb=self._on_error,
                    disconnected_cb=self._on_disconnected,
                    reconnected_cb=self._on_reconnected,
                )
                self._connected.set()
                log.info("connected to NATS")
                return
            except (NoServersError, OSError, TimeoutError) as exc:
                log.warning("NATS not reachable (%s); retrying in %.1f s", type(exc).__name__, delay)
                await asyncio.sleep(delay)
                delay = min(delay * 2, 5.0)

    async def _on_error(self, exc: Exception) -> None:
        log.warning("NATS error: %s", type(exc).__name__)

    async def _on_disconnected(self) -> None:
        log.warning("disconnected from NATS")

    async def _on_reconnected(self) -> None:
        log.info("reconnected to NATS")
        for hook in list(self._reconnected_hooks):
            try:
                await hook()
            except Exception as exc:  # one failing hook must not keep the others from running
                log.warning("reconnected hook failed: %s", type(exc).__name__)

    async def close(self) -> None:
        if self._task is not None and not self._task.done():
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
        client = self.client
        if client is None or client.is_closed:
            return
        try:
            # Not drain(): every component has stopped its own subscriptions by now, and nats-py's drain waits
            # for the pending queue of any subscription nobody reads any more (5 s per shutdown). What was
            # published is in JetStream (acknowledged) or still in an outbox, so a flush is all that is owed.
            if client.is_connected:
                with contextlib.suppress(Exception):
                    await asyncio.wait_for(client.flush(), self.settings_drain_timeout)
            await client.close()
        except asyncio.CancelledError:
            # nats-py cancels its own reader and flusher while closing a broken connection and may let that
            # surface here; only a cancellation of this task itself must propagate.
            task = asyncio.current_task()
            if task is not None and task.cancelling():
                raise
        except Exception as exc:  # shutting down: a failure to drain loses nothing that the outbox does not keep
            log.warning("NATS connection closed uncleanly: %s", type(exc).__name__)

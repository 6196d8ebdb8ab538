"""Stopping the knowledge bank's background tasks within a bound, whatever the NATS client does on cancel."""

from __future__ import annotations

import asyncio
import contextlib
import logging

log = logging.getLogger(__name__)


async def stop_task(task: asyncio.Task[None] | None, *, grace: float = 0.0, within: float = 5.0) -> None:
    """Let ``task`` finish on its own for ``grace`` seconds (its loop has been told to stop), then cancel it and
    wait at most ``within`` seconds. A grace period matters for tasks that query the database: cancelling a
    query in flight can leave its connection unclosed. Some nats-py calls turn a cancellation into a timeout; the
    loops also check their own stop flag, so the task ends on its next turn at the latest."""
    if task is None or task.done():
        return
    if grace:
        await asyncio.wait({task}, timeout=grace)
        if task.done():
            return
    task.cancel()
    done, _ = await asyncio.wait({task}, timeout=within)
    if not done:
        log.warning("task %s did not stop within %.1f s", task.get_name(), within)
        return
    with contextlib.suppress(asyncio.CancelledError, Exception):
        task.result()

"""Ring instructions: the hotline tells the contact-centre platform which agent to ring for a call, and when to
stop ringing them, over a signed outbound webhook (``HOTLINE_TELEPHONY_RING_URL``; docs/TELEPHONY.md "Ring
instructions").

The process that made an assignment queues the instructions after its transaction has committed
(:meth:`hotline.calls.runtime.CallsRuntime.dispatch`); a :class:`RingSender` per process posts them from a task of
its own, so a slow or absent platform never delays an assignment or a screen-pop. Whatever is queued goes out
together (up to :data:`BATCH` per request), signed like the platform's own events
(:func:`hotline.calls.telephony.sign`). A network error, a timeout, 429 and 5xx are retried with a short backoff;
an instruction is worth nothing once its moment has passed (a ring after its ``ring_until``, when the ring timeout
re-offers the call anyway; a withdraw after :data:`WITHDRAW_WORTH`), so it is then dropped and counted, as is the
oldest one when the queue is full. Best effort: the queue is in memory, and the ring timeout is the safety net.

Nothing personal is logged: counts and status codes only (a callback's instruction carries the number to dial).
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Final

import httpx
import msgspec

from hotline.calls.telephony import sign

log = logging.getLogger(__name__)

BATCH: Final = 100
"""Instructions per request at most."""
QUEUE_SIZE: Final = 10_000
"""Instructions waiting at most; when full, the oldest is dropped (it is the one most likely past its moment)."""
TIMEOUT_SECONDS: Final = 2.0
"""A request the platform has not answered by then is retried: an instruction must arrive within the ring."""
BACKOFF_FIRST: Final = 0.2
BACKOFF_MOST: Final = 2.0
WITHDRAW_WORTH: Final = dt.timedelta(seconds=30)
"""A withdraw older than this is dropped: the platform has stopped ringing by then, or the call has moved on."""
SIGNATURE_HEADER: Final = "X-Hotline-Signature"

Clock = Callable[[], dt.datetime]


class Ring(msgspec.Struct, frozen=True, tag_field="kind", tag="ring", omit_defaults=True):
    """Ring this agent for this call until ``ring_until`` (then the hotline offers the call to someone else)."""

    call_id: str
    agent_id: int
    """The hotline user id: the same id the platform sends back in ``answered``."""
    at: dt.datetime
    ring_until: dt.datetime
    callback: bool
    number: str | None = None
    """A callback only: the number to dial (one the platform itself reported)."""


class Withdraw(msgspec.Struct, frozen=True, tag_field="kind", tag="withdraw"):
    """Stop ringing this agent for this call (the ring timed out, the caller hung up, someone else answered)."""

    call_id: str
    agent_id: int
    at: dt.datetime


RingInstruction = Ring | Withdraw


class RingBatch(msgspec.Struct, frozen=True):
    events: list[RingInstruction]


_encoder = msgspec.json.Encoder()


@dataclass
class RingStats:
    """What the sender did since it started (counts only)."""

    queued: int = 0
    delivered: int = 0
    expired: int = 0
    """Dropped because their moment passed before the platform took them."""
    overflowed: int = 0
    """Dropped because the queue was full."""
    refused: int = 0
    """Dropped because the platform answered with a 4xx other than 429 (a retry would be refused again)."""
    unsent: int = 0
    """Still queued when the process stopped."""
    failed_attempts: int = 0
    """Requests that failed and were retried (network error, timeout, 429, 5xx)."""


@dataclass
class RingSender:
    """The per-process queue of ring instructions and the task that posts them (see the module docstring)."""

    url: str
    secret: bytes
    clock: Clock
    queue_size: int = QUEUE_SIZE
    stats: RingStats = field(default_factory=RingStats)
    _queue: asyncio.Queue[tuple[dt.datetime, RingInstruction]] = field(init=False)
    _task: asyncio.Task[None] | None = None
    _client: httpx.AsyncClient | None = None
    _failing: bool = False
    _pending: list[tuple[dt.datetime, RingInstruction]] = field(default_factory=list)
    """The batch being sent (and retried); new instructions join it up to :data:`BATCH`."""

    def __post_init__(self) -> None:
        self._queue = asyncio.Queue(maxsize=self.queue_size)

    # -- queueing (on the hot path: no waiting, no I/O) ------------------------------------------------------

    def ring(
        self, call_id: str, agent_id: int, *, at: dt.datetime, ring_until: dt.datetime, callback: bool, number: str
    ) -> None:
        instruction = Ring(
            call_id=call_id,
            agent_id=agent_id,
            at=at.astimezone(dt.UTC),
            ring_until=ring_until.astimezone(dt.UTC),
            callback=callback,
            number=number if callback and number else None,
        )
        self._put(ring_until, instruction)

    def withdraw(self, call_id: str, agent_id: int, *, at: dt.datetime) -> None:
        self._put(at + WITHDRAW_WORTH, Withdraw(call_id=call_id, agent_id=agent_id, at=at.astimezone(dt.UTC)))

    def _put(self, worth_until: dt.datetime, instruction: RingInstruction) -> None:
        if self._queue.full():
            self._queue.get_nowait()
            self.stats.overflowed += 1
            if self.stats.overflowed == 1 or self.stats.overflowed % 1000 == 0:
                log.warning("ring instruction queue full: %d dropped so far", self.stats.overflowed)
        self._queue.put_nowait((worth_until, instruction))
        self.stats.queued += 1

    @property
    def waiting(self) -> int:
        return self._queue.qsize()

    # -- life -----------------------------------------------------------------------------------------------

    async def start(self) -> None:
        self._client = httpx.AsyncClient(timeout=TIMEOUT_SECONDS, follow_redirects=False)
        self._task = asyncio.create_task(self._send_forever(), name="calls-ring-instructions")

    async def stop(self) -> None:
        if self._task is not None and not self._task.done():
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await self._task
        if self._client is not None:
            await self._client.aclose()
        self.stats.unsent += len(self._pending) + self._queue.qsize()
        if self.stats.unsent:
            log.warning("ring instructions not sent at shutdown: %d", self.stats.unsent)

    # -- sending --------------------------------------------------------------------------------------------

    async def _send_forever(self) -> None:
        backoff = BACKOFF_FIRST
        while True:
            if not self._pending:
                self._pending.append(await self._queue.get())
            while len(self._pending) < BATCH and not self._queue.empty():
                self._pending.append(self._queue.get_nowait())
            self._pending = self._still_worth_sending(self._pending)
            if not self._pending:
                continue
            try:
                status = await self._post([instruction for _, instruction in self._pending])
            except Exception as exc:  # any failure to reach the platform: retried while the instructions are worth it
                self._failed(type(exc).__name__)
            else:
                if status < 300:
                    self.stats.delivered += len(self._pending)
                    if self._failing:
                        log.info("ring instructions delivered again (HTTP %d)", status)
                        self._failing = False
                    self._pending, backoff = [], BACKOFF_FIRST
                    continue
                if status != 429 and status < 500:
                    self.stats.refused += len(self._pending)
                    log.warning(
                        "ring instructions refused by the platform (HTTP %d): %d dropped", status, len(self._pending)
                    )
                    self._pending = []
                    continue
                self._failed(f"HTTP {status}")
            self.stats.failed_attempts += 1
            await asyncio.sleep(backoff)
            backoff = min(backoff * 2, BACKOFF_MOST)

    def _still_worth_sending(
        self, pending: list[tuple[dt.datetime, RingInstruction]]
    ) -> list[tuple[dt.datetime, RingInstruction]]:
        now = self.clock()
        kept = [item for item in pending if item[0] > now]
        expired = len(pending) - len(kept)
        if expired:
            self.stats.expired += expired
            log.warning("ring instructions dropped past their moment: %d (%d so far)", expired, self.stats.expired)
        return kept

    def _failed(self, reason: str) -> None:
        if not self._failing:
            log.warning("ring instructions not delivered (%s): retrying while they are worth it", reason)
            self._failing = True

    async def _post(self, instructions: list[RingInstruction]) -> int:
        client = self._client
        if client is None:
            raise RuntimeError("the ring sender is not started")
        body = _encoder.encode(RingBatch(events=instructions))
        signature = sign(self.secret, body, int(self.clock().timestamp()))
        headers = {"content-type": "application/json", SIGNATURE_HEADER: signature}
        response = await client.post(self.url, content=body, headers=headers)
        return response.status_code

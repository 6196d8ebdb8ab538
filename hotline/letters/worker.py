"""The outbox worker: delivers queued letters to the SMTP relay, retries temporary failures with exponential
backoff, marks permanent failures on the letter, and runs the retention sweep.

Exactly-once, as far as SMTP allows (see docs/ARCHITECTURE.md, "Letters"): a worker first *claims* a letter with
one conditional UPDATE that sets ``status='sending'`` and a lease (only one worker, in any process, can win it),
then sends, then records ``sent``. If it dies between the relay's acceptance and that record, the lease runs out
and the letter is sent again, with the same Message-ID, so the duplicate is recognisable. That window (one SMTP
reply to one UPDATE) is the only way a letter goes twice; no path loses one.
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import logging
import os
import random
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

import aiosmtplib

from hotline.config.settings import SmtpSettings
from hotline.letters import mail, repository, service
from hotline.letters.rendering import PdfRenderer, Renderer

log = logging.getLogger(__name__)
Clock = Callable[[], dt.datetime]


def utc_now() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


@dataclass(frozen=True)
class WorkerConfig:
    batch_size: int = 10
    lease: dt.timedelta = dt.timedelta(seconds=120)
    """How long a claim holds. Longer than a batch can take (batch_size × smtp_timeout is cut short by the
    deadline check below), short enough that a crashed worker's letters go out again soon."""
    smtp_timeout: float = 15.0
    poll_interval: float = 1.0
    base_delay: dt.timedelta = dt.timedelta(seconds=30)
    max_delay: dt.timedelta = dt.timedelta(hours=1)
    max_attempts: int = 40
    """Temporary failures before a letter is marked failed (about a day and a half with the delays above)."""
    sweep_interval: dt.timedelta = dt.timedelta(hours=1)
    keep_connection: float = 10.0
    """Seconds an idle SMTP connection is kept for the next batch (0: one connection per batch). Letters sent
    one by one as agents press send would otherwise each pay a connect, EHLO (STARTTLS, AUTH) and QUIT."""


def backoff(config: WorkerConfig, attempts: int) -> dt.timedelta:
    """Exponential, capped, with ±20 % jitter so letters held back by one outage do not return in one wave."""
    delay = min(config.base_delay * (2 ** max(attempts - 1, 0)), config.max_delay)
    jitter: float = random.uniform(0.8, 1.2)  # noqa: S311  (jitter, not security)
    return dt.timedelta(seconds=delay.total_seconds() * jitter)


@dataclass
class OutboxWorker:
    smtp: SmtpSettings
    clock: Clock = utc_now
    config: WorkerConfig = field(default_factory=WorkerConfig)
    owner: str = field(default_factory=lambda: f"worker-{uuid.uuid4().hex[:12]}")
    after_accepted: Callable[[str], Awaitable[None]] | None = None
    """Test seam: runs between the relay's acceptance and the ``sent`` record (where a crash costs a duplicate)."""
    _wake: asyncio.Event = field(default_factory=asyncio.Event)
    _task: asyncio.Task[None] | None = None
    _last_sweep: dt.datetime | None = None
    _client: aiosmtplib.SMTP | None = None
    _client_used: float = 0.0
    _stopping: bool = False

    def notify(self) -> None:
        """A letter was committed: look now rather than at the next poll."""
        self._wake.set()

    async def run_once(self) -> int:
        """Claim one batch of due letters and try to deliver each. Returns how many were claimed."""
        now = self.clock()
        due = await repository.due(now, self.config.batch_size)
        claimed = await repository.claim_many(due, self.owner, now, now + self.config.lease)
        if claimed:
            await self._deliver(
                claimed, deadline=now + self.config.lease - dt.timedelta(seconds=self.config.smtp_timeout * 2)
            )
        return len(claimed)

    async def _connection(self) -> aiosmtplib.SMTP:
        """The kept connection if it is still usable, else a new one."""
        client, self._client = self._client, None
        loop = asyncio.get_running_loop()
        if client is not None:
            if client.is_connected and loop.time() - self._client_used < self.config.keep_connection:
                try:
                    await client.noop()  # the relay may have dropped an idle connection: find out now
                    return client
                except (aiosmtplib.SMTPException, OSError, TimeoutError):
                    pass
            client.close()
        client = mail.SmtpClient(self.smtp, timeout=self.config.smtp_timeout).connection()
        await client.connect()
        return client

    async def _release(self, client: aiosmtplib.SMTP) -> None:
        """Keep the connection for the next batch, or say goodbye."""
        if client.is_connected and self.config.keep_connection > 0:
            self._client, self._client_used = client, asyncio.get_running_loop().time()
            return
        await self._quit(client)

    @staticmethod
    async def _quit(client: aiosmtplib.SMTP) -> None:
        if client.is_connected:
            with contextlib.suppress(aiosmtplib.SMTPException, OSError, TimeoutError):
                await client.quit()
        client.close()

    async def close_connection(self) -> None:
        client, self._client = self._client, None
        if client is not None:
            await self._quit(client)

    async def _deliver(self, letters: list[dict[str, Any]], *, deadline: dt.datetime) -> None:
        try:
            client = await self._connection()
        except (aiosmtplib.SMTPException, OSError, TimeoutError) as exc:
            for letter in letters:
                await self._failed(
                    letter,
                    mail.classify(exc)
                    if isinstance(exc, aiosmtplib.SMTPResponseException)
                    else mail.DeliveryResult("temporary", type(exc).__name__),
                )
            return
        try:
            for index, letter in enumerate(letters):
                if self.clock() > deadline:
                    # Out of lease time: give the rest back now rather than let a second worker take them.
                    for rest in letters[index:]:
                        await repository.mark_retry(rest["id"], self.owner, self.clock(), "lease ran short")
                    return
                try:
                    await mail.send_raw(client, letter["sender_address"], letter["recipient"], self._wire(letter))
                except (aiosmtplib.SMTPException, OSError, TimeoutError) as exc:
                    await self._failed(letter, mail.classify(exc))
                    if not client.is_connected:
                        for rest in letters[index + 1 :]:
                            await self._failed(rest, mail.DeliveryResult("temporary", "connection lost"))
                        return
                    continue
                if self.after_accepted is not None:
                    await self.after_accepted(letter["letter_id"])
                await repository.mark_sent(letter["id"], self.owner, self.clock())
                log.info("letter %s accepted by the relay (attempt %s)", letter["letter_id"], letter["attempts"])
        finally:
            await self._release(client)

    def _wire(self, letter: dict[str, Any]) -> bytes:
        created_at = repository.aware(letter["created_at"])
        message = mail.build_message(
            envelope=mail.Envelope(
                letter["sender_name"], letter["sender_address"], letter["reply_to"], letter["recipient"]
            ),
            subject=letter["subject"],
            message_id_value=letter["message_id"],
            created_at=created_at,
            html=letter["html"] or "",
            text=letter["text"] or "",
            pdf=bytes(letter["pdf"] or b""),
            pdf_name=f"brev-{letter['letter_id'][:8]}.pdf",
            language=letter["language"],
        )
        return mail.wire_bytes(message, self.smtp, letter["sender_address"])

    async def _failed(self, letter: dict[str, Any], result: mail.DeliveryResult) -> None:
        attempts = int(letter["attempts"])
        if result.outcome == "permanent":
            await repository.mark_failed(letter["id"], self.owner, f"refused by the relay: {result.reason}")
            log.warning("letter %s failed permanently: %s", letter["letter_id"], result.reason)
        elif attempts >= self.config.max_attempts:
            await repository.mark_failed(
                letter["id"], self.owner, f"gave up after {attempts} attempts: {result.reason}"
            )
            log.warning("letter %s given up after %s attempts", letter["letter_id"], attempts)
        else:
            due = self.clock() + backoff(self.config, attempts)
            await repository.mark_retry(letter["id"], self.owner, due, f"attempt {attempts}: {result.reason}")

    async def _sweep(self) -> None:
        now = self.clock()
        if self._last_sweep is not None and now - self._last_sweep < self.config.sweep_interval:
            return
        self._last_sweep = now
        # Each batch is its own short transaction, so a first sweep over a long history never holds the lock long.
        anonymised = await service.retention_sweep(now)
        if anonymised:
            log.info("retention sweep anonymised letters per kommune: %s", anonymised)

    async def run(self) -> None:
        while not self._stopping:
            try:
                await self._sweep()
                while not self._stopping and await self.run_once() >= self.config.batch_size:
                    pass
            except asyncio.CancelledError:
                raise
            except Exception as exc:  # the database may be away for a moment; the worker must outlive it
                log.warning("outbox worker: %s; retrying", type(exc).__name__)
            if self._stopping:
                break
            self._wake.clear()
            try:
                await asyncio.wait_for(self._wake.wait(), self.config.poll_interval)
            except TimeoutError:
                if self._client is not None and (
                    asyncio.get_running_loop().time() - self._client_used >= self.config.keep_connection
                ):
                    await self.close_connection()  # idle: do not hold the relay's connection open

    def start(self) -> None:
        self._stopping = False
        self._task = asyncio.create_task(self.run(), name=f"letters-outbox-{self.owner}")

    async def stop(self, grace: float = 5.0) -> None:
        """Let the worker finish the batch in hand (so no database transaction or connection is cut off in the
        middle), then stop; cancel it only if that takes longer than ``grace`` seconds. A letter cut off after
        the relay's acceptance is covered by the lease either way."""
        if self._task is not None:
            self._stopping = True
            self._wake.set()
            try:
                await asyncio.wait_for(asyncio.shield(self._task), grace)
            except TimeoutError:
                self._task.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await self._task
            except asyncio.CancelledError:
                self._task.cancel()
                raise
            self._task = None
        await self.close_connection()


def process_count(setting: int) -> int:
    """HOTLINE_LETTER_RENDER_PROCESSES: 0 = render in a thread, -1 = one process per core, else that many."""
    return (os.cpu_count() or 1) if setting < 0 else setting


@dataclass
class LettersRuntime:
    """What the letters area keeps per process: the renderer and (when a relay is configured) the worker."""

    renderer: Renderer
    worker: OutboxWorker | None = None

    @classmethod
    def create(cls, smtp: SmtpSettings, clock: Clock, *, render_processes: int | None = None) -> LettersRuntime:
        """``render_processes``: PDF rendering in that many worker processes (production: one per core), or in
        threads when 0 (the demo and the tests, where starting processes would cost more than it saves). ``None``
        takes HOTLINE_LETTER_RENDER_PROCESSES (``smtp.render_processes``, default 0)."""
        if render_processes is None:
            render_processes = process_count(smtp.render_processes)
        worker = OutboxWorker(smtp, clock=clock) if smtp.host else None
        return cls(renderer=Renderer(pdf=PdfRenderer(processes=render_processes)), worker=worker)

    def start(self) -> None:
        if self.worker is not None:
            self.worker.start()

    def notify(self) -> None:
        if self.worker is not None:
            self.worker.notify()

    async def stop(self) -> None:
        if self.worker is not None:
            await self.worker.stop()
        self.renderer.close()


def smtp_check(smtp: SmtpSettings) -> Callable[[], Awaitable[tuple[bool, str]]]:
    async def check() -> tuple[bool, str]:
        return await mail.probe(smtp)

    return check

"""PDF rendering in worker processes: WeasyPrint is pure Python and holds the GIL, so letters rendered in threads
share one core; in N processes they use N.

Each worker process is started with ``spawn`` (never ``fork``: the app has threads and an event loop), parses the
fonts and the stylesheet once and renders one warm-up letter before it says it is ready, then renders letters one
at a time from its pipe. The parent talks to a worker from a small thread pool (one thread per worker), so the
event loop never blocks and the pool does not depend on which event loop calls it.

Faults are contained per worker: a render that overruns its time limit gets its worker killed and replaced (the
caller gets :class:`RenderTimeout`); a worker that dies (out of memory, a crash in a C library) is replaced and the
letter is tried once more on the fresh worker. A worker is also replaced after ``max_renders`` letters, so that
whatever a long-lived WeasyPrint process accumulates is bounded.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import contextlib
import logging
import multiprocessing
import queue
import threading
import time
from multiprocessing.connection import Connection
from typing import Any, Final

log = logging.getLogger(__name__)
START_TIMEOUT: Final = 60.0
_WARM_UP_HTML: Final = (
    "<!doctype html><html lang='da'><head><title>varm</title></head><body><p>Varm op: æøå ÆØÅ</p></body></html>"
)


class RenderTimeout(TimeoutError):
    """A render overran its time limit; its worker process was killed and replaced."""


class RenderCrashed(RuntimeError):
    """A worker process died while rendering (twice in a row for the same letter)."""


class RenderFailed(RuntimeError):
    """The render raised an error inside the worker whose exception could not be sent back as it was."""


def _serve(connection: Connection) -> None:
    """A worker process: warm up, say ready, then render until told to stop (``None``) or the pipe closes."""
    from hotline.letters.rendering import render_pdf

    logging.getLogger("weasyprint").setLevel(logging.WARNING)
    render_pdf(_WARM_UP_HTML, None)  # fonts, stylesheet and WeasyPrint's own caches, before the first letter
    connection.send(("ready", None))
    while True:
        try:
            request = connection.recv()
        except (EOFError, OSError):
            return
        if request is None:
            return
        html, logo = request
        started = time.process_time()
        try:
            pdf = render_pdf(html, logo)
            connection.send(("ok", (pdf, time.process_time() - started)))
        except (KeyboardInterrupt, SystemExit):
            raise
        except BaseException as exc:  # sent back to the caller; the worker stays usable. (WeasyPrint's
            # FatalURLFetchingError, raised by our fetcher for a refused asset, is a BaseException.)
            try:
                connection.send(("error", exc))
            except Exception:  # not picklable: send what it said
                connection.send(("error", RenderFailed(f"{type(exc).__name__}: {exc}")))


class _Worker:
    def __init__(self, context: Any) -> None:
        parent, child = context.Pipe(duplex=True)
        self.connection: Connection = parent
        self.process = context.Process(target=_serve, args=(child,), name="letter-pdf", daemon=True)
        self.process.start()
        child.close()
        self.ready = False
        self.renders = 0

    def wait_ready(self, timeout: float) -> None:
        if self.ready:
            return
        if not self.connection.poll(timeout):
            raise RenderTimeout(f"a render process did not start within {timeout:.0f} s")
        kind, _ = self.connection.recv()
        if kind != "ready":
            raise RenderFailed(f"a render process said {kind!r} instead of ready")
        self.ready = True

    def kill(self) -> None:
        self.connection.close()
        if self.process.is_alive():
            self.process.kill()
        self.process.join(timeout=5)

    def stop(self, wait: bool) -> None:
        with contextlib.suppress(OSError, ValueError):
            self.connection.send(None)
        if wait:
            self.process.join(timeout=5)
        if self.process.is_alive() and wait:
            self.process.kill()
            self.process.join(timeout=5)
        self.connection.close()


class RenderPool:
    """``processes`` warmed WeasyPrint processes with a time limit per render and replacement of dead or hung
    workers. ``render`` may be awaited from any event loop (and ``render_blocking`` called from any thread)."""

    def __init__(self, processes: int, *, timeout: float, max_renders: int = 1000) -> None:
        if processes < 1:
            raise ValueError("processes: at least 1")
        self.timeout = timeout
        self.max_renders = max_renders
        self.replaced = 0  # workers replaced after a timeout or a crash (read by tests)
        self.cpu_seconds = 0.0  # CPU time the workers spent rendering letters (read by the benchmark)
        self._context = multiprocessing.get_context("spawn")
        self._idle: queue.Queue[_Worker] = queue.Queue()
        self._all: set[_Worker] = set()
        self._lock = threading.Lock()
        self._closed = False
        for _ in range(processes):
            self._add()
        self._threads = concurrent.futures.ThreadPoolExecutor(max_workers=processes, thread_name_prefix="letter-pdf")

    def _add(self) -> None:
        worker = _Worker(self._context)
        with self._lock:
            self._all.add(worker)
        self._idle.put(worker)

    def _replace(self, worker: _Worker, *, counted: bool = True) -> None:
        worker.kill()
        with self._lock:
            self._all.discard(worker)
            if counted:
                self.replaced += 1
            closed = self._closed
        if not closed:
            self._add()

    def _once(self, worker: _Worker, html: str, logo: Any) -> bytes:
        worker.wait_ready(START_TIMEOUT)
        worker.connection.send((html, logo))
        if not worker.connection.poll(self.timeout):
            raise RenderTimeout(f"rendering the PDF took longer than {self.timeout:.0f} s")
        kind, value = worker.connection.recv()
        if kind == "error":
            raise value
        pdf: bytes = value[0]
        with self._lock:
            self.cpu_seconds += value[1]
        return pdf

    def render_blocking(self, html: str, logo: Any) -> bytes:
        """One PDF from a worker process, in the calling thread."""
        for attempt in (1, 2):
            if self._closed:
                raise RenderFailed("the render pool is closed")
            worker = self._idle.get()
            while not worker.process.is_alive():  # died while idle (killed, out of memory): not this letter's fault
                log.warning("an idle PDF render process had died; it is replaced")
                self._replace(worker)
                worker = self._idle.get()
            try:
                pdf = self._once(worker, html, logo)
            except RenderTimeout:
                log.warning("a PDF render overran its time limit; its process is replaced")
                self._replace(worker)
                raise
            except (EOFError, OSError, BrokenPipeError):
                log.warning("a PDF render process died (attempt %s); it is replaced", attempt)
                self._replace(worker)
                if attempt == 2:
                    raise RenderCrashed("the PDF render process died twice rendering this letter") from None
                continue
            except BaseException:
                self._idle.put(worker)  # the render raised (e.g. a refused asset): the worker is fine
                raise
            worker.renders += 1
            if worker.renders >= self.max_renders:
                self._replace(worker, counted=False)
            else:
                self._idle.put(worker)
            return pdf
        raise AssertionError("unreachable")

    async def render(self, html: str, logo: Any) -> bytes:
        future = self._threads.submit(self.render_blocking, html, logo)
        return await asyncio.wrap_future(future)

    def wait_ready(self, timeout: float = START_TIMEOUT) -> None:
        """Block until every worker has warmed up (the benchmark measures from there)."""
        deadline = time.monotonic() + timeout
        taken: list[_Worker] = []
        try:
            for _ in range(len(self._all)):
                worker = self._idle.get(timeout=max(0.0, deadline - time.monotonic()))
                try:
                    worker.wait_ready(max(0.0, deadline - time.monotonic()))
                except (EOFError, OSError):
                    self._replace(worker)
                    raise RenderCrashed("a PDF render process died while starting") from None
                taken.append(worker)
        finally:
            for worker in taken:
                self._idle.put(worker)

    def pids(self) -> list[int]:
        with self._lock:
            return sorted(w.process.pid for w in self._all if w.process.pid is not None)

    def close(self, *, wait: bool = False) -> None:
        with self._lock:
            self._closed = True
            workers = list(self._all)
            self._all.clear()
        for worker in workers:
            worker.stop(wait)
        self._threads.shutdown(wait=wait, cancel_futures=True)

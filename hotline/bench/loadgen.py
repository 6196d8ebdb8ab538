"""A lean HTTP/1.1 load generator for the benchmarks: keep-alive connections on asyncio protocols, responses parsed
by httptools (the C parser uvicorn itself uses), requests written as prepared bytes.

Why not httpx: it spends about a millisecond of CPU on each request. ``hotline bench calls`` at 100 calls/s makes
300 requests a second and reads 200 event streams; with httpx the client took a whole core of this 2-core machine,
fell behind, freed its agents late, and the server's screen-pop latency then measured the client's backlog rather
than the server. Two hundred real agents sit at two hundred browsers; the load generator must cost far less than the
server it measures, so it does the least a correct HTTP/1.1 client can do.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import cast

import httptools

IDLE_EXPIRY = 2.0
"""Seconds an idle keep-alive connection is reused: uvicorn closes idle ones after 5 s, and a request written into a
connection the server is closing would be lost."""


class ResponseError(ConnectionError):
    """The connection closed or broke before a whole response arrived."""


@dataclass(frozen=True)
class Response:
    status: int
    body: bytes


def _request_bytes(method: str, host: str, path: str, headers: dict[str, str], body: bytes) -> bytes:
    lines = [f"{method} {path} HTTP/1.1", f"host: {host}"]
    lines += [f"{name}: {value}" for name, value in headers.items()]
    if body or method in ("POST", "PUT", "PATCH"):
        lines.append(f"content-length: {len(body)}")
    return ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1") + body


class _Connection(asyncio.Protocol):
    """One keep-alive connection carrying one request at a time."""

    def __init__(self) -> None:
        self.transport: asyncio.Transport | None = None
        self.parser = httptools.HttpResponseParser(self)
        self.waiter: asyncio.Future[Response] | None = None
        self.body: list[bytes] = []
        self.received = False
        self.closed = False
        self.keep_alive = True
        self.idle_since = time.monotonic()

    # asyncio.Protocol
    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = cast("asyncio.Transport", transport)  # a TCP stream (uvloop's is not a subclass)

    def data_received(self, data: bytes) -> None:
        self.received = True
        try:
            self.parser.feed_data(data)
        except httptools.HttpParserError as exc:
            self._fail(ResponseError(f"unparseable response: {exc}"))
            self.close()

    def connection_lost(self, exc: Exception | None) -> None:
        self.closed = True
        self._fail(ResponseError("connection closed before the response"))

    # httptools callbacks
    def on_body(self, body: bytes) -> None:
        self.body.append(body)

    def on_message_complete(self) -> None:
        self.keep_alive = self.parser.should_keep_alive()
        waiter, self.waiter = self.waiter, None
        if waiter is not None and not waiter.done():
            waiter.set_result(Response(self.parser.get_status_code(), b"".join(self.body)))
        self.body = []

    def _fail(self, exc: Exception) -> None:
        waiter, self.waiter = self.waiter, None
        if waiter is not None and not waiter.done():
            waiter.set_exception(exc)

    async def exchange(self, raw: bytes) -> Response:
        assert self.transport is not None  # noqa: S101  (connected before use)
        self.received = False
        self.waiter = asyncio.get_running_loop().create_future()
        self.transport.write(raw)
        try:
            return await self.waiter
        finally:
            self.idle_since = time.monotonic()

    def close(self) -> None:
        self.closed = True
        if self.transport is not None:
            self.transport.close()


@dataclass
class HttpClient:
    """Keep-alive connections to one ``host:port``; ``request`` is safe to call from many tasks at once."""

    host: str
    port: int
    timeout: float = 30.0
    _idle: list[_Connection] = field(default_factory=list)
    _busy: set[_Connection] = field(default_factory=set)

    @classmethod
    def for_url(cls, url: str, timeout: float = 30.0) -> HttpClient:
        host, _, port = url.removeprefix("http://").rstrip("/").partition(":")
        return cls(host=host, port=int(port or 80), timeout=timeout)

    async def _connect(self) -> _Connection:
        _, protocol = await asyncio.get_running_loop().create_connection(_Connection, self.host, self.port)
        return protocol

    def _reusable(self) -> _Connection | None:
        now = time.monotonic()
        while self._idle:
            connection = self._idle.pop()
            if not connection.closed and now - connection.idle_since < IDLE_EXPIRY:
                return connection
            connection.close()
        return None

    async def request(
        self, method: str, path: str, *, headers: dict[str, str] | None = None, body: bytes = b""
    ) -> Response:
        raw = _request_bytes(method, f"{self.host}:{self.port}", path, headers or {}, body)
        connection = self._reusable()
        reused = connection is not None
        if connection is None:
            connection = await self._connect()
        self._busy.add(connection)
        try:
            try:
                response = await asyncio.wait_for(connection.exchange(raw), self.timeout)
            except ResponseError:
                if not (reused and not connection.received):
                    raise
                # The server closed an idle connection as the request went out: nothing of it was answered, so it
                # is sent once more on a fresh connection.
                self._busy.discard(connection)
                connection = await self._connect()
                self._busy.add(connection)
                response = await asyncio.wait_for(connection.exchange(raw), self.timeout)
        except BaseException:
            connection.close()
            raise
        finally:
            self._busy.discard(connection)
        if connection.keep_alive and not connection.closed:
            self._idle.append(connection)
        else:
            connection.close()
        return response

    async def stream(
        self, path: str, *, headers: dict[str, str], on_event: Callable[[str, str], None], opened: asyncio.Event
    ) -> int:
        """Hold a ``text/event-stream`` open on its own connection, calling ``on_event(event, id)`` for each event
        (the data lines are not decoded: the benchmark needs only the kind and the id). Returns the status when the
        stream ends; raises :class:`ResponseError` if it broke."""
        loop = asyncio.get_running_loop()
        _, stream = await loop.create_connection(lambda: _EventStream(on_event), self.host, self.port)
        assert stream.transport is not None  # noqa: S101  (connected)
        stream.transport.write(_request_bytes("GET", f"{self.host}:{self.port}", path, headers, b""))
        try:
            status = await stream.headers_done
            opened.set()
            await stream.ended
            return status
        finally:
            stream.transport.close()

    async def aclose(self) -> None:
        for connection in (*self._idle, *self._busy):
            connection.close()
        self._idle.clear()
        self._busy.clear()


class _EventStream(asyncio.Protocol):
    """A server-sent event stream: splits the (de-chunked) body into events and reports their kind and id."""

    def __init__(self, on_event: Callable[[str, str], None]) -> None:
        loop = asyncio.get_running_loop()
        self.transport: asyncio.Transport | None = None
        self.parser = httptools.HttpResponseParser(self)
        self.on_event = on_event
        self.headers_done: asyncio.Future[int] = loop.create_future()
        self.ended: asyncio.Future[None] = loop.create_future()
        self.buffer = b""

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = cast("asyncio.Transport", transport)  # a TCP stream (uvloop's is not a subclass)

    def data_received(self, data: bytes) -> None:
        try:
            self.parser.feed_data(data)
        except httptools.HttpParserError as exc:
            self._end(ResponseError(f"unparseable event stream: {exc}"))

    def connection_lost(self, exc: Exception | None) -> None:
        self._end(ResponseError("event stream closed"))

    def on_headers_complete(self) -> None:
        if not self.headers_done.done():
            self.headers_done.set_result(self.parser.get_status_code())

    def on_body(self, body: bytes) -> None:
        self.buffer += body
        while True:
            end = self.buffer.find(b"\r\n\r\n")
            if end < 0:
                return
            block, self.buffer = self.buffer[:end], self.buffer[end + 4 :]
            event = event_id = ""
            for line in block.split(b"\r\n"):
                if line.startswith(b"event: "):
                    event = line[7:].decode()
                elif line.startswith(b"id: "):
                    event_id = line[4:].decode()
            if event:
                self.on_event(event, event_id)

    def on_message_complete(self) -> None:
        self._end(None)

    def _end(self, exc: Exception | None) -> None:
        if not self.headers_done.done():
            self.headers_done.set_exception(exc or ResponseError("event stream ended before its headers"))
        if not self.ended.done():
            if exc is None:
                self.ended.set_result(None)
            else:
                self.ended.set_exception(exc)

"""A lean HTTP/1.1 client for the benchmark's Python driver: one keep-alive connection per
simulated client, parsed with httptools (the C parser uvicorn uses).

Why not httpx: on the 2-core machine it costs about 2 ms of CPU per request (measured on our
`/healthz`: 476 requests/s using 0.92 cores, where wrk reached 1,811/s using 0.06), CPU taken
from the servers under test, and more from the faster one. This client does only what the
scenarios need and costs a fraction of that (`ceiling` in the report gives the figure).
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from typing import cast
from urllib.parse import urlsplit

import httptools

TIMEOUT = 300.0
"""Seconds to wait for an answer: 64 Bundles at once on a slow server take minutes, a hung
server must still end the run."""


class FailedError(Exception):
    """A unit of work got an answer it should not have, or none; it counts as one error."""


@dataclass(frozen=True)
class Answer:
    """A response: status, headers by lower-case name, body."""

    status: int
    headers: dict[bytes, bytes]
    body: bytes


class _Protocol(asyncio.Protocol):
    """Feeds what arrives to the parser and hands each complete response to the waiter."""

    def __init__(self) -> None:
        self.parser = httptools.HttpResponseParser(self)
        self.transport: asyncio.Transport | None = None
        self.waiter: asyncio.Future[Answer] | None = None
        self.headers: dict[bytes, bytes] = {}
        self.body: list[bytes] = []

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        # uvloop's transports do not subclass asyncio.Transport, though they are one.
        self.transport = cast(asyncio.Transport, transport)

    def data_received(self, data: bytes) -> None:
        try:
            self.parser.feed_data(data)
        except httptools.HttpParserError as exc:
            self._fail(exc)

    def connection_lost(self, exc: Exception | None) -> None:
        self._fail(exc or ConnectionError("the server closed the connection"))

    def _fail(self, exc: Exception) -> None:
        if self.waiter is not None and not self.waiter.done():
            self.waiter.set_exception(FailedError(f"no answer: {exc}"))

    # httptools callbacks
    def on_header(self, name: bytes, value: bytes) -> None:
        self.headers[name.lower()] = value

    def on_body(self, body: bytes) -> None:
        self.body.append(body)

    def on_message_complete(self) -> None:
        answer = Answer(self.parser.get_status_code(), self.headers, b"".join(self.body))
        self.headers, self.body = {}, []
        if self.waiter is not None and not self.waiter.done():
            self.waiter.set_result(answer)


class Connection:
    """One keep-alive connection to `base` (`http://host:port/prefix`), reopened when the server
    closes it (Tomcat, under HAPI, closes a connection after 100 requests by default).

    Once `stop` is set no request is sent: a unit of several requests (a CRUD cycle) ends at
    its next request, so the driver waits for one request in flight per client, not a cycle.
    """

    def __init__(self, base: str, headers: dict[str, str], stop: asyncio.Event) -> None:
        self.stop = stop
        parts = urlsplit(base)
        self.host = parts.hostname or "127.0.0.1"
        self.port = parts.port or 80
        self.prefix = parts.path.rstrip("/")
        fixed = {"Host": f"{self.host}:{self.port}", "Accept": "application/fhir+json", **headers}
        self.fixed = "".join(f"{k}: {v}\r\n" for k, v in fixed.items())
        self.protocol: _Protocol | None = None

    async def _open(self) -> _Protocol:
        if (
            self.protocol is None
            or self.protocol.transport is None
            or (self.protocol.transport.is_closing())
        ):
            loop = asyncio.get_running_loop()
            _, protocol = await loop.create_connection(_Protocol, self.host, self.port)
            self.protocol = protocol
        return self.protocol

    async def request(
        self,
        method: str,
        path: str,
        *,
        expect: tuple[int, ...],
        body: bytes | None = None,
        headers: dict[str, str] | None = None,
    ) -> Answer:
        """Send one request, wait for its answer; `FailedError` unless its status is expected."""
        if self.stop.is_set():
            raise FailedError("the run is over")
        try:
            protocol = await self._open()
        except OSError as exc:
            raise FailedError(f"cannot connect: {exc}") from exc
        extra = "".join(f"{k}: {v}\r\n" for k, v in (headers or {}).items())
        if body is not None:
            extra += f"Content-Length: {len(body)}\r\n"
        head = f"{method} {self.prefix}{path} HTTP/1.1\r\n{self.fixed}{extra}\r\n".encode()
        protocol.waiter = asyncio.get_running_loop().create_future()
        assert protocol.transport is not None
        protocol.transport.write(head + body if body is not None else head)
        try:
            answer = await asyncio.wait_for(protocol.waiter, TIMEOUT)
        except TimeoutError as exc:
            protocol.transport.close()
            raise FailedError(f"{method} {path}: no answer within {TIMEOUT:.0f} s") from exc
        if answer.headers.get(b"connection", b"").lower() == b"close":
            protocol.transport.close()
        if answer.status not in expect:
            raise FailedError(f"{method} {path}: {answer.status} {answer.body[:300]!r}")
        return answer

    def close(self) -> None:
        if self.protocol is not None and self.protocol.transport is not None:
            self.protocol.transport.close()

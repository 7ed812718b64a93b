"""Closed-loop load: a fixed number of clients, each sending its next request as soon as the
previous one is answered; a warm-up, then a measured window.

Two drivers measure alike and report `Figures`:
- `wrk` (C, the Debian package, `bench/wrk.py`) for the scenarios made of one GET;
- `run` here (asyncio, uvloop, the lean client of `bench/client.py`) for the scenarios whose
  unit is several requests (the CRUD cycle, the portal's searches) or a large body (the
  transaction Bundle).

Both count what completes inside the window: units per second are completions in the window
divided by its length, and the latencies are those of the same completions (a unit begun in
the warm-up and finished in the window counts, with its whole latency). wrk abandons what is in
flight when the window closes (a few fast GETs); this driver waits for it without counting it,
so that the next run does not start on a server still busy with this one's writes, and keeps
the window open until as many units finished in it as there are clients (see `_loops`).
"""

from __future__ import annotations

import asyncio
import math
import random
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

from bench.client import Connection, FailedError

Unit = Callable[[Connection, random.Random], Awaitable[int]]
"""One unit of a scenario: sends its requests on the connection, returns how many; raises
`FailedError` on a wrong status or no answer."""


@dataclass(frozen=True)
class Figures:
    """What one scenario measured on one server at one concurrency.

    `rps` counts units (a request, a CRUD cycle, a Bundle, a portal view) per second and the
    latencies are those of whole units; `http_requests` counts the HTTP requests inside them.
    `client_cpu` is the CPU the driver itself used, in cores: on a shared machine it is CPU
    the server did not get.
    """

    scenario: str
    server: str
    concurrency: int
    driver: str
    seconds: float
    units: int
    errors: int
    http_requests: int
    rps: float
    p50_ms: float
    p95_ms: float
    p99_ms: float
    client_cpu: float


def percentile(ordered: list[float], share: float) -> float:
    """The nearest-rank percentile of an ascending list (0.0 for no values)."""
    if not ordered:
        return 0.0
    rank = max(1, math.ceil(share * len(ordered)))
    return ordered[rank - 1]


def latency_percentiles(latencies_ms: list[float]) -> tuple[float, float, float]:
    """p50, p95 and p99 of unsorted latencies."""
    ordered = sorted(latencies_ms)
    return (percentile(ordered, 0.50), percentile(ordered, 0.95), percentile(ordered, 0.99))


def figures(
    scenario: str,
    server: str,
    concurrency: int,
    *,
    driver: str,
    seconds: float,
    units: int,
    errors: int,
    http_requests: int,
    percentiles_ms: tuple[float, float, float],
    client_cpu_seconds: float,
) -> Figures:
    """Figures from the raw measurements of one run, rounded for the report."""
    p50, p95, p99 = percentiles_ms
    return Figures(
        scenario=scenario,
        server=server,
        concurrency=concurrency,
        driver=driver,
        seconds=round(seconds, 2),
        units=units,
        errors=errors,
        http_requests=http_requests,
        rps=round(units / seconds, 1) if seconds > 0 else 0.0,
        p50_ms=round(p50, 2),
        p95_ms=round(p95, 2),
        p99_ms=round(p99, 2),
        client_cpu=round(client_cpu_seconds / seconds, 2) if seconds > 0 else 0.0,
    )


MAX_EXTENSION = 15.0
"""Seconds a window may stay open past its length waiting for slow units (see `_Window`)."""


class _Window:
    """The measured window and what completed inside it.

    It opens after the warm-up and stays open past its length until as many units finished in
    it as there are clients, for at most `MAX_EXTENSION` seconds more: a unit that outlasts the
    warm-up (64 Bundles at once) would otherwise leave an empty window, or one that only the
    quickest clients got into.
    """

    def __init__(self, opens: float, closes: float, concurrency: int) -> None:
        self.opens, self.closes, self.concurrency = opens, closes, concurrency
        self.closed_at = math.inf
        self.over = asyncio.Event()
        self.latencies: list[float] = []
        self.errors = 0
        self.requests = 0

    def is_closed(self, now: float) -> bool:
        done = len(self.latencies) + self.errors
        enough = done >= self.concurrency or now >= self.closes + MAX_EXTENSION
        if self.closed_at == math.inf and now >= self.closes and enough:
            self.closed_at = now
            self.over.set()
        return now >= self.closed_at

    def record(self, started: float, ended: float, sent: int | None) -> None:
        """One unit finished (`sent` None: it failed); counted if it finished inside."""
        if self.opens <= ended <= self.closed_at:
            if sent is None:
                self.errors += 1
            else:
                self.latencies.append((ended - started) * 1000)
                self.requests += sent
        self.is_closed(ended)

    async def deadline(self) -> None:
        """Close the window at the latest moment allowed, units finished or not."""
        await asyncio.sleep(max(0.0, self.closes + MAX_EXTENSION - time.perf_counter()))
        self.is_closed(time.perf_counter())


async def _loops(
    base_url: str, headers: dict[str, str], unit: Unit, window: _Window, *, drain: bool
) -> None:
    """One loop per client until the window is over. With `drain`, the requests in flight then
    are awaited (not counted), so that the next run starts on a server that is not still busy
    with this one's writes; without, they are abandoned (the server is about to stop)."""

    async def loop(seed: int) -> None:
        rng = random.Random(seed)
        connection = Connection(base_url, headers, window.over)
        try:
            while not window.is_closed(started := time.perf_counter()):
                sent: int | None
                try:
                    sent = await unit(connection, rng)
                except FailedError:
                    sent = None
                    connection.close()  # whatever state it was in, start afresh
                window.record(started, time.perf_counter(), sent)
        finally:
            connection.close()

    loops = [asyncio.ensure_future(loop(n)) for n in range(window.concurrency)]
    deadline = asyncio.ensure_future(window.deadline())
    try:
        if not drain:
            await window.over.wait()
            for task in loops:
                task.cancel()
        ended = await asyncio.gather(*loops, return_exceptions=True)
    finally:
        deadline.cancel()
    # A cancelled loop ends in CancelledError (not an Exception); anything else is a bug.
    for outcome in ended:
        if isinstance(outcome, Exception):
            raise outcome


async def _cpu_from(opens: float) -> float:
    """The CPU time of this process when the window opens (to measure the client's cost)."""
    await asyncio.sleep(max(0.0, opens - time.perf_counter()))
    return time.process_time()


async def run(
    scenario: str,
    server: str,
    base_url: str,
    unit: Unit,
    *,
    concurrency: int,
    seconds: float,
    warmup: float,
    headers: dict[str, str],
    drain: bool = True,
) -> Figures:
    """Drive `unit` from `concurrency` loops: `warmup` seconds, then at least `seconds`
    measured; `drain=False` for the last run before the server stops."""
    opens = time.perf_counter() + warmup
    window = _Window(opens, opens + seconds, concurrency)
    cpu_at_open = asyncio.ensure_future(_cpu_from(opens))
    await _loops(base_url, headers, unit, window, drain=drain)
    # Up to the end of the drain rather than the window: a little high, never flattering.
    cpu = time.process_time() - await cpu_at_open
    length = window.closed_at - opens
    return figures(
        scenario,
        server,
        concurrency,
        driver="python",
        seconds=length,
        units=len(window.latencies),
        errors=window.errors,
        http_requests=window.requests,
        percentiles_ms=latency_percentiles(window.latencies),
        client_cpu_seconds=cpu * length / (time.perf_counter() - opens),
    )

"""A closed-loop HTTP load driver: fixed concurrency, fixed duration, warm-up excluded.

Each worker sends its next request as soon as the previous one is answered; the figures are
requests per second, latency percentiles and the error count, per scenario.
"""

from __future__ import annotations

import asyncio
import random
import statistics
import subprocess
import sys
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path

import httpx

BENCH_SCOPE = "system/*.cruds"
"""The benchmark client is an EHR integration allowed everything (audit records included)."""


def bearer(env: dict[str, str]) -> dict[str, str]:
    """An Authorization header with a development token for the server sharing `env`'s
    PK_DATA_DIR (the token CLI signs with that instance's key)."""
    cli = str(Path(sys.executable).parent / "patientkontrakt")
    command = [cli, "token", "--scope", BENCH_SCOPE, "--client-id", "bench", "--minutes", "720"]
    token = subprocess.run(command, env=env, check=True, capture_output=True, text=True)
    return {"Authorization": f"Bearer {token.stdout.strip()}"}


Request = Callable[[httpx.AsyncClient, random.Random], Awaitable[httpx.Response]]


@dataclass(frozen=True)
class Figures:
    """What one scenario measured."""

    scenario: str
    concurrency: int
    seconds: float
    requests: int
    errors: int
    rps: float
    p50_ms: float
    p95_ms: float
    p99_ms: float


def _percentile(sorted_ms: list[float], share: float) -> float:
    if not sorted_ms:
        return 0.0
    index = min(len(sorted_ms) - 1, round(share * (len(sorted_ms) - 1)))
    return sorted_ms[index]


async def run(
    name: str,
    base_url: str,
    request: Request,
    *,
    concurrency: int,
    seconds: float,
    warmup: float,
    headers: dict[str, str],
    expect: int = 200,
) -> Figures:
    """Drive `request` from `concurrency` workers for `warmup` + `seconds`; measure the latter."""
    latencies: list[float] = []
    errors = 0
    measuring = False
    limits = httpx.Limits(max_connections=concurrency, max_keepalive_connections=concurrency)
    async with httpx.AsyncClient(
        base_url=base_url, limits=limits, timeout=30, headers=headers
    ) as client:

        async def worker(seed: int, stop_at: float) -> None:
            nonlocal errors
            rng = random.Random(seed)
            while time.perf_counter() < stop_at:
                started = time.perf_counter()
                try:
                    response = await request(client, rng)
                    ok = response.status_code == expect
                except httpx.HTTPError:
                    ok = False
                if measuring:
                    latencies.append((time.perf_counter() - started) * 1000)
                    errors += 0 if ok else 1

        warm_end = time.perf_counter() + warmup
        await asyncio.gather(*(worker(i, warm_end) for i in range(concurrency)))
        measuring = True
        started = time.perf_counter()
        end = started + seconds
        await asyncio.gather(*(worker(1000 + i, end) for i in range(concurrency)))
        elapsed = time.perf_counter() - started
    ordered = sorted(latencies)
    return Figures(
        scenario=name,
        concurrency=concurrency,
        seconds=round(elapsed, 2),
        requests=len(ordered),
        errors=errors,
        rps=round(len(ordered) / elapsed, 1),
        p50_ms=round(statistics.median(ordered), 2) if ordered else 0.0,
        p95_ms=round(_percentile(ordered, 0.95), 2),
        p99_ms=round(_percentile(ordered, 0.99), 2),
    )

"""`make bench`: start the service as deployed, load synthetic contracts, drive the scenarios.

Writes `bench/results/latest.json` and prints a Markdown table for docs/performance.md.
Sizes: BENCH_SIZE=tiny (CI smoke), small (default), or a patient count.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import platform
import random
import socket
import subprocess
import sys
import tempfile
import time
from dataclasses import asdict
from pathlib import Path
from typing import Any

import httpx

from bench.dataset import BENCH_SYSTEM, transaction_bundles
from bench.driver import Figures, bearer, run

SIZES = {"tiny": (50, 2.0, 1.0), "small": (1000, 10.0, 3.0)}
JSON_HEADERS = {"Content-Type": "application/fhir+json"}


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _wait_ready(base: str, process: subprocess.Popen[bytes]) -> None:
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise SystemExit("the service exited during start-up")
        try:
            if httpx.get(f"{base}/metadata", timeout=2).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.3)
    raise SystemExit("the service did not answer /fhir/metadata within 60 s")


async def _load(
    base: str, patients: int, headers: dict[str, str]
) -> tuple[float, int, list[str], list[str]]:
    """Load the contracts; returns seconds, resources stored, CarePlan ids and Patient ids."""
    plans: list[str] = []
    stored = 0
    started = time.perf_counter()
    async with httpx.AsyncClient(base_url=base, timeout=120, headers=headers) as client:
        for bundle in transaction_bundles(patients, per_bundle=5):
            response = await client.post("", json=bundle, headers=JSON_HEADERS)
            response.raise_for_status()
            for entry in response.json()["entry"]:
                stored += 1
                location = entry["response"]["location"]
                if location.startswith("CarePlan/"):
                    plans.append(location.split("/")[1])
    return time.perf_counter() - started, stored, plans, [str(n) for n in range(patients)]


async def _scenarios(
    base: str,
    plans: list[str],
    patient_keys: list[str],
    seconds: float,
    warmup: float,
    concurrency: list[int],
    headers: dict[str, str],
) -> list[Figures]:
    async def read_plan(client: httpx.AsyncClient, rng: random.Random) -> httpx.Response:
        return await client.get(f"/CarePlan/{rng.choice(plans)}")

    async def find_patient(client: httpx.AsyncClient, rng: random.Random) -> httpx.Response:
        key = rng.choice(patient_keys)
        return await client.get("/Patient", params={"identifier": f"{BENCH_SYSTEM}|{key}"})

    async def create_patient(client: httpx.AsyncClient, rng: random.Random) -> httpx.Response:
        body = {"resourceType": "Patient", "name": [{"family": f"Ny{rng.randrange(10**9)}"}]}
        return await client.post("/Patient", json=body, headers=JSON_HEADERS)

    figures: list[Figures] = []
    for c in concurrency:
        figures.append(
            await run(
                "read CarePlan by id",
                base,
                read_plan,
                concurrency=c,
                seconds=seconds,
                warmup=warmup,
                headers=headers,
            )
        )
        figures.append(
            await run(
                "Patient?identifier=",
                base,
                find_patient,
                concurrency=c,
                seconds=seconds,
                warmup=warmup,
                headers=headers,
            )
        )
        figures.append(
            await run(
                "create Patient",
                base,
                create_patient,
                concurrency=c,
                seconds=seconds,
                warmup=warmup,
                headers=headers,
                expect=201,
            )
        )
    return figures


def _table(figures: list[Figures]) -> str:
    lines = [
        "| scenario | concurrency | req/s | p50 ms | p95 ms | p99 ms | errors |",
        "|---|---:|---:|---:|---:|---:|---:|",
    ]
    lines += [
        f"| {f.scenario} | {f.concurrency} | {f.rps} | {f.p50_ms} | {f.p95_ms} | {f.p99_ms} "
        f"| {f.errors} |"
        for f in figures
    ]
    return "\n".join(lines)


def main() -> None:
    """Parse arguments, run the benchmark, print and save the figures."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--size", default=os.environ.get("BENCH_SIZE", "small"))
    parser.add_argument("--workers", type=int, default=os.cpu_count() or 1)
    parser.add_argument("--concurrency", default="1,16")
    parser.add_argument("--database-url", default=os.environ.get("BENCH_DATABASE_URL"))
    parser.add_argument("--output", type=Path, default=Path("bench/results/latest.json"))
    args = parser.parse_args()
    patients, seconds, warmup = SIZES.get(args.size) or (int(args.size), 10.0, 3.0)
    concurrency = [int(c) for c in args.concurrency.split(",")]

    with tempfile.TemporaryDirectory(prefix="pk-bench-") as data_dir:
        port = _free_port()
        env = {
            **os.environ,
            "PK_DATA_DIR": data_dir,
            "PK_PORT": str(port),
            "PK_WORKERS": str(args.workers),
            "PK_DEMO_DATA": "0",
        }
        if args.database_url:
            env["DATABASE_URL"] = args.database_url
        cli = str(Path(sys.executable).parent / "patientkontrakt")
        subprocess.run([cli, "migrate"], env=env, check=True, capture_output=True)
        server = subprocess.Popen(
            [cli, "serve"], env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
        )
        base = f"http://127.0.0.1:{port}/fhir"
        try:
            _wait_ready(base, server)
            headers = bearer(env)
            load_s, stored, plans, keys = asyncio.run(_load(base, patients, headers))
            figures = asyncio.run(
                _scenarios(base, plans, keys, seconds, warmup, concurrency, headers)
            )
        finally:
            server.terminate()
            server.wait(timeout=30)

    database = "PostgreSQL" if args.database_url else "SQLite"
    result: dict[str, Any] = {
        "date": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()),
        "machine": (
            f"{platform.machine()}, {os.cpu_count()} cores, Python {platform.python_version()}"
        ),
        "database": database,
        "workers": args.workers,
        "patients": patients,
        "load": {
            "seconds": round(load_s, 2),
            "resources": stored,
            "resources_per_second": round(stored / load_s, 1),
        },
        "scenarios": [asdict(f) for f in figures],
    }
    args.output.parent.mkdir(parents=True, exist_ok=True)
    args.output.write_text(json.dumps(result, indent=2) + "\n")
    print(
        f"{result['date']} · {result['machine']} · {database} · {args.workers} workers · "
        f"{patients} patients"
    )
    print(f"load: {stored} resources in {load_s:.1f} s ({stored / load_s:.0f}/s)\n")
    print(_table(figures))
    errors = sum(f.errors for f in figures)
    if errors:
        raise SystemExit(f"{errors} requests failed")


if __name__ == "__main__":
    main()

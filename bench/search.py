"""Search benchmark on PostgreSQL: the contract searches at 100,000 patients (1.5 M resources).

    BENCH_DATABASE_URL=postgresql://user:pass@127.0.0.1/pk_bench \
        python -m bench.search --patients 100000

Loads the synthetic county through `patientkontrakt load` (skipped when the database already
holds it), serves it with uvicorn, and reports the server time (`Server-Timing`) of each search
over many patients, plus PostgreSQL's EXPLAIN ANALYZE of the statement each search runs.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import random
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import httpx
import orjson
from sqlalchemy import create_engine, func, select, text
from sqlalchemy.dialects import postgresql

from bench.dataset import PER_PATIENT, resources
from bench.driver import bearer
from bench.run import _free_port, _wait_ready
from patientkontrakt.fhir.listing import Paging
from patientkontrakt.fhir.paging import PageSigner
from patientkontrakt.search.engine import SearchRequest, _statement
from patientkontrakt.search.query import parse
from patientkontrakt.store.database import sync_url
from patientkontrakt.store.tables import resource

SCENARIOS = {
    "CarePlan?patient=X&status=active": lambda n: (
        "CarePlan",
        {"patient": f"p-{n}", "status": "active"},
    ),
    "CareTeam?patient=X&status=active": lambda n: (
        "CareTeam",
        {"patient": f"p-{n}", "status": "active"},
    ),
    "Appointment?patient=X&date=ge2026-06-01&_sort=date": lambda n: (
        "Appointment",
        {"patient": f"p-{n}", "date": "ge2026-06-01", "_sort": "date"},
    ),
    # The whole contract as a document: six searches in the compartment, not a search itself.
    "Patient/X/$patient-contract": lambda n: (f"Patient/p-{n}/$patient-contract", {}),
    # A list view: the first page of 50 active plans with their care teams.
    "CarePlan?status=active&_count=50&_include=CarePlan:care-team": lambda _n: (
        "CarePlan",
        {"status": "active", "_count": "50", "_include": "CarePlan:care-team"},
    ),
}


def _cli() -> str:
    return str(Path(sys.executable).parent / "patientkontrakt")


def load(url: str, patients: int, env: dict[str, str]) -> dict[str, Any]:
    """Load the county unless it is there; returns the load figures (or the existing count)."""
    engine = create_engine(sync_url(url))
    subprocess.run([_cli(), "migrate"], env=env, check=True, capture_output=True)
    with engine.connect() as conn:
        have = conn.execute(select(func.count()).select_from(resource)).scalar_one()
    expected = patients * PER_PATIENT
    if have >= expected:
        engine.dispose()
        return {"resources": have, "loaded_now": False}
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "county.ndjson"
        with path.open("wb") as out:
            for item in resources(patients):
                out.write(orjson.dumps(item) + b"\n")
        started = time.perf_counter()
        subprocess.run([_cli(), "load", "--batch-size", "1000", str(path)], env=env, check=True)
        seconds = time.perf_counter() - started
    with engine.begin() as conn:
        conn.execute(text("ANALYZE"))
        have = conn.execute(select(func.count()).select_from(resource)).scalar_one()
    engine.dispose()
    return {
        "resources": have,
        "loaded_now": True,
        "seconds": round(seconds, 1),
        "resources_per_second": round(have / seconds, 1),
    }


async def measure(
    base: str, patients: int, requests: int, headers: dict[str, str]
) -> dict[str, dict[str, float]]:
    """Median and p95 of the server time of each scenario, over random patients."""
    figures: dict[str, dict[str, float]] = {}
    rng = random.Random(7)
    async with httpx.AsyncClient(base_url=base, timeout=60, headers=headers) as client:
        for name, build in SCENARIOS.items():
            server_ms: list[float] = []
            client_ms: list[float] = []
            for i in range(requests + 20):
                resource_type, params = build(rng.randrange(patients))
                started = time.perf_counter()
                response = await client.get(f"/{resource_type}", params=params)
                elapsed = (time.perf_counter() - started) * 1000
                response.raise_for_status()
                if i < 20:
                    continue  # warm-up
                server_ms.append(float(response.headers["server-timing"].split("dur=")[1]))
                client_ms.append(elapsed)
            server_ms.sort()
            figures[name] = {
                "server_median_ms": round(statistics.median(server_ms), 2),
                "server_p95_ms": round(server_ms[int(0.95 * (len(server_ms) - 1))], 2),
                "client_median_ms": round(statistics.median(client_ms), 2),
                "entries_last": len(response.json().get("entry", [])),
            }
    return figures


def explain(url: str, patients: int) -> dict[str, str]:
    """EXPLAIN ANALYZE of the statement each scenario runs, for one patient."""
    plans: dict[str, str] = {}
    paging = Paging("http://bench/fhir", PageSigner(b"bench", 60), 20, 1000)
    engine = create_engine(sync_url(url))
    with engine.connect() as conn:
        for name, build in SCENARIOS.items():
            resource_type, params = build(patients // 2)
            if "$" in resource_type:
                continue  # an operation: several statements, timed by `measure` only
            pairs = list(params.items())
            query = parse((resource_type,), pairs, default_count=20, max_count=1000)
            statement = _statement(SearchRequest(query, resource_type, pairs, paging), False, None)
            compiled = statement.compile(
                dialect=postgresql.psycopg.dialect(), compile_kwargs={"render_postcompile": True}
            )
            rows = conn.exec_driver_sql(
                "EXPLAIN (ANALYZE, BUFFERS) " + str(compiled), compiled.params
            ).all()
            plans[name] = "\n".join(r[0] for r in rows)
    engine.dispose()
    return plans


def main() -> None:
    """Load (if needed), serve, measure and explain; print JSON and save it."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--patients", type=int, default=100_000)
    parser.add_argument("--requests", type=int, default=300)
    parser.add_argument("--database-url", default=os.environ.get("BENCH_DATABASE_URL"))
    parser.add_argument("--output", type=Path, default=Path("bench/results/search.json"))
    args = parser.parse_args()
    if not args.database_url or not args.database_url.startswith("postgresql"):
        raise SystemExit("set BENCH_DATABASE_URL to a PostgreSQL database for the benchmark")
    with tempfile.TemporaryDirectory(prefix="pk-bench-") as data_dir:
        port = _free_port()
        env = {
            **os.environ,
            "PK_DATA_DIR": data_dir,
            "PK_PORT": str(port),
            "DATABASE_URL": args.database_url,
            "PK_WORKERS": "2",
            "PK_DEMO_DATA": "0",
        }
        loaded = load(args.database_url, args.patients, env)
        server = subprocess.Popen(
            [_cli(), "serve"], env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
        )
        base = f"http://127.0.0.1:{port}/fhir"
        try:
            _wait_ready(base, server)
            figures = asyncio.run(measure(base, args.patients, args.requests, bearer(env)))
        finally:
            server.terminate()
            server.wait(timeout=30)
    result = {
        "date": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()),
        "patients": args.patients,
        "load": loaded,
        "searches": figures,
        "plans": explain(args.database_url, args.patients),
    }
    args.output.parent.mkdir(parents=True, exist_ok=True)
    args.output.write_text(json.dumps(result, indent=2, ensure_ascii=False) + "\n")
    print(json.dumps({k: v for k, v in result.items() if k != "plans"}, indent=2))


if __name__ == "__main__":
    main()

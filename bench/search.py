"""Search benchmark on PostgreSQL: the contract searches at 100,000 patients (about 1 M
resources of the demo county), one request at a time, timed inside the server.

    BENCH_DATABASE_URL=postgresql://user:pass@127.0.0.1/pk_bench \
        python -m bench.search --patients 100000

Loads the demo county through `patientkontrakt load` (skipped when the database already holds
its last patient), serves it with uvicorn, and reports the server time (`Server-Timing`) of each
search over many patients, plus PostgreSQL's EXPLAIN ANALYZE of the statement each search runs.
`make bench` measures the same searches under load, beside HAPI FHIR; this shows where the time
of one goes.
"""

from __future__ import annotations

import argparse
import asyncio
import datetime as dt
import json
import os
import random
import statistics
import tempfile
import time
from pathlib import Path
from typing import Any

import httpx
from sqlalchemy import create_engine, func, select, text
from sqlalchemy.dialects import postgresql

from bench import data
from bench.driver import percentile
from bench.servers import Ours, Server
from patientkontrakt.contract.demo_base import today_in_stockholm
from patientkontrakt.contract.demo_care import patient_id
from patientkontrakt.fhir.listing import Paging
from patientkontrakt.fhir.paging import PageSigner
from patientkontrakt.search.engine import SearchRequest, _statement
from patientkontrakt.search.query import parse
from patientkontrakt.store.database import sync_url
from patientkontrakt.store.tables import resource

TODAY = today_in_stockholm()
"""Appointments of a county loaded on another day are still spread around this one."""

SCENARIOS = {
    "CarePlan?patient=X&status=active": lambda n: (
        "CarePlan",
        {"patient": patient_id(n), "status": "active"},
    ),
    "CareTeam?patient=X&status=active": lambda n: (
        "CareTeam",
        {"patient": patient_id(n), "status": "active"},
    ),
    "Appointment?patient=X&date=ge<today>&_sort=date": lambda n: (
        "Appointment",
        {"patient": patient_id(n), "date": f"ge{TODAY.isoformat()}", "_sort": "date"},
    ),
    # The whole contract as a document: six searches in the compartment, not a search itself.
    "Patient/X/$patient-contract": lambda n: (f"Patient/{patient_id(n)}/$patient-contract", {}),
    # A list view: the first page of 50 active plans with their care teams.
    "CarePlan?status=active&_count=50&_include=CarePlan:care-team": lambda _n: (
        "CarePlan",
        {"status": "active", "_count": "50", "_include": "CarePlan:care-team"},
    ),
}


def load(ours: Ours, url: str, patients: int, folder: Path) -> dict[str, Any]:
    """Load the county unless its last patient is there; the load figures (or the count)."""
    engine = create_engine(sync_url(url))
    last = select(resource.c.resource_id).where(
        resource.c.resource_type == "Patient", resource.c.resource_id == patient_id(patients)
    )
    with engine.connect() as conn:
        there = conn.execute(last).first() is not None
    if not there:
        county = data.write_county(folder, patients, TODAY)
        loaded = data.load_ours(ours, county)
    with engine.begin() as conn:
        if not there:
            conn.execute(text("ANALYZE"))
        have = conn.execute(select(func.count()).select_from(resource)).scalar_one()
    engine.dispose()
    if there:
        return {"resources": have, "loaded_now": False}
    return {
        "resources": have,
        "loaded_now": True,
        "seconds": round(loaded.seconds, 1),
        "resources_per_second": loaded.per_second,
    }


async def measure(server: Server, patients: int, requests: int) -> dict[str, dict[str, float]]:
    """Median and p95 of the server time of each scenario, over random patients."""
    figures: dict[str, dict[str, float]] = {}
    rng = random.Random(7)
    async with httpx.AsyncClient(
        base_url=server.base, timeout=60, headers=server.headers
    ) as client:
        for name, build in SCENARIOS.items():
            server_ms: list[float] = []
            client_ms: list[float] = []
            for i in range(requests + 20):
                resource_type, params = build(rng.randint(1, patients))
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
                "server_p95_ms": round(percentile(server_ms, 0.95), 2),
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
    with tempfile.TemporaryDirectory(prefix="pk-bench-") as folder:
        ours = Ours("postgresql", Path(folder), args.database_url, os.cpu_count() or 1)
        ours.command("migrate")
        loaded = load(ours, args.database_url, args.patients, Path(folder))
        with ours.serving() as server:
            figures = asyncio.run(measure(server, args.patients, args.requests))
    result = {
        "date": dt.datetime.now(dt.UTC).strftime("%Y-%m-%d %H:%M UTC"),
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

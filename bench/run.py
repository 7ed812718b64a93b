"""`make bench`: our server (SQLite and PostgreSQL) and HAPI FHIR side by side, issue 7.

    BENCH_SIZE=small make bench          # python -m bench.run --size small

For each server in turn: a fresh database, the demo county loaded through the server's own load
path (timed), the server started as deployed, then every scenario at every concurrency, each
after a warm-up that is not measured; then the server stops, so the servers never share the
cores. Writes `bench/results/<size>-<time>.json` and `latest.json` and prints the Markdown for
docs/performance.md. Exits 1 when a run got nothing but errors (the harness is broken), never
because a figure is slow.
"""

from __future__ import annotations

import argparse
import asyncio
import dataclasses
import datetime as dt
import json
import os
import platform
import re
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from importlib.metadata import version
from pathlib import Path
from typing import Any

import uvloop

from bench import data, driver, report, wrk
from bench.client import Connection
from bench.scenarios import SCENARIOS, Scenario
from bench.servers import HAPI_JAVA_OPTS, ROOT, Ours, Postgres, Server, hapi, tree_rss_mb
from patientkontrakt.contract.demo_base import today_in_stockholm

RESULTS = ROOT / "bench" / "results"


@dataclass(frozen=True)
class Profile:
    """A size: patients, seconds measured and of warm-up per run, and the concurrencies."""

    patients: int
    seconds: int
    warmup: int
    concurrency: tuple[int, ...]


SIZES = {
    # CI's smoke run: proves every scenario works on every server, measures nothing worth keeping.
    "tiny": Profile(20, 1, 1, (1, 16)),
    # 7 scenarios x 3 concurrencies x 3 servers x 4 s, plus loads, start-ups and the time slow
    # writes at 64 clients take: under 10 minutes (8.3 measured on 2026-11-28, 2.5 of it HAPI's).
    "small": Profile(1_000, 3, 1, (1, 16, 64)),
    "medium": Profile(10_000, 10, 5, (1, 16, 64)),
    "large": Profile(100_000, 10, 5, (1, 16, 64)),
}
SERVERS = ("sqlite", "postgresql", "hapi")
OURS_DATABASE = "pk_bench_ours"
HAPI_DATABASE = "hapi_bench"


def log(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


class Bench:
    """One run: the county, the profile, and the figures gathered so far."""

    def __init__(self, profile: Profile, county: data.County, folder: Path) -> None:
        self.profile = profile
        self.county = county
        self.folder = folder
        self.figures: list[driver.Figures] = []
        self.runner = asyncio.Runner(loop_factory=uvloop.new_event_loop)

    def scenario(self, scenario: Scenario, server: Server, *, last: bool = False) -> None:
        """Every concurrency of one scenario on one server; `last`: the server stops after."""
        # Built once per server: the transaction pool must not hand out a Bundle twice.
        unit = scenario.unit(server, self.county) if scenario.unit else None
        for c in self.profile.concurrency:
            if scenario.paths is not None:
                found = wrk.run(
                    scenario.key,
                    server.key,
                    server.origin,
                    scenario.paths(self.county),
                    folder=self.folder,
                    concurrency=c,
                    seconds=self.profile.seconds,
                    warmup=self.profile.warmup,
                    headers=server.headers,
                )
            else:
                assert unit is not None
                found = self.runner.run(
                    driver.run(
                        scenario.key,
                        server.key,
                        server.base,
                        unit,
                        concurrency=c,
                        seconds=self.profile.seconds,
                        warmup=self.profile.warmup,
                        headers=server.headers,
                        # Waiting for the backlog of 64 slow writes would only delay the stop.
                        drain=not (last and c == self.profile.concurrency[-1]),
                    )
                )
            self.figures.append(found)
            log(
                f"  {scenario.key:<19} c={c:<3} {found.rps:>9,.1f}/s  p50 {found.p50_ms:8.1f}  "
                f"p99 {found.p99_ms:8.1f} ms  errors {found.errors}  "
                f"client {found.client_cpu} cores"
            )

    def ceiling(self, server: Server) -> dict[str, driver.Figures]:
        """Each driver on a cheap request (`/healthz`, 16 clients): the rate there is the
        server's; the driver's CPU a request is what would cap it."""

        async def healthz(connection: Connection, _rng: Any) -> int:
            await connection.request("GET", "/healthz", expect=(200,))
            return 1

        p = self.profile
        found = {
            "wrk": wrk.run(
                "ceiling",
                server.key,
                server.origin,
                ["/healthz"],
                folder=self.folder,
                concurrency=16,
                seconds=p.seconds,
                warmup=p.warmup,
                headers={},
            ),
            "python": self.runner.run(
                driver.run(
                    "ceiling",
                    server.key,
                    server.origin,
                    healthz,
                    concurrency=16,
                    seconds=p.seconds,
                    warmup=p.warmup,
                    headers={},
                )
            ),
        }
        for name, f in found.items():
            log(f"  driver ceiling, {name}: {f.rps:,.0f}/s using {f.client_cpu} cores")
        return found


def _machine() -> dict[str, Any]:
    cpu = platform.machine()
    for line in Path("/proc/cpuinfo").read_text().splitlines():
        if line.startswith("model name"):
            cpu = line.split(":", 1)[1].strip()
            break
    memory_kb = next(
        int(line.split()[1])
        for line in Path("/proc/meminfo").read_text().splitlines()
        if line.startswith("MemTotal:")
    )
    os_name = platform.system()
    release = Path("/etc/os-release")
    if release.is_file():
        match = re.search(r'^PRETTY_NAME="?([^"\n]*)', release.read_text(), re.MULTILINE)
        os_name = match.group(1) if match else os_name
    return {
        "cpu": cpu,
        "cores": os.cpu_count(),
        "memory_gb": round(memory_kb / 1024 / 1024, 1),
        "os": f"{os_name}, Linux {platform.release()}",
    }


def _first_line(command: list[str]) -> str:
    done = subprocess.run(command, capture_output=True, text=True, check=False)
    return (done.stdout or done.stderr).strip().splitlines()[0]


def _versions(postgres: Postgres | None, servers: tuple[str, ...]) -> dict[str, str]:
    found = {
        "patientkontrakt": version("patientkontrakt"),
        "Python": platform.python_version(),
        "uvicorn": version("uvicorn"),
        "wrk": _first_line(["wrk", "--version"]).split()[1],
    }
    if postgres is not None:
        found["PostgreSQL"] = postgres.version()
    if "hapi" in servers:
        pom = (ROOT / "tests" / "hapi_sandbox" / "pom.xml").read_text()
        hapi_version = re.search(r"<hapi.fhir.version>([^<]+)<", pom)
        found["HAPI FHIR"] = hapi_version.group(1) if hapi_version else "?"
        java = re.search(r'"([^"]+)"', _first_line(["java", "-version"]))
        found["Java"] = java.group(1) if java else "?"
    return found


@contextmanager
def _prepared(
    bench: Bench, key: str, postgres: Postgres | None, workers: int
) -> Iterator[tuple[Server, data.Load, str]]:
    """A server holding the county, how long the load took, and how the server runs."""
    folder = bench.folder / key
    folder.mkdir()
    resources = f"{bench.county.resources:,} resources"
    if key == "hapi":
        assert postgres is not None
        with hapi(postgres, HAPI_DATABASE, folder) as server:
            log(f"{server.label}: loading {resources} (transaction Bundles of PUTs)")
            loaded = data.load_hapi(server, bench.county)
            # Fresh planner statistics on both sides: our load ends with ANALYZE too.
            started = time.perf_counter()
            postgres.analyze(HAPI_DATABASE)
            loaded = dataclasses.replace(
                loaded, seconds=loaded.seconds + time.perf_counter() - started
            )
            yield server, loaded, f"sandbox, {HAPI_JAVA_OPTS}, no authentication"
        return
    url = postgres.fresh(OURS_DATABASE) if key == "postgresql" and postgres else None
    ours = Ours(key, folder, url, workers)
    ours.command("migrate")
    log(f"{ours.label}: loading {resources} (patientkontrakt load)")
    loaded = data.load_ours(ours, bench.county)
    with ours.serving() as server:
        yield server, loaded, f"uvicorn, {workers} workers, audit on"


def _run_server(
    bench: Bench, key: str, postgres: Postgres | None, workers: int, measure_ceiling: bool
) -> tuple[dict[str, Any], dict[str, Any]]:
    """Load, serve and drive one server; its description and, if asked, the driver ceiling."""
    ceiling: dict[str, Any] = {}
    started = time.monotonic()
    with _prepared(bench, key, postgres, workers) as (server, loaded, how):
        log(f"{server.label}: loaded in {loaded.seconds:.1f} s ({loaded.per_second:,.0f}/s)")
        if measure_ceiling:
            ceiling = {"server": server.label, **bench.ceiling(server)}
        ordered = sorted(SCENARIOS, key=lambda s: s.writes)
        for scenario in ordered:
            bench.scenario(scenario, server, last=scenario is ordered[-1])
        rss = tree_rss_mb(server.pid)
    described = {
        "label": server.label,
        "how": how,
        "load": {**dataclasses.asdict(loaded), "per_second": loaded.per_second},
        "rss_mb": rss,
        "wall_s": round(time.monotonic() - started, 1),
    }
    log(f"{server.label}: done after {described['wall_s'] / 60:.1f} min")
    return described, ceiling


def main() -> None:
    """Parse the arguments, run every server, write and print the result."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--size", choices=SIZES, default=os.environ.get("BENCH_SIZE", "small"))
    parser.add_argument("--servers", default=",".join(SERVERS), help="of sqlite,postgresql,hapi")
    parser.add_argument("--workers", type=int, default=os.cpu_count() or 1)
    args = parser.parse_args()
    servers = tuple(s for s in SERVERS if s in args.servers.split(","))
    if not wrk.available():
        raise SystemExit("wrk is missing: scripts/install-wrk installs it (make bench does)")
    profile = SIZES[args.size]
    started = time.monotonic()
    when = dt.datetime.now(dt.UTC)
    needs_postgres = "postgresql" in servers or "hapi" in servers
    postgres = Postgres.discover() if needs_postgres else None
    with tempfile.TemporaryDirectory(prefix="pk-bench-") as folder:
        # The county's times are relative to the day of the run in Sweden, as the demo's are.
        county = data.write_county(Path(folder), profile.patients, today_in_stockholm())
        log(f"demo county: {profile.patients:,} patients, {county.resources:,} resources")
        bench = Bench(profile, county, Path(folder))
        described: dict[str, Any] = {}
        ceiling: dict[str, Any] = {}
        with bench.runner:
            for key in servers:
                # Measured once, on the first of ours: wrk and the Python driver, same request.
                measure = not ceiling and key != "hapi"
                described[key], found = _run_server(bench, key, postgres, args.workers, measure)
                ceiling = ceiling or found
    command = _command(args.size, servers)
    result = {
        "date": when.strftime("%Y-%m-%d %H:%M UTC"),
        "command": command,
        "size": args.size,
        "patients": profile.patients,
        "resources": county.resources,
        "profile": dataclasses.asdict(profile),
        "machine": _machine(),
        "versions": _versions(postgres, servers),
        "servers": described,
        "ceiling": {
            name: dataclasses.asdict(f) if isinstance(f, driver.Figures) else f
            for name, f in ceiling.items()
        },
        "scenarios": [{"key": s.key, "title": s.title, "unit": s.unit_name} for s in SCENARIOS],
        "figures": [dataclasses.asdict(f) for f in bench.figures],
        "duration_s": round(time.monotonic() - started, 1),
    }
    RESULTS.mkdir(exist_ok=True)
    text = json.dumps(result, indent=2, ensure_ascii=False) + "\n"
    (RESULTS / f"{args.size}-{when.strftime('%Y%m%dT%H%MZ')}.json").write_text(text)
    (RESULTS / "latest.json").write_text(text)
    print(report.markdown(result, _baseline(args.size)))
    failed = report.broken(result)
    if failed:
        raise SystemExit("the harness is broken, no unit succeeded in: " + "; ".join(failed))


def _command(size: str, servers: tuple[str, ...]) -> str:
    """The command line that made the run, as a reader would type it again."""
    if "MAKELEVEL" in os.environ:
        return f"BENCH_SIZE={size} make bench"
    chosen = "" if servers == SERVERS else f" --servers {','.join(servers)}"
    return f"python -m bench.run --size {size}{chosen}"


def _baseline(size: str) -> dict[str, Any] | None:
    """For a county larger than small, the newest small run, for the growth target."""
    if size in ("tiny", "small"):
        return None
    runs = sorted(RESULTS.glob("small-*.json"))
    return json.loads(runs[-1].read_text()) if runs else None


if __name__ == "__main__":
    main()

"""The GET scenarios under `wrk` (C, the Debian package): random paths from a file, one
connection per simulated client, closed loop.

A Python client on the same two cores caps those scenarios (`ceiling` in `bench/run.py`
measures how much); wrk with one thread uses a fraction of a core at the same rates.
"""

from __future__ import annotations

import json
import resource
import shutil
import subprocess
from pathlib import Path

from bench.driver import Figures, figures

SCRIPT = Path(__file__).with_name("wrk_paths.lua")
TIMEOUT = "60s"
"""wrk's default of 2 s would count a slow answer under load as an error, not as latency."""


def available() -> bool:
    """Whether `wrk` is on PATH (`scripts/install-wrk` installs it)."""
    return shutil.which("wrk") is not None


def _wrk(
    origin: str, paths_file: Path, concurrency: int, seconds: int, headers: dict[str, str]
) -> dict[str, int]:
    # One thread: it keeps up with every rate measured here and leaves the cores to the server.
    command = ["wrk", "-t1", f"-c{concurrency}", f"-d{seconds}s", f"--timeout={TIMEOUT}"]
    for name, value in headers.items():
        command += ["-H", f"{name}: {value}"]
    command += ["-s", str(SCRIPT), origin, "--", str(paths_file), str(concurrency)]
    done = subprocess.run(command, capture_output=True, text=True, check=False)
    lines = [line for line in done.stdout.splitlines() if line.startswith("{")]
    if done.returncode != 0 or not lines:
        raise RuntimeError(f"wrk failed ({done.returncode}): {done.stderr or done.stdout}")
    parsed: dict[str, int] = json.loads(lines[-1])
    return parsed


def run(
    scenario: str,
    server: str,
    origin: str,
    paths: list[str],
    *,
    folder: Path,
    concurrency: int,
    seconds: int,
    warmup: int,
    headers: dict[str, str],
) -> Figures:
    """GET random `paths` (absolute paths on `origin`) for `warmup` seconds unmeasured, then
    for `seconds`; wrk takes whole seconds."""
    paths_file = folder / f"{scenario}.paths".replace(" ", "-")
    paths_file.write_text("\n".join(paths) + "\n")
    _wrk(origin, paths_file, concurrency, warmup, headers)
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    measured = _wrk(origin, paths_file, concurrency, seconds, headers)
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = (after.ru_utime + after.ru_stime) - (before.ru_utime + before.ru_stime)
    status_errors = measured["status_errors"]
    return figures(
        scenario,
        server,
        concurrency,
        driver="wrk",
        seconds=measured["duration_us"] / 1e6,
        # wrk counts an answer of 400 or more as a request and as an error: a unit is a success.
        units=measured["requests"] - status_errors,
        errors=status_errors + measured["socket_errors"],
        http_requests=measured["requests"],
        percentiles_ms=(
            measured["p50_us"] / 1000,
            measured["p95_us"] / 1000,
            measured["p99_us"] / 1000,
        ),
        client_cpu_seconds=cpu,
    )

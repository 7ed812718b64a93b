"""The benchmark's result: a JSON document and the Markdown tables of docs/performance.md.

Every figure of ours is set beside HAPI's figure of the same scenario and concurrency in the
same run, with the ratio ours ÷ HAPI (above 1: ours is faster). The issue's targets are checked
on the ratios (not on absolute figures, which depend on the machine).
"""

from __future__ import annotations

import argparse
import json
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from bench.data import BUNDLE_ENTRIES

OURS = ("sqlite", "postgresql")
LABELS = {"sqlite": "ours SQLite", "postgresql": "ours PostgreSQL", "hapi": "HAPI"}
TARGET_CONCURRENCY = 16
SEARCHES = ("careplan-search", "careteam-search", "appointment-search")
GROWTH_SCENARIOS = (*SEARCHES, "portal")


@dataclass(frozen=True)
class Target:
    """One target of the issue, its measured figure and whether it is met (None: not measured)."""

    name: str
    figure: str
    met: bool | None


Key = tuple[str, str, int]
"""(scenario, server, concurrency)."""


def index(figures: Iterable[dict[str, Any]]) -> dict[Key, dict[str, Any]]:
    """The figures by (scenario, server, concurrency)."""
    return {(f["scenario"], f["server"], f["concurrency"]): f for f in figures}


def ratio(ours: float | None, hapi: float | None) -> float | None:
    """ours ÷ HAPI, or None when either is missing or HAPI did nothing."""
    if ours is None or not hapi:
        return None
    return round(ours / hapi, 2)


def _rps(found: dict[str, Any] | None) -> float | None:
    """Units per second; None when not measured, or when nothing finished in the window."""
    return None if found is None or not found["units"] else float(found["rps"])


def _number(value: float | None) -> str:
    if value is None:
        return "–"
    return f"{value:,.0f}" if value >= 100 else f"{value:.1f}"


def _throughput(found: dict[str, Any] | None) -> str:
    if found is not None and not found["units"]:
        return f"none in {found['seconds']:.0f} s"
    return _number(_rps(found))


def _times(value: float | None) -> str:
    return "–" if value is None else f"{value:.2f}×"


def _cost_us(found: dict[str, Any]) -> str:
    """The driver's CPU per request, in µs: what caps it (one core / cost), whatever the server."""
    if not found["rps"]:
        return "–"
    return f"{found['client_cpu'] / found['rps'] * 1e6:,.0f}"


def _latency(found: dict[str, Any] | None) -> str:
    if found is None:
        return "–"
    if not found["units"]:
        return f"> {found['seconds']:.0f} s"
    return f"{found['p50_ms']:.1f} / {found['p95_ms']:.1f} / {found['p99_ms']:.1f}"


def throughput_table(result: dict[str, Any]) -> str:
    """Units per second of each server, and ours ÷ HAPI."""
    found = index(result["figures"])
    lines = [
        "| scenario | unit | c | ours SQLite /s | ours PostgreSQL /s | HAPI /s "
        "| PostgreSQL ÷ HAPI | SQLite ÷ HAPI |",
        "|---|---|---:|---:|---:|---:|---:|---:|",
    ]
    for scenario in result["scenarios"]:
        for c in result["profile"]["concurrency"]:
            each = {s: found.get((scenario["key"], s, c)) for s in (*OURS, "hapi")}
            rps = {s: _rps(f) for s, f in each.items()}
            lines.append(
                f"| {scenario['title']} | {scenario['unit']} | {c} | "
                + " | ".join(_throughput(f) for f in each.values())
                + f" | {_times(ratio(rps['postgresql'], rps['hapi']))} "
                f"| {_times(ratio(rps['sqlite'], rps['hapi']))} |"
            )
    return "\n".join(lines)


def latency_table(result: dict[str, Any]) -> str:
    """p50 / p95 / p99 of each server in ms, and the errors."""
    found = index(result["figures"])
    lines = [
        "| scenario | c | ours SQLite ms | ours PostgreSQL ms | HAPI ms | errors S/P/H |",
        "|---|---:|---:|---:|---:|---:|",
    ]
    for scenario in result["scenarios"]:
        for c in result["profile"]["concurrency"]:
            each = [found.get((scenario["key"], s, c)) for s in (*OURS, "hapi")]
            errors = "/".join("–" if f is None else str(f["errors"]) for f in each)
            lines.append(
                f"| {scenario['title']} | {c} | "
                + " | ".join(_latency(f) for f in each)
                + f" | {errors} |"
            )
    return "\n".join(lines)


def servers_table(result: dict[str, Any]) -> str:
    """How each server was run, how long the county took to load, and its memory after."""
    lines = [
        "| server | how it ran | load: resources | seconds | resources/s | RSS after, MB |",
        "|---|---|---:|---:|---:|---:|",
    ]
    for key, server in result["servers"].items():
        load = server["load"]
        lines.append(
            f"| {LABELS[key]} | {server['how']} | {load['resources']:,} | {load['seconds']:.1f} "
            f"| {load['per_second']:,.0f} | {server['rss_mb']:,.0f} |"
        )
    return "\n".join(lines)


def targets(result: dict[str, Any]) -> list[Target]:
    """The issue's targets, checked on ours on PostgreSQL (as deployed) against HAPI."""
    found = index(result["figures"])
    c = TARGET_CONCURRENCY

    def pair(scenario: str) -> tuple[dict[str, Any] | None, dict[str, Any] | None]:
        return found.get((scenario, "postgresql", c)), found.get((scenario, "hapi", c))

    out: list[Target] = []
    ours, hapi = pair("read")
    if ours is None or hapi is None:
        out.append(Target("reads by id: ≥ 2× HAPI at 16, p99 < 20 ms", "not measured", None))
    else:
        times = ratio(ours["rps"], hapi["rps"]) or 0.0
        out.append(
            Target(
                "reads by id: ≥ 2× HAPI at 16, p99 < 20 ms",
                f"{times:.2f}× ({ours['rps']:,.0f} vs {hapi['rps']:,.0f}/s), "
                f"p99 {ours['p99_ms']:.1f} ms",
                times >= 2 and ours["p99_ms"] < 20,
            )
        )
    titles = {s["key"]: s["title"] for s in result["scenarios"]}
    for scenario in ("crud", *SEARCHES):
        ours, hapi = pair(scenario)
        name = f"{titles.get(scenario, scenario)}: ≥ 1.5× HAPI at 16"
        if ours is None or hapi is None:
            out.append(Target(name, "not measured", None))
            continue
        times = ratio(ours["rps"], hapi["rps"]) or 0.0
        out.append(
            Target(
                name,
                f"{times:.2f}× ({ours['rps']:,.1f} vs {hapi['rps']:,.1f}/s)",
                times >= 1.5,
            )
        )
    imports = [
        f for (s, server, _), f in found.items() if s == "transaction" and server == "postgresql"
    ]
    if imports:
        best = max(imports, key=lambda f: f["rps"])
        per_second = best["rps"] * BUNDLE_ENTRIES
        out.append(
            Target(
                "transaction import into PostgreSQL: ≥ 3,000 resources/s",
                f"{per_second:,.0f} resources/s (best, at {best['concurrency']})",
                per_second >= 3000,
            )
        )
    else:
        out.append(Target("transaction import into PostgreSQL", "not measured", None))
    return out


def growth(small: dict[str, Any], large: dict[str, Any]) -> list[Target]:
    """The searches' and `$patient-contract`'s medians (one client) of a larger county against
    those of a smaller one: the target is at most 1.5× from 1,000 to 100,000 patients."""
    before, after = index(small["figures"]), index(large["figures"])
    out = []
    for server in OURS:
        for scenario in GROWTH_SCENARIOS:
            a, b = before.get((scenario, server, 1)), after.get((scenario, server, 1))
            if a is None or b is None or not a["p50_ms"]:
                continue
            times = b["p50_ms"] / a["p50_ms"]
            out.append(
                Target(
                    f"{LABELS[server]}, {scenario}: median at {large['patients']:,} "
                    f"≤ 1.5× at {small['patients']:,} patients",
                    f"{a['p50_ms']:.1f} → {b['p50_ms']:.1f} ms ({times:.2f}×)",
                    times <= 1.5,
                )
            )
    return out


def targets_table(found: list[Target]) -> str:
    marks = {True: "met", False: "**missed**", None: "not measured"}
    lines = ["| target | measured | |", "|---|---|---|"]
    lines += [f"| {t.name} | {t.figure} | {marks[t.met]} |" for t in found]
    return "\n".join(lines)


def markdown(result: dict[str, Any], baseline: dict[str, Any] | None = None) -> str:
    """The whole report: where and how, the servers, throughput, latency and targets;
    `baseline` is a run at a smaller size, for the growth target."""
    machine, versions, profile = result["machine"], result["versions"], result["profile"]
    ceiling = result["ceiling"]
    busiest = max((f["client_cpu"] for f in result["figures"]), default=0.0)
    head = [
        f"Run {result['date']}, `{result['command']}` ({result['duration_s'] / 60:.1f} min "
        f"all included): {result['patients']:,} patients, {result['resources']:,} resources; "
        f"{profile['seconds']} s measured after {profile['warmup']} s of warm-up per scenario "
        f"and concurrency (c = simultaneous clients, closed loop).",
        f"Machine: {machine['cpu']}, {machine['cores']} cores, {machine['memory_gb']} GB, "
        f"{machine['os']}. Versions: "
        + ", ".join(f"{name} {version}" for name, version in versions.items())
        + ".",
        f"Drivers on `/healthz` of {ceiling.get('server', '–')} at 16 clients: "
        + ", ".join(
            f"{name} {f['rps']:,.0f} req/s using {f['client_cpu']:.2f} cores "
            f"({_cost_us(f)} µs of CPU a request)"
            for name, f in ceiling.items()
            if isinstance(f, dict)
        )
        + f"; in the scenarios the client used at most {busiest:.2f} cores.",
    ]
    parts = [
        *head,
        servers_table(result),
        "Throughput (units per second; ÷: ours divided by HAPI, above 1 ours is faster):",
        throughput_table(result),
        "Latency of a unit, p50 / p95 / p99:",
        latency_table(result),
        f"Targets (at {TARGET_CONCURRENCY} clients, ours on PostgreSQL):",
        targets_table(targets(result)),
    ]
    if baseline is not None:
        parts += ["Growth (one client):", targets_table(growth(baseline, result))]
    return "\n\n".join(parts) + "\n"


def broken(result: dict[str, Any]) -> list[str]:
    """Runs that got nothing but errors: the harness (not the speed) is broken. A run in which
    nothing finished, and nothing failed, was only slow."""
    return [
        f"{f['scenario']} on {f['server']} at {f['concurrency']}: {f['errors']} errors"
        for f in result["figures"]
        if f["units"] == 0 and f["errors"] > 0
    ]


def main() -> None:
    """Print the Markdown of a result file (`bench/results/*.json`) without running again."""
    parser = argparse.ArgumentParser(description=main.__doc__)
    parser.add_argument("result", type=Path)
    parser.add_argument("--baseline", type=Path, help="a run at a smaller size, for growth")
    args = parser.parse_args()
    baseline = json.loads(args.baseline.read_text()) if args.baseline else None
    print(markdown(json.loads(args.result.read_text()), baseline))


if __name__ == "__main__":
    main()

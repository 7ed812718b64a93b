"""The benchmark harness's pure parts: percentiles, the report, the transaction pool."""

from __future__ import annotations

import datetime as dt
import json
import re
from pathlib import Path
from typing import Any

import orjson
import pytest
from bench import data, report, run
from bench.driver import percentile


def test_percentile_is_nearest_rank() -> None:
    values = [float(n) for n in range(1, 101)]
    assert [percentile(values, q) for q in (0.5, 0.95, 0.99)] == [50.0, 95.0, 99.0]
    assert percentile([7.0], 0.99) == 7.0
    assert percentile([], 0.5) == 0.0


def _figure(scenario: str, server: str, c: int, rps: float, p99: float = 5.0) -> dict[str, Any]:
    return {
        "scenario": scenario,
        "server": server,
        "concurrency": c,
        "rps": rps,
        "p50_ms": 1.0,
        "p95_ms": 2.0,
        "p99_ms": p99,
        "units": int(rps),
        "errors": 0,
    }


def _result(figures: list[dict[str, Any]]) -> dict[str, Any]:
    return {
        "profile": {"concurrency": [16]},
        "scenarios": [
            {"key": "read", "title": "1. read", "unit": "request"},
            {"key": "crud", "title": "2. crud", "unit": "cycle"},
        ],
        "figures": figures,
    }


def test_ratios_and_targets_are_ours_over_hapi() -> None:
    result = _result(
        [
            _figure("read", "postgresql", 16, 900.0, p99=12.0),
            _figure("read", "hapi", 16, 300.0),
            _figure("crud", "postgresql", 16, 10.0),
            _figure("crud", "hapi", 16, 20.0),
            _figure("transaction", "postgresql", 16, 31.0),
        ]
    )
    table = report.throughput_table(result)
    assert "| 1. read | request | 16 | – | 900 | 300 | 3.00× | – |" in table
    assert "| 2. crud | cycle | 16 | – | 10.0 | 20.0 | 0.50× | – |" in table
    found = {t.name.split(":")[0]: t for t in report.targets(result)}
    assert found["reads by id"].met is True
    assert found["2. crud"].met is False
    assert found["2. crud"].figure.startswith("0.50×")
    assert found["transaction import into PostgreSQL"].figure.startswith("3,100 resources/s")
    assert found["careplan-search"].met is None  # not in this run


def test_read_target_needs_the_p99_too() -> None:
    result = _result(
        [_figure("read", "postgresql", 16, 900.0, p99=25.0), _figure("read", "hapi", 16, 300.0)]
    )
    assert report.targets(result)[0].met is False


def test_ratio_without_hapi_is_none() -> None:
    assert report.ratio(5.0, None) is None
    assert report.ratio(5.0, 0.0) is None
    assert report.ratio(3.0, 1.5) == 2.0


def test_a_scenario_of_nothing_but_errors_is_a_broken_harness() -> None:
    ok, failing = _figure("read", "hapi", 1, 10.0), _figure("crud", "hapi", 1, 0.0)
    failing["errors"] = 12
    assert report.broken(_result([ok, failing])) == ["crud on hapi at 1: 12 errors"]


def test_a_run_in_which_nothing_finished_was_only_slow() -> None:
    slow = {**_figure("crud", "postgresql", 16, 0.0), "seconds": 18.0}
    result = _result([slow, _figure("crud", "hapi", 16, 9.0)])
    assert report.broken(result) == []
    assert "| 2. crud | cycle | 16 | – | none in 18 s | 9.0 | – | – |" in (
        report.throughput_table(result)
    )
    assert "> 18 s" in report.latency_table(result)


@pytest.fixture(scope="module")
def county(tmp_path_factory: pytest.TempPathFactory) -> data.County:
    folder: Path = tmp_path_factory.mktemp("county")
    return data.write_county(folder, 3, dt.date(2026, 10, 20))


def test_the_county_files_hold_the_county_and_its_people(county: data.County) -> None:
    lines = [json.loads(line) for path in county.files for line in path.read_text().splitlines()]
    assert len(lines) == county.resources
    patients = [r["id"] for r in lines if r["resourceType"] == "Patient"]
    assert patients == [p.id for p in county.people]
    assert patients == ["demo-patient-000001", "demo-patient-000002", "demo-patient-000003"]
    plans = {r["id"] for r in lines if r["resourceType"] == "CarePlan"}
    assert {p.care_plan for p in county.people} == plans
    assert county.people[0].personnummer == "191212121212"
    assert county.extra[0][0]["id"] == "demo-patient-000004"


def test_the_pool_makes_bundles_of_new_resources_only(county: data.County) -> None:
    pool = county.transaction_pool()
    rounds = len(pool.templates) + 1
    bundles = [orjson.loads(pool.take()) for _ in range(rounds)]
    assert all(len(b["entry"]) == data.BUNDLE_ENTRIES for b in bundles)
    first, again = bundles[0], bundles[-1]
    ids = [(e["resource"]["resourceType"], e["resource"]["id"]) for e in first["entry"]]
    # The patient number in every id gets the round: demo-goal-000004-1 → demo-goal-000004r1-1.
    assert [(t, re.sub(r"(\d{6})", r"\1r1", i)) for t, i in ids] == [
        (e["resource"]["resourceType"], e["resource"]["id"]) for e in again["entry"]
    ]
    in_county = {p.id for p in county.people}
    assert not {i for _, i in ids} & in_county
    # Staff (organisations, roles) keep their ids: the Bundles refer to the county's staff.
    text = json.dumps(again)
    assert "Organization/demo-org-" in text
    assert "demo-patient-000004r1" in text


def test_run_records_the_command_that_made_it(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("MAKELEVEL", raising=False)
    assert run._command("large", ("postgresql",)) == (
        "python -m bench.run --size large --servers postgresql"
    )
    assert run._command("small", ("sqlite", "postgresql", "hapi")) == (
        "python -m bench.run --size small"
    )
    monkeypatch.setenv("MAKELEVEL", "1")
    assert run._command("small", ("sqlite", "postgresql", "hapi")) == "BENCH_SIZE=small make bench"

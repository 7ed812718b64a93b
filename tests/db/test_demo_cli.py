"""`patientkontrakt demo-data` writes the demo county through the store, on both databases."""

from __future__ import annotations

import datetime as dt
from collections import Counter

import anyio
import httpx
import pytest
from typer.testing import CliRunner, Result

from patientkontrakt.cli import app as cli
from patientkontrakt.config import get_settings
from patientkontrakt.contract.demo import generate
from patientkontrakt.contract.vocabulary import PERSONNUMMER, Canonicals

pytestmark = pytest.mark.anyio

TODAY = "2026-03-11"
SEED = 3
PATIENTS = 4


async def run(*args: str, env: dict[str, str] | None = None) -> Result:
    """The command in a thread of its own (it runs its own event loop), as a fresh process would:
    reading the settings anew."""
    get_settings.cache_clear()
    return await anyio.to_thread.run_sync(
        lambda: CliRunner().invoke(cli, ["demo-data", *args], env=env)
    )


async def count(client: httpx.AsyncClient, resource_type: str) -> int:
    response = await client.get(f"/{resource_type}", params={"_summary": "count"})
    assert response.status_code == 200, response.text
    total = response.json()["total"]
    assert isinstance(total, int)
    return total


async def test_demo_data_twice_writes_the_county_once(
    client: httpx.AsyncClient, cli_env: None
) -> None:
    expected = Counter(
        r["resourceType"]
        for r in generate(PATIENTS, SEED, Canonicals(), today=dt.date.fromisoformat(TODAY))
    )
    args = ("--patients", str(PATIENTS), "--seed", str(SEED), "--today", TODAY)

    first = await run(*args, "--batch-size", "50")
    assert first.exit_code == 0, first.output
    total = sum(expected.values())
    assert f"wrote {total} resources, {total} new, 0 updated" in first.output
    assert f"  {'Patient':<18}{PATIENTS:>7}" in first.output

    second = await run(*args)
    assert second.exit_code == 0, second.output
    assert f"wrote {total} resources, 0 new, {total} updated" in second.output

    for resource_type, n in expected.items():
        assert await count(client, resource_type) == n, resource_type
    # Updated in place: the plan has a second version, not a twin.
    history = await client.get("/CarePlan/demo-careplan-000001/_history")
    assert history.status_code == 200, history.text
    assert [e["resource"]["meta"]["versionId"] for e in history.json()["entry"]] == ["2", "1"]

    found = await client.get(
        "/CarePlan",
        params={
            "patient.identifier": f"{PERSONNUMMER}|191212121212",
            "status": "active",
            "_include": "CarePlan:care-team",
        },
    )
    assert found.status_code == 200, found.text
    entries = found.json()["entry"]
    matches = [e["resource"]["id"] for e in entries if e["search"]["mode"] == "match"]
    included = {e["resource"]["id"] for e in entries if e["search"]["mode"] == "include"}
    assert matches == ["demo-careplan-000001"]
    assert "demo-careteam-000001" in included


async def test_tags_and_appointment_search(client: httpx.AsyncClient, cli_env: None) -> None:
    result = await run("--patients", "2", "--today", TODAY)
    assert result.exit_code == 0, result.output
    tagged = await client.get(
        "/Patient",
        params={"_tag": "http://terminology.hl7.org/CodeSystem/v3-ActReason|HTEST"},
    )
    assert [e["resource"]["id"] for e in tagged.json()["entry"]] == [
        "demo-patient-000001",
        "demo-patient-000002",
    ]
    agreed = await client.get(
        "/Appointment",
        params={"patient": "Patient/demo-patient-000001", "status": "booked", "date": f"gt{TODAY}"},
    )
    assert agreed.status_code == 200, agreed.text
    assert agreed.json()["entry"]


async def test_first_start_loads_only_into_an_empty_database(
    client: httpx.AsyncClient, cli_env: None
) -> None:
    off = await run("--first-start", env={"PK_DEMO_DATA": "0"})
    assert off.exit_code == 0, off.output
    assert "PK_DEMO_DATA is off" in off.output
    assert await count(client, "Patient") == 0

    first = await run("--first-start")
    assert first.exit_code == 0, first.output
    assert "demo county loaded" in first.output
    assert await count(client, "Patient") == 20

    again = await run("--first-start")
    assert again.exit_code == 0, again.output
    assert "already holds patients" in again.output
    history = await client.get("/Patient/demo-patient-000001/_history")
    assert len(history.json()["entry"]) == 1


async def test_first_start_leaves_a_database_with_other_patients_alone(
    client: httpx.AsyncClient, cli_env: None
) -> None:
    body = {"resourceType": "Patient", "name": [{"family": "Testsson"}]}
    created = await client.post(
        "/Patient", json=body, headers={"Content-Type": "application/fhir+json"}
    )
    assert created.status_code == 201, created.text
    result = await run("--first-start")
    assert result.exit_code == 0, result.output
    assert "already holds patients" in result.output
    assert await count(client, "Patient") == 1


async def test_bad_date_fails(cli_env: None) -> None:
    result = await run("--patients", "1", "--today", "2026-13-01")
    assert result.exit_code == 1
    assert "demo-data failed" in result.output

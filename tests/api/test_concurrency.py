"""Writers racing each other: optimistic locking holds, nothing is lost, ids never collide.

The requests run concurrently on one event loop through the in-process client; each has its own
database connection, so the database's locking decides who wins.
"""

from __future__ import annotations

import asyncio
import uuid
from typing import Any

import httpx
import orjson
import pytest

from tests.api import builders
from tests.api.builders import FHIR_JSON, stored_versions

pytestmark = pytest.mark.anyio

PATCH_JSON = {"Content-Type": "application/json-patch+json"}


async def new_patient(client: httpx.AsyncClient) -> str:
    response = await client.post("/Patient", json=builders.patient(), headers=FHIR_JSON)
    assert response.status_code == 201, response.text
    return str(response.json()["id"])


async def history(client: httpx.AsyncClient, url: str) -> list[dict[str, Any]]:
    response = await client.get(url, params={"_count": "1000"})
    assert response.status_code == 200, response.text
    return list(response.json().get("entry", []))


async def test_two_puts_with_the_same_if_match_one_wins(client: httpx.AsyncClient) -> None:
    pid = await new_patient(client)

    async def put(gender: str) -> httpx.Response:
        body = {**builders.patient(), "id": pid, "gender": gender}
        return await client.put(
            f"/Patient/{pid}", json=body, headers={**FHIR_JSON, "If-Match": 'W/"1"'}
        )

    first, second = await asyncio.gather(put("female"), put("other"))
    statuses = sorted([first.status_code, second.status_code])
    assert statuses[0] == 200, (first.text, second.text)
    assert statuses[1] in (409, 412), (first.text, second.text)
    winner, loser = (first, second) if first.status_code == 200 else (second, first)
    assert winner.headers["etag"] == 'W/"2"'
    assert loser.json()["resourceType"] == "OperationOutcome"

    versions = await history(client, f"/Patient/{pid}/_history")
    assert len(versions) == 2
    current = (await client.get(f"/Patient/{pid}")).json()
    assert current["gender"] == winner.json()["gender"]
    assert current["meta"]["versionId"] == "2"


async def test_many_concurrent_puts_with_one_if_match_exactly_one_wins(
    client: httpx.AsyncClient,
) -> None:
    pid = await new_patient(client)

    async def put(n: int) -> httpx.Response:
        body = {**builders.patient(), "id": pid, "name": [{"family": f"Writer{n}"}]}
        return await client.put(
            f"/Patient/{pid}", json=body, headers={**FHIR_JSON, "If-Match": 'W/"1"'}
        )

    responses = await asyncio.gather(*(put(n) for n in range(8)))
    statuses = [r.status_code for r in responses]
    assert statuses.count(200) == 1, statuses
    assert all(s in (200, 409, 412) for s in statuses), statuses
    assert len(await history(client, f"/Patient/{pid}/_history")) == 2


async def test_two_deletes_with_the_same_if_match_one_wins(client: httpx.AsyncClient) -> None:
    pid = await new_patient(client)

    async def delete() -> httpx.Response:
        return await client.delete(f"/Patient/{pid}", headers={"If-Match": 'W/"1"'})

    responses = await asyncio.gather(delete(), delete())
    statuses = sorted(r.status_code for r in responses)
    assert statuses[0] == 204, [r.text for r in responses]
    assert statuses[1] in (409, 412), [r.text for r in responses]
    assert len(await history(client, f"/Patient/{pid}/_history")) == 2


async def test_concurrent_patches_lose_no_update(client: httpx.AsyncClient) -> None:
    pid = await new_patient(client)

    async def add_name(n: int) -> httpx.Response:
        operations = [{"op": "add", "path": "/name/-", "value": {"family": f"Alias{n}"}}]
        return await client.patch(
            f"/Patient/{pid}", content=orjson.dumps(operations), headers=PATCH_JSON
        )

    count = 6
    responses = await asyncio.gather(*(add_name(n) for n in range(count)))
    assert [r.status_code for r in responses] == [200] * count, [r.text for r in responses]
    assert sorted(r.headers["etag"] for r in responses) == sorted(
        f'W/"{v}"' for v in range(2, count + 2)
    )
    current = (await client.get(f"/Patient/{pid}")).json()
    assert current["meta"]["versionId"] == str(count + 1)
    families = {n["family"] for n in current["name"]}
    assert families == {"Tolvansson"} | {f"Alias{n}" for n in range(count)}


async def test_many_concurrent_creates_get_distinct_ids(client: httpx.AsyncClient) -> None:
    async def create(n: int) -> httpx.Response:
        body = {
            "resourceType": "Patient",
            "identifier": [{"system": "urn:test:patient", "value": f"p{n}"}],
        }
        return await client.post("/Patient", json=body, headers=FHIR_JSON)

    count = 25
    responses = await asyncio.gather(*(create(n) for n in range(count)))
    assert [r.status_code for r in responses] == [201] * count, [r.text for r in responses]
    ids = [r.json()["id"] for r in responses]
    assert len(set(ids)) == count
    for r in responses:
        assert r.headers["etag"] == 'W/"1"'
    stored = await history(client, "/Patient/_history")
    assert sorted(e["resource"]["id"] for e in stored) == sorted(ids)
    for n, response in enumerate(responses):
        read = (await client.get(f"/Patient/{response.json()['id']}")).json()
        assert read["identifier"][0]["value"] == f"p{n}"


async def test_concurrent_transactions_all_commit(client: httpx.AsyncClient) -> None:
    async def transaction(n: int) -> httpx.Response:
        patient_urn = f"urn:uuid:{uuid.uuid4()}"
        patient = {
            "resourceType": "Patient",
            "identifier": [{"system": "urn:test:patient", "value": f"p{n}"}],
        }
        bundle = {
            "resourceType": "Bundle",
            "type": "transaction",
            "entry": [
                {
                    "fullUrl": patient_urn,
                    "resource": patient,
                    "request": {"method": "POST", "url": "Patient"},
                },
                {
                    "resource": builders.care_plan(patient_urn),
                    "request": {"method": "POST", "url": "CarePlan"},
                },
            ],
        }
        return await client.post("", json=bundle, headers=FHIR_JSON)

    count = 8
    responses = await asyncio.gather(*(transaction(n) for n in range(count)))
    assert [r.status_code for r in responses] == [200] * count, [r.text for r in responses]
    for response in responses:
        patient_entry, plan_entry = response.json()["entry"]
        pid = patient_entry["resource"]["id"]
        assert plan_entry["resource"]["subject"]["reference"] == f"Patient/{pid}"
    assert len(await stored_versions(client)) == 2 * count


async def test_concurrent_updates_as_create_of_one_id(client: httpx.AsyncClient) -> None:
    """Two clients PUT the same new id: one creates it; the other updates it or is told to retry."""

    async def put(gender: str) -> httpx.Response:
        body = {**builders.patient(), "id": "shared-id", "gender": gender}
        return await client.put("/Patient/shared-id", json=body, headers=FHIR_JSON)

    responses = await asyncio.gather(put("female"), put("other"))
    statuses = sorted(r.status_code for r in responses)
    assert statuses[0] == 200 or statuses[0] == 201, [r.text for r in responses]
    assert statuses in ([200, 201], [201, 409]), [r.text for r in responses]
    written = statuses.count(200) + statuses.count(201)
    assert len(await history(client, "/Patient/shared-id/_history")) == written


async def test_concurrent_conditional_creates_store_one_patient(client: httpx.AsyncClient) -> None:
    """Five EHR calls registering the same personnummer at once: one Patient, not five."""
    criteria = f"identifier={builders.PERSONNUMMER_SYSTEM}|{builders.TOLVAN_PERSONNUMMER}"
    headers = {**FHIR_JSON, "If-None-Exist": criteria}

    responses = await asyncio.gather(
        *(client.post("/Patient", json=builders.patient(), headers=headers) for _ in range(5))
    )

    statuses = sorted(r.status_code for r in responses)
    assert statuses == [200, 200, 200, 200, 201], [r.text for r in responses]
    ids = {r.json()["id"] for r in responses}
    assert len(ids) == 1
    found = await client.get("/Patient", params={"identifier": criteria.split("=", 1)[1]})
    assert [e["resource"]["id"] for e in found.json()["entry"]] == list(ids)

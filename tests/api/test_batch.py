"""Batch Bundles (http.html#transaction): every entry on its own, each with its own response."""

from __future__ import annotations

import uuid
from typing import Any

import httpx
import pytest

from tests.api import builders
from tests.api.builders import FHIR_JSON, PERSONNUMMER_SYSTEM, TOLVAN_PERSONNUMMER

pytestmark = pytest.mark.anyio

BASE = "http://test/fhir"
TOLVAN = f"{PERSONNUMMER_SYSTEM}|{TOLVAN_PERSONNUMMER}"


def batch(*entries: dict[str, Any]) -> dict[str, Any]:
    return {"resourceType": "Bundle", "type": "batch", "entry": list(entries)}


def post(resource: dict[str, Any], **request: Any) -> dict[str, Any]:
    return {
        "resource": resource,
        "request": {"method": "POST", "url": resource["resourceType"], **request},
    }


def put(url: str, resource: dict[str, Any], **request: Any) -> dict[str, Any]:
    return {"resource": resource, "request": {"method": "PUT", "url": url, **request}}


def get(url: str) -> dict[str, Any]:
    return {"request": {"method": "GET", "url": url}}


def delete(url: str) -> dict[str, Any]:
    return {"request": {"method": "DELETE", "url": url}}


def fake_patient(value: str) -> dict[str, Any]:
    return {
        "resourceType": "Patient",
        "identifier": [{"system": "urn:test:patient", "value": value}],
        "name": [{"family": "Testsson", "given": [value]}],
    }


async def run_batch(
    client: httpx.AsyncClient, *entries: dict[str, Any], headers: dict[str, str] | None = None
) -> list[dict[str, Any]]:
    response = await client.post("", json=batch(*entries), headers={**FHIR_JSON, **(headers or {})})
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["resourceType"] == "Bundle"
    assert body["type"] == "batch-response"
    assert len(body["entry"]) == len(entries)
    return list(body["entry"])


async def create(client: httpx.AsyncClient, resource: dict[str, Any]) -> str:
    response = await client.post(f"/{resource['resourceType']}", json=resource, headers=FHIR_JSON)
    assert response.status_code == 201, response.text
    return str(response.json()["id"])


def status(entry: dict[str, Any]) -> int:
    return int(entry["response"]["status"][:3])


def failed(entry: dict[str, Any], code: int) -> list[dict[str, Any]]:
    assert status(entry) == code, entry
    assert "resource" not in entry
    outcome = entry["response"]["outcome"]
    assert outcome["resourceType"] == "OperationOutcome"
    assert outcome["issue"]
    return list(outcome["issue"])


def location_id(entry: dict[str, Any], resource_type: str) -> str:
    kind, rid, history, _ = entry["response"]["location"].split("/")
    assert (kind, history) == (resource_type, "_history")
    return str(rid)


async def test_independent_writes_all_succeed(client: httpx.AsyncClient) -> None:
    pid = await create(client, builders.patient())
    entries = await run_batch(
        client,
        post(builders.organization()),
        post(builders.care_plan(f"Patient/{pid}")),
        put(f"Patient/{pid}", {**builders.patient(), "id": pid, "active": True}),
    )
    assert [e["response"]["status"] for e in entries] == ["201 Created", "201 Created", "200 OK"]
    org = location_id(entries[0], "Organization")
    plan = location_id(entries[1], "CarePlan")
    assert entries[0]["response"]["location"] == f"Organization/{org}/_history/1"
    assert entries[0]["response"]["etag"] == 'W/"1"'
    assert entries[0]["fullUrl"] == f"{BASE}/Organization/{org}"
    assert entries[2]["response"]["etag"] == 'W/"2"'
    assert entries[2]["response"]["location"] == f"Patient/{pid}/_history/2"
    assert (await client.get(f"/Organization/{org}")).status_code == 200
    assert (await client.get(f"/CarePlan/{plan}")).json()["subject"]["reference"] == (
        f"Patient/{pid}"
    )
    assert (await client.get(f"/Patient/{pid}")).json()["active"] is True


async def test_an_invalid_entry_fails_alone(client: httpx.AsyncClient) -> None:
    invalid = {**builders.patient(), "active": "yes"}
    entries = await run_batch(
        client,
        post(fake_patient("p1")),
        post(invalid),
        post(fake_patient("p2")),
    )
    assert status(entries[0]) == 201
    issues = failed(entries[1], 422)
    assert any("Patient.active" in i.get("expression", []) for i in issues), issues
    assert status(entries[2]) == 201
    for entry in (entries[0], entries[2]):
        rid = location_id(entry, "Patient")
        assert (await client.get(f"/Patient/{rid}")).status_code == 200
    history = (await client.get("/Patient/_history")).json()
    assert len(history["entry"]) == 2


async def test_a_failing_read_does_not_stop_the_writes(client: httpx.AsyncClient) -> None:
    entries = await run_batch(
        client,
        get("Patient/does-not-exist"),
        post(builders.patient()),
    )
    failed(entries[0], 404)
    assert status(entries[1]) == 201
    pid = location_id(entries[1], "Patient")
    assert (await client.get(f"/Patient/{pid}")).status_code == 200


async def test_read_vread_and_search_entries(client: httpx.AsyncClient) -> None:
    pid = await create(client, builders.patient())
    updated = await client.put(
        f"/Patient/{pid}", json={**builders.patient(), "id": pid, "active": True}, headers=FHIR_JSON
    )
    assert updated.status_code == 200
    other = await create(client, fake_patient("p1"))
    entries = await run_batch(
        client,
        get(f"Patient/{pid}"),
        get(f"Patient/{pid}/_history/1"),
        get(f"Patient?identifier={TOLVAN}"),
        get(f"Patient/{pid}/_history"),
    )
    assert [status(e) for e in entries] == [200, 200, 200, 200]

    read = entries[0]
    assert read["resource"]["id"] == pid
    assert read["resource"]["active"] is True
    assert read["response"]["etag"] == 'W/"2"'

    vread = entries[1]
    assert vread["resource"]["meta"]["versionId"] == "1"
    assert "active" not in vread["resource"]
    assert vread["response"]["etag"] == 'W/"1"'

    searchset = entries[2]["resource"]
    assert searchset["type"] == "searchset"
    ids = [e["resource"]["id"] for e in searchset["entry"]]
    assert ids == [pid]
    assert other not in ids

    history = entries[3]["resource"]
    assert history["type"] == "history"
    assert [e["response"]["etag"] for e in history["entry"]] == ['W/"2"', 'W/"1"']


async def test_read_of_a_deleted_resource_is_410(client: httpx.AsyncClient) -> None:
    pid = await create(client, builders.patient())
    assert (await client.delete(f"/Patient/{pid}")).status_code == 204
    entries = await run_batch(client, get(f"Patient/{pid}"), get(f"Patient/{pid}/_history/1"))
    failed(entries[0], 410)
    assert status(entries[1]) == 200


async def test_entries_referring_to_each_other_by_urn_fail(client: httpx.AsyncClient) -> None:
    """A batch has no interdependencies (bundle.html): a urn:uuid names nothing in it."""
    patient_urn = f"urn:uuid:{uuid.uuid4()}"
    patient = post(builders.patient())
    patient["fullUrl"] = patient_urn
    entries = await run_batch(client, patient, post(builders.care_plan(patient_urn)))
    assert status(entries[0]) == 201
    failed(entries[1], 400)
    assert (await client.get("/CarePlan/_history")).json().get("entry", []) == []


async def test_conditional_create_entry(client: httpx.AsyncClient) -> None:
    pid = await create(client, builders.patient())
    entries = await run_batch(
        client,
        post(builders.patient(), ifNoneExist=f"identifier={TOLVAN}"),
        post(fake_patient("p1"), ifNoneExist="identifier=urn:test:patient|p1"),
    )
    assert status(entries[0]) == 200
    assert entries[0]["response"]["location"] == f"Patient/{pid}/_history/1"
    assert status(entries[1]) == 201
    history = (await client.get("/Patient/_history")).json()
    assert len(history["entry"]) == 2


async def test_conditional_update_and_delete_entries(client: httpx.AsyncClient) -> None:
    p1 = await create(client, fake_patient("p1"))
    p2 = await create(client, fake_patient("p2"))
    entries = await run_batch(
        client,
        put("Patient?identifier=urn:test:patient|p1", {**fake_patient("p1"), "active": True}),
        delete("Patient?identifier=urn:test:patient|p2"),
        delete("Patient?identifier=urn:test:patient|nobody"),
    )
    assert status(entries[0]) == 200
    assert entries[0]["response"]["location"] == f"Patient/{p1}/_history/2"
    assert status(entries[1]) == 204
    failed(entries[2], 404)
    assert (await client.get(f"/Patient/{p1}")).json()["active"] is True
    assert (await client.get(f"/Patient/{p2}")).status_code == 410


async def test_conditional_reference_is_resolved_in_a_batch(client: httpx.AsyncClient) -> None:
    pid = await create(client, builders.patient())
    entries = await run_batch(
        client,
        post(builders.care_plan(f"Patient?identifier={TOLVAN}")),
        post(builders.care_plan("Patient?identifier=urn:test:patient|nobody")),
    )
    assert status(entries[0]) == 201
    plan = location_id(entries[0], "CarePlan")
    assert (await client.get(f"/CarePlan/{plan}")).json()["subject"]["reference"] == (
        f"Patient/{pid}"
    )
    failed(entries[1], 412)


async def test_stale_if_match_fails_only_its_entry(client: httpx.AsyncClient) -> None:
    pid = await create(client, builders.patient())
    entries = await run_batch(
        client,
        put(f"Patient/{pid}", {**builders.patient(), "id": pid}, ifMatch='W/"9"'),
        post(builders.organization()),
    )
    failed(entries[0], 412)
    assert status(entries[1]) == 201
    assert (await client.get(f"/Patient/{pid}")).headers["etag"] == 'W/"1"'


async def test_malformed_entry_fails_alone(client: httpx.AsyncClient) -> None:
    entries = await run_batch(
        client,
        {"resource": builders.patient()},  # no request
        {"request": {"method": "GET", "url": "NoSuchType/1"}},
        post(builders.patient()),
    )
    failed(entries[0], 400)
    assert status(entries[1]) >= 400
    assert status(entries[2]) == 201


async def test_prefer_minimal_in_a_batch(client: httpx.AsyncClient) -> None:
    entries = await run_batch(
        client, post(builders.patient()), headers={"Prefer": "return=minimal"}
    )
    assert "resource" not in entries[0]
    assert entries[0]["response"]["status"] == "201 Created"
    assert entries[0]["response"]["etag"] == 'W/"1"'
    pid = location_id(entries[0], "Patient")
    assert (await client.get(f"/Patient/{pid}")).status_code == 200


async def test_empty_batch(client: httpx.AsyncClient) -> None:
    response = await client.post("", json=batch(), headers=FHIR_JSON)
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["type"] == "batch-response"
    assert body.get("entry", []) == []

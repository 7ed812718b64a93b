"""Transaction Bundles (http.html#transaction, bundle.html#transaction).

A transaction is all or nothing; `urn:uuid:` fullUrls and conditional references are resolved
to the ids the server assigns; entries run DELETE, POST, PUT/PATCH, GET, but are answered in the
order of the request.
"""

from __future__ import annotations

import base64
import uuid
from typing import Any

import httpx
import orjson
import pytest
from fastapi import FastAPI

from patientkontrakt.app import create_app
from patientkontrakt.config import Settings
from tests.api import builders
from tests.api.builders import (
    FHIR_JSON,
    PERSONNUMMER_SYSTEM,
    TOLVAN_PERSONNUMMER,
    stored_versions,
)
from tests.conftest import SYSTEM_SCOPE, Tokens
from tests.statements import inserts_into, sent_statements

pytestmark = pytest.mark.anyio

BASE = "http://test/fhir"
TOLVAN = f"{PERSONNUMMER_SYSTEM}|{TOLVAN_PERSONNUMMER}"
TEST_SYSTEM = "urn:test:patient"


def urn() -> str:
    return f"urn:uuid:{uuid.uuid4()}"


def transaction(*entries: dict[str, Any], kind: str = "transaction") -> dict[str, Any]:
    return {"resourceType": "Bundle", "type": kind, "entry": list(entries)}


def post(resource: dict[str, Any], full_url: str | None = None, **request: Any) -> dict[str, Any]:
    entry: dict[str, Any] = {
        "resource": resource,
        "request": {"method": "POST", "url": resource["resourceType"], **request},
    }
    if full_url is not None:
        entry["fullUrl"] = full_url
    return entry


def put(url: str, resource: dict[str, Any], **request: Any) -> dict[str, Any]:
    return {"resource": resource, "request": {"method": "PUT", "url": url, **request}}


def get(url: str) -> dict[str, Any]:
    return {"request": {"method": "GET", "url": url}}


def delete(url: str) -> dict[str, Any]:
    return {"request": {"method": "DELETE", "url": url}}


def patch_entry(url: str, operations: list[dict[str, Any]]) -> dict[str, Any]:
    binary = {
        "resourceType": "Binary",
        "contentType": "application/json-patch+json",
        "data": base64.b64encode(orjson.dumps(operations)).decode(),
    }
    return {"resource": binary, "request": {"method": "PATCH", "url": url}}


def fake_patient(value: str) -> dict[str, Any]:
    """A patient with a made-up identifier in a test system (never a personnummer)."""
    return {
        "resourceType": "Patient",
        "identifier": [{"system": TEST_SYSTEM, "value": value}],
        "name": [{"family": "Testsson", "given": [value]}],
    }


async def send(
    client: httpx.AsyncClient, body: dict[str, Any], headers: dict[str, str] | None = None
) -> httpx.Response:
    return await client.post("", json=body, headers={**FHIR_JSON, **(headers or {})})


async def ok_transaction(
    client: httpx.AsyncClient, *entries: dict[str, Any], headers: dict[str, str] | None = None
) -> list[dict[str, Any]]:
    response = await send(client, transaction(*entries), headers)
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["resourceType"] == "Bundle"
    assert body["type"] == "transaction-response"
    assert len(body["entry"]) == len(entries)
    return list(body["entry"])


async def create(client: httpx.AsyncClient, resource: dict[str, Any]) -> str:
    response = await client.post(f"/{resource['resourceType']}", json=resource, headers=FHIR_JSON)
    assert response.status_code == 201, response.text
    return str(response.json()["id"])


def assert_outcome(response: httpx.Response, status: int) -> list[dict[str, Any]]:
    assert response.status_code == status, response.text
    body = response.json()
    assert body["resourceType"] == "OperationOutcome"
    assert body["issue"]
    return list(body["issue"])


async def search_ids(client: httpx.AsyncClient, resource_type: str, **params: str) -> list[str]:
    response = await client.get(f"/{resource_type}", params=params)
    assert response.status_code == 200, response.text
    return sorted(
        e["resource"]["id"]
        for e in response.json().get("entry", [])
        if e.get("search", {}).get("mode") == "match"
    )


def new_id(entry: dict[str, Any], resource_type: str) -> str:
    """The id a write entry's response names in its location `Type/id/_history/n`."""
    location = entry["response"]["location"]
    kind, rid, history, _ = location.split("/")
    assert (kind, history) == (resource_type, "_history"), location
    return str(rid)


# --- urn:uuid references and the response -----------------------------------------------


async def test_urn_uuid_reference_becomes_the_new_patient_id(client: httpx.AsyncClient) -> None:
    patient_urn = urn()
    entries = await ok_transaction(
        client,
        post(builders.patient(), patient_urn),
        post(builders.care_plan(patient_urn), urn()),
    )
    patient_id = new_id(entries[0], "Patient")
    plan_id = new_id(entries[1], "CarePlan")

    stored = await client.get(f"/CarePlan/{plan_id}")
    assert stored.status_code == 200
    assert stored.json()["subject"] == {"reference": f"Patient/{patient_id}"}
    assert (await client.get(f"/Patient/{patient_id}")).status_code == 200
    # The representation returned in the bundle carries the rewritten reference too.
    assert entries[1]["resource"]["subject"]["reference"] == f"Patient/{patient_id}"


async def test_write_entries_report_status_location_etag_in_request_order(
    client: httpx.AsyncClient,
) -> None:
    patient_urn = urn()
    # The CarePlan comes first in the request, though it refers to the Patient after it.
    entries = await ok_transaction(
        client,
        post(builders.care_plan(patient_urn)),
        post(builders.organization()),
        post(builders.patient(), patient_urn),
    )
    types = ["CarePlan", "Organization", "Patient"]
    for entry, resource_type in zip(entries, types, strict=True):
        rid = new_id(entry, resource_type)
        response = entry["response"]
        assert response["status"].startswith("201")
        assert response["status"] == "201 Created"
        assert response["location"] == f"{resource_type}/{rid}/_history/1"
        assert response["etag"] == 'W/"1"'
        assert response["lastModified"].endswith("Z")
        assert entry["fullUrl"] == f"{BASE}/{resource_type}/{rid}"
        assert entry["resource"]["resourceType"] == resource_type
        assert entry["resource"]["id"] == rid
        assert entry["resource"]["meta"]["versionId"] == "1"
    patient_id = new_id(entries[2], "Patient")
    assert entries[0]["resource"]["subject"]["reference"] == f"Patient/{patient_id}"


async def test_urn_references_nested_in_arrays_are_rewritten(client: httpx.AsyncClient) -> None:
    patient_urn, org_urn = urn(), urn()
    team = builders.care_team(patient_urn)
    team["managingOrganization"] = [{"reference": org_urn}]
    team["participant"] = [{"member": {"reference": patient_urn}}]
    appointment = builders.appointment(patient_urn)
    entries = await ok_transaction(
        client,
        post(team),
        post(appointment),
        post(builders.patient(), patient_urn),
        post(builders.organization(), org_urn),
    )
    patient_id = new_id(entries[2], "Patient")
    org_id = new_id(entries[3], "Organization")
    stored_team = (await client.get(f"/CareTeam/{new_id(entries[0], 'CareTeam')}")).json()
    assert stored_team["subject"]["reference"] == f"Patient/{patient_id}"
    assert stored_team["managingOrganization"] == [{"reference": f"Organization/{org_id}"}]
    assert stored_team["participant"][0]["member"]["reference"] == f"Patient/{patient_id}"
    stored_appt = (await client.get(f"/Appointment/{new_id(entries[1], 'Appointment')}")).json()
    assert stored_appt["participant"][0]["actor"]["reference"] == f"Patient/{patient_id}"


async def test_put_with_a_full_url_is_referable(client: httpx.AsyncClient) -> None:
    full_url = f"{BASE}/Patient/tolvan"
    entry = put("Patient/tolvan", {**builders.patient(), "id": "tolvan"})
    entry["fullUrl"] = full_url
    entries = await ok_transaction(client, post(builders.care_plan(full_url)), entry)
    assert entries[1]["response"]["status"] == "201 Created"
    assert entries[1]["response"]["location"] == "Patient/tolvan/_history/1"
    plan = (await client.get(f"/CarePlan/{new_id(entries[0], 'CarePlan')}")).json()
    assert plan["subject"]["reference"] == "Patient/tolvan"


async def test_unknown_urn_uuid_reference_is_400_and_nothing_is_stored(
    client: httpx.AsyncClient,
) -> None:
    response = await send(
        client,
        transaction(post(builders.patient(), urn()), post(builders.care_plan(urn()))),
    )
    issues = assert_outcome(response, 400)
    assert "urn:uuid:" in issues[0]["diagnostics"]
    assert await stored_versions(client) == []


# --- processing order --------------------------------------------------------------------


async def test_get_listed_first_sees_a_post_listed_later(client: httpx.AsyncClient) -> None:
    entries = await ok_transaction(
        client,
        get(f"Patient?identifier={TOLVAN}"),
        post(builders.patient()),
    )
    patient_id = new_id(entries[1], "Patient")
    found = entries[0]["resource"]
    assert entries[0]["response"]["status"].startswith("200")
    assert found["type"] == "searchset"
    assert [e["resource"]["id"] for e in found["entry"]] == [patient_id]


async def test_get_listed_first_reads_the_version_a_later_put_writes(
    client: httpx.AsyncClient,
) -> None:
    pid = await create(client, builders.patient())
    entries = await ok_transaction(
        client,
        get(f"Patient/{pid}"),
        put(f"Patient/{pid}", {**builders.patient(), "id": pid, "active": False}),
    )
    assert entries[1]["response"]["status"] == "200 OK"
    assert entries[1]["response"]["etag"] == 'W/"2"'
    assert entries[0]["response"]["status"].startswith("200")
    assert entries[0]["response"]["etag"] == 'W/"2"'
    assert entries[0]["resource"]["active"] is False


async def test_delete_runs_before_a_post_listed_earlier(client: httpx.AsyncClient) -> None:
    old = await create(client, fake_patient("p1"))
    # Were the POST run first, the conditional delete would match two patients (412).
    entries = await ok_transaction(
        client,
        post(fake_patient("p1")),
        delete(f"Patient?identifier={TEST_SYSTEM}|p1"),
    )
    new = new_id(entries[0], "Patient")
    assert entries[1]["response"]["status"].startswith("204")
    assert (await client.get(f"/Patient/{old}")).status_code == 410
    assert (await client.get(f"/Patient/{new}")).status_code == 200
    assert await search_ids(client, "Patient", identifier=f"{TEST_SYSTEM}|p1") == [new]


async def test_delete_entry_by_id(client: httpx.AsyncClient) -> None:
    pid = await create(client, builders.patient())
    entries = await ok_transaction(client, delete(f"Patient/{pid}"))
    assert entries[0]["response"]["status"].startswith("204")
    assert (await client.get(f"/Patient/{pid}")).status_code == 410


# --- conditional create, update and references ---------------------------------------


async def test_if_none_exist_match_reuses_the_existing_patient(client: httpx.AsyncClient) -> None:
    existing = await create(client, builders.patient())
    patient_urn = urn()
    entries = await ok_transaction(
        client,
        post(builders.patient(), patient_urn, ifNoneExist=f"identifier={TOLVAN}"),
        post(builders.care_plan(patient_urn)),
    )
    assert entries[0]["response"]["status"].startswith("200")
    assert entries[0]["response"]["location"] == f"Patient/{existing}/_history/1"
    assert entries[0]["response"]["etag"] == 'W/"1"'
    plan = (await client.get(f"/CarePlan/{new_id(entries[1], 'CarePlan')}")).json()
    assert plan["subject"]["reference"] == f"Patient/{existing}"
    assert await search_ids(client, "Patient") == [existing]
    history = (await client.get(f"/Patient/{existing}/_history")).json()
    assert len(history["entry"]) == 1


async def test_if_none_exist_without_match_creates(client: httpx.AsyncClient) -> None:
    other = await create(client, fake_patient("p1"))
    entries = await ok_transaction(
        client, post(builders.patient(), ifNoneExist=f"identifier={TOLVAN}")
    )
    assert entries[0]["response"]["status"] == "201 Created"
    created = new_id(entries[0], "Patient")
    assert created != other
    assert await search_ids(client, "Patient") == sorted([other, created])


async def test_if_none_exist_with_several_matches_is_412(client: httpx.AsyncClient) -> None:
    await create(client, builders.patient())
    await create(client, builders.patient())
    before = await stored_versions(client)
    response = await send(
        client,
        transaction(
            post(builders.organization()),
            post(builders.patient(), ifNoneExist=f"identifier={TOLVAN}"),
        ),
    )
    assert_outcome(response, 412)
    assert len(await stored_versions(client)) == len(before)


async def test_conditional_update_entry_updates_the_match(client: httpx.AsyncClient) -> None:
    pid = await create(client, fake_patient("p1"))
    changed = {**fake_patient("p1"), "gender": "female"}
    entries = await ok_transaction(client, put(f"Patient?identifier={TEST_SYSTEM}|p1", changed))
    assert entries[0]["response"]["status"] == "200 OK"
    assert entries[0]["response"]["location"] == f"Patient/{pid}/_history/2"
    assert entries[0]["response"]["etag"] == 'W/"2"'
    stored = (await client.get(f"/Patient/{pid}")).json()
    assert stored["gender"] == "female"
    assert stored["meta"]["versionId"] == "2"


async def test_conditional_update_entry_without_match_creates(client: httpx.AsyncClient) -> None:
    patient_urn = urn()
    entry = put(f"Patient?identifier={TEST_SYSTEM}|p9", fake_patient("p9"))
    entry["fullUrl"] = patient_urn
    entries = await ok_transaction(client, entry, post(builders.care_plan(patient_urn)))
    assert entries[0]["response"]["status"] == "201 Created"
    pid = new_id(entries[0], "Patient")
    assert await search_ids(client, "Patient", identifier=f"{TEST_SYSTEM}|p9") == [pid]
    plan = (await client.get(f"/CarePlan/{new_id(entries[1], 'CarePlan')}")).json()
    assert plan["subject"]["reference"] == f"Patient/{pid}"


async def test_conditional_reference_is_resolved(client: httpx.AsyncClient) -> None:
    pid = await create(client, builders.patient())
    await create(client, fake_patient("p1"))
    entries = await ok_transaction(client, post(builders.care_plan(f"Patient?identifier={TOLVAN}")))
    plan = (await client.get(f"/CarePlan/{new_id(entries[0], 'CarePlan')}")).json()
    assert plan["subject"]["reference"] == f"Patient/{pid}"


async def test_unresolvable_conditional_reference_is_412_and_nothing_stored(
    client: httpx.AsyncClient,
) -> None:
    response = await send(
        client,
        transaction(
            post(builders.organization()),
            post(builders.care_plan(f"Patient?identifier={TOLVAN}")),
        ),
    )
    assert_outcome(response, 412)
    assert await stored_versions(client) == []


async def test_ambiguous_conditional_reference_is_412(client: httpx.AsyncClient) -> None:
    await create(client, fake_patient("p1"))
    await create(client, fake_patient("p1"))
    response = await send(
        client,
        transaction(post(builders.care_plan(f"Patient?identifier={TEST_SYSTEM}|p1"))),
    )
    assert_outcome(response, 412)
    assert await search_ids(client, "CarePlan") == []


# --- all or nothing ----------------------------------------------------------------------


async def test_invalid_last_entry_rolls_back_everything(client: httpx.AsyncClient) -> None:
    patient_urn = urn()
    invalid = builders.care_plan(patient_urn)
    del invalid["status"]  # CarePlan.status is 1..1
    response = await send(
        client,
        transaction(
            post(builders.patient(), patient_urn),
            post(builders.care_team(patient_urn)),
            post(invalid),
        ),
    )
    issues = assert_outcome(response, 422)
    assert any(i["diagnostics"].startswith("Bundle.entry[2]") for i in issues), issues
    assert await stored_versions(client) == []
    for resource_type in ("Patient", "CarePlan", "CareTeam"):
        assert await search_ids(client, resource_type) == []


async def test_failed_transaction_leaves_existing_resources_unchanged(
    client: httpx.AsyncClient,
) -> None:
    pid = await create(client, builders.patient())
    response = await send(
        client,
        transaction(
            put(f"Patient/{pid}", {**builders.patient(), "id": pid, "active": True}),
            delete(f"Patient?identifier={TEST_SYSTEM}|none"),
        ),
    )
    issues = assert_outcome(response, 404)
    assert issues[0]["diagnostics"].startswith("Bundle.entry[1]")
    stored = await client.get(f"/Patient/{pid}")
    assert stored.headers["etag"] == 'W/"1"'
    assert "active" not in stored.json()
    assert len(await stored_versions(client)) == 1


async def test_failing_read_entry_fails_the_transaction(client: httpx.AsyncClient) -> None:
    response = await send(
        client, transaction(post(builders.patient()), get("Patient/does-not-exist"))
    )
    issues = assert_outcome(response, 404)
    assert issues[0]["diagnostics"].startswith("Bundle.entry[1]")
    assert await stored_versions(client) == []


async def test_two_entries_changing_one_resource_is_400(client: httpx.AsyncClient) -> None:
    pid = await create(client, builders.patient())
    response = await send(
        client,
        transaction(
            put(f"Patient/{pid}", {**builders.patient(), "id": pid, "active": True}),
            delete(f"Patient/{pid}"),
        ),
    )
    issues = assert_outcome(response, 400)
    assert f"Patient/{pid}" in issues[0]["diagnostics"]
    assert (await client.get(f"/Patient/{pid}")).headers["etag"] == 'W/"1"'


async def test_two_conditional_updates_of_one_resource_are_400(client: httpx.AsyncClient) -> None:
    pid = await create(client, fake_patient("p1"))
    response = await send(
        client,
        transaction(
            put(f"Patient?identifier={TEST_SYSTEM}|p1", {**fake_patient("p1"), "active": True}),
            put(f"Patient?_id={pid}", {**fake_patient("p1"), "active": False}),
        ),
    )
    assert_outcome(response, 400)
    assert len(await stored_versions(client)) == 1


async def test_if_match_in_a_transaction(client: httpx.AsyncClient) -> None:
    pid = await create(client, builders.patient())
    stale = put(f"Patient/{pid}", {**builders.patient(), "id": pid}, ifMatch='W/"2"')
    assert_outcome(await send(client, transaction(stale)), 412)
    fresh = put(f"Patient/{pid}", {**builders.patient(), "id": pid}, ifMatch='W/"1"')
    entries = await ok_transaction(client, fresh)
    assert entries[0]["response"]["etag"] == 'W/"2"'


# --- PATCH entries -------------------------------------------------------------------------


async def test_patch_entry_with_a_binary(client: httpx.AsyncClient) -> None:
    pid = await create(client, builders.patient())
    entries = await ok_transaction(
        client,
        patch_entry(f"Patient/{pid}", [{"op": "replace", "path": "/gender", "value": "other"}]),
    )
    assert entries[0]["response"]["status"] == "200 OK"
    assert entries[0]["response"]["etag"] == 'W/"2"'
    assert entries[0]["response"]["location"] == f"Patient/{pid}/_history/2"
    stored = (await client.get(f"/Patient/{pid}")).json()
    assert stored["gender"] == "other"
    assert stored["meta"]["versionId"] == "2"


async def test_patch_entry_making_the_resource_invalid_rolls_back(
    client: httpx.AsyncClient,
) -> None:
    pid = await create(client, builders.patient())
    response = await send(
        client,
        transaction(
            post(builders.organization()),
            patch_entry(f"Patient/{pid}", [{"op": "add", "path": "/active", "value": "yes"}]),
        ),
    )
    issues = assert_outcome(response, 422)
    assert issues[0]["diagnostics"].startswith("Bundle.entry[1]")
    assert len(await stored_versions(client)) == 1


async def test_patch_entry_without_json_patch_binary_is_refused(
    client: httpx.AsyncClient,
) -> None:
    pid = await create(client, builders.patient())
    entry = patch_entry(f"Patient/{pid}", [{"op": "remove", "path": "/gender"}])
    entry["resource"]["contentType"] = "application/fhir+json"
    response = await send(client, transaction(entry))
    assert response.status_code in (400, 415), response.text
    assert response.json()["resourceType"] == "OperationOutcome"
    assert (await client.get(f"/Patient/{pid}")).json()["gender"] == "male"


async def test_patch_entry_with_data_that_is_not_base64_is_400(client: httpx.AsyncClient) -> None:
    pid = await create(client, builders.patient())
    entry = patch_entry(f"Patient/{pid}", [])
    entry["resource"]["data"] = "not base64!"
    assert_outcome(await send(client, transaction(entry)), 400)


# --- Prefer --------------------------------------------------------------------------------


async def test_prefer_return_minimal_leaves_out_resources(client: httpx.AsyncClient) -> None:
    patient_urn = urn()
    entries = await ok_transaction(
        client,
        post(builders.patient(), patient_urn),
        post(builders.care_plan(patient_urn)),
        headers={"Prefer": "return=minimal"},
    )
    for entry, resource_type in zip(entries, ["Patient", "CarePlan"], strict=True):
        assert "resource" not in entry
        rid = new_id(entry, resource_type)
        assert entry["response"]["status"] == "201 Created"
        assert entry["response"]["etag"] == 'W/"1"'
        assert (await client.get(f"/{resource_type}/{rid}")).status_code == 200


async def test_prefer_return_operation_outcome(client: httpx.AsyncClient) -> None:
    entries = await ok_transaction(
        client, post(builders.patient()), headers={"Prefer": "return=OperationOutcome"}
    )
    assert "resource" not in entries[0]
    outcome = entries[0]["response"]["outcome"]
    assert outcome["resourceType"] == "OperationOutcome"
    assert outcome["issue"][0]["severity"] == "information"
    assert entries[0]["response"]["status"] == "201 Created"


# --- the Bundle itself ---------------------------------------------------------------------


async def test_empty_transaction_gives_an_empty_response(client: httpx.AsyncClient) -> None:
    response = await send(client, transaction())
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["type"] == "transaction-response"
    assert body.get("entry", []) == []


async def test_transaction_at_base_with_trailing_slash(client: httpx.AsyncClient) -> None:
    response = await client.post("/", json=transaction(post(builders.patient())), headers=FHIR_JSON)
    assert response.status_code == 200, response.text
    assert response.json()["type"] == "transaction-response"


@pytest.mark.parametrize("kind", ["collection", "document", "searchset", "transaction-response"])
async def test_wrong_bundle_type_is_400(client: httpx.AsyncClient, kind: str) -> None:
    response = await send(client, transaction(post(builders.patient()), kind=kind))
    assert_outcome(response, 400)
    assert await stored_versions(client) == []


async def test_bundle_without_type_is_400(client: httpx.AsyncClient) -> None:
    response = await send(client, {"resourceType": "Bundle", "entry": []})
    assert_outcome(response, 400)


async def test_not_a_bundle_is_400(client: httpx.AsyncClient) -> None:
    response = await send(client, builders.patient())
    assert_outcome(response, 400)
    assert await stored_versions(client) == []


async def test_json_array_body_is_400(client: httpx.AsyncClient) -> None:
    response = await client.post("", content=b"[]", headers=FHIR_JSON)
    assert_outcome(response, 400)


async def test_entry_without_request_is_400(client: httpx.AsyncClient) -> None:
    response = await send(client, transaction({"resource": builders.patient()}))
    issues = assert_outcome(response, 400)
    assert "Bundle.entry[0]" in issues[0]["diagnostics"]


async def test_entry_type_differing_from_url_is_400(client: httpx.AsyncClient) -> None:
    entry = post(builders.patient())
    entry["request"]["url"] = "Organization"
    assert_outcome(await send(client, transaction(entry)), 400)
    assert await stored_versions(client) == []


async def test_unknown_method_is_400(client: httpx.AsyncClient) -> None:
    entry = {"request": {"method": "OPTIONS", "url": "Patient"}}
    assert_outcome(await send(client, transaction(entry)), 400)


async def test_too_many_entries_is_413(settings: Settings, tokens: Tokens) -> None:
    app = create_app(settings.model_copy(update={"max_bundle_entries": 2}))
    transport = httpx.ASGITransport(app=app, raise_app_exceptions=False)
    headers = tokens.headers(SYSTEM_SCOPE)
    try:
        async with httpx.AsyncClient(transport=transport, base_url=BASE, headers=headers) as client:
            three = transaction(*(post(fake_patient(f"p{i}")) for i in range(3)))
            assert_outcome(await send(client, three), 413)
            assert await stored_versions(client) == []
            two = transaction(*(post(fake_patient(f"p{i}")) for i in range(2)))
            assert (await send(client, two)).status_code == 200
    finally:
        await app.state.server.store.dispose()


def goal(goal_id: str, patient_ref: str) -> dict[str, Any]:
    return {
        "resourceType": "Goal",
        "id": goal_id,
        "lifecycleStatus": "active",
        "description": {"text": "Promenera 30 minuter om dagen"},
        "subject": {"reference": patient_ref},
    }


async def test_statements_of_a_transaction_do_not_grow_with_its_entries(
    app: FastAPI, client: httpx.AsyncClient
) -> None:
    """The entries' current versions are read in one statement and their rows, AuditEvents and
    Provenance go out as one INSERT per table: a Bundle of 30 new Goals costs what one of 3
    does."""
    created = await client.post("/Patient", json=builders.patient(), headers=FHIR_JSON)
    patient_ref = f"Patient/{created.json()['id']}"

    async def send_goals(tag: str, count: int) -> list[str]:
        goals = [goal(f"{tag}-{n}", patient_ref) for n in range(count)]
        bundle = transaction(*(put(f"Goal/{g['id']}", g) for g in goals))
        with sent_statements(app.state.server.store.engine) as sent:
            response = await send(client, bundle)
        assert response.status_code == 200, response.text
        statuses = [e["response"]["status"] for e in response.json()["entry"]]
        assert statuses == ["201 Created"] * count
        return sent

    few = await send_goals("few", 3)
    many = await send_goals("many", 30)
    assert len(many) == len(few), (few, many)
    # The Goals go out before the audit trail looks up their patients in the index; their
    # AuditEvents and Provenance after it.
    assert inserts_into(many, "resource_version") == 2, many
    found = await client.get("/Goal", params={"subject": patient_ref, "_summary": "count"})
    assert found.json()["total"] == 33

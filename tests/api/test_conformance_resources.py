"""The product's conformance resources, seeded at start-up, read and searched like any other;
the CapabilityStatement's supportedProfile and `$validate` entries."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from fastapi import FastAPI

from patientkontrakt import canonical
from patientkontrakt.app import create_app
from patientkontrakt.config import Settings
from patientkontrakt.contract.vocabulary import DEFAULT_CANONICAL_BASE
from patientkontrakt.fhir.conformance import READ_ONLY_TYPES, seed
from tests.api.builders import FHIR_JSON

pytestmark = pytest.mark.anyio

PROFILES = Path(__file__).resolve().parents[2] / "fhir_profiles"
FOLDERS = {
    "StructureDefinition": "StructureDefinition",
    "CodeSystem": "CodeSystem",
    "ValueSet": "ValueSet",
    "SearchParameter": "search-parameters",
}
BASE = DEFAULT_CANONICAL_BASE
OTHER_BASE = "https://fhir.region.example/kontrakt"
VALIDATE = "http://hl7.org/fhir/OperationDefinition/Resource-validate"
PRODUCT_PROFILES = {
    "CarePlan": "pk-careplan",
    "CareTeam": "pk-careteam",
    "Appointment": "pk-appointment",
    "Patient": "pk-patient",
    "PractitionerRole": "pk-practitionerrole",
    "Organization": "pk-organization",
}


def files(resource_type: str) -> list[dict[str, Any]]:
    """The resources of `resource_type` in `fhir_profiles/`."""
    folder = PROFILES / FOLDERS[resource_type]
    return [json.loads(p.read_text(encoding="utf-8")) for p in sorted(folder.glob("*.json"))]


TOTAL = sum(len(files(t)) for t in FOLDERS)


@pytest.fixture
async def started(app: FastAPI) -> AsyncIterator[FastAPI]:
    """The app after its start-up (the lifespan seeds the conformance resources)."""
    async with app.router.lifespan_context(app):
        yield app


async def search_ids(client: httpx.AsyncClient, path: str, params: dict[str, str]) -> list[str]:
    response = await client.get(path, params={**params, "_count": "100"})
    assert response.status_code == 200, response.text
    bundle = response.json()
    assert bundle["resourceType"] == "Bundle"
    return sorted(e["resource"]["id"] for e in bundle.get("entry", []))


def test_the_read_only_types() -> None:
    assert frozenset(FOLDERS) == READ_ONLY_TYPES


@pytest.mark.usefixtures("started")
async def test_a_structure_definition_is_readable(client: httpx.AsyncClient) -> None:
    response = await client.get("/StructureDefinition/pk-careplan")
    assert response.status_code == 200, response.text
    assert response.headers["content-type"] == "application/fhir+json; charset=utf-8"
    assert response.headers["etag"] == 'W/"1"'
    body = response.json()
    assert body["url"] == f"{BASE}/StructureDefinition/pk-careplan"
    assert body["type"] == "CarePlan"
    assert body["meta"]["versionId"] == "1"
    source = next(r for r in files("StructureDefinition") if r["id"] == "pk-careplan")
    assert body["snapshot"] == source["snapshot"]


@pytest.mark.usefixtures("started")
@pytest.mark.parametrize("resource_type", sorted(FOLDERS))
async def test_every_file_is_published(client: httpx.AsyncClient, resource_type: str) -> None:
    expected = sorted(r["id"] for r in files(resource_type))
    assert expected
    assert await search_ids(client, f"/{resource_type}", {}) == expected
    for resource in files(resource_type):
        read = await client.get(f"/{resource_type}/{resource['id']}")
        assert read.status_code == 200, read.text
        assert read.json()["url"] == resource["url"]


@pytest.mark.usefixtures("started")
async def test_conformance_resources_are_searchable(client: httpx.AsyncClient) -> None:
    careplan = f"{BASE}/StructureDefinition/pk-careplan"
    assert await search_ids(client, "/StructureDefinition", {"url": careplan}) == ["pk-careplan"]
    assert await search_ids(client, "/StructureDefinition", {"type": "CarePlan"}) == ["pk-careplan"]
    role = f"{BASE}/CodeSystem/care-team-role"
    assert await search_ids(client, "/CodeSystem", {"url": role}) == ["care-team-role"]
    assert await search_ids(client, "/ValueSet", {"url": f"{BASE}/ValueSet/care-plan-type"}) == [
        "care-plan-type"
    ]
    assert await search_ids(client, "/SearchParameter", {"code": "participant-role"}) == [
        "CareTeam-participant-role"
    ]
    assert await search_ids(client, "/StructureDefinition", {"url": "urn:example:none"}) == []


async def test_seeding_is_idempotent(app: FastAPI, client: httpx.AsyncClient) -> None:
    store = app.state.server.store
    assert await seed(store, BASE) == TOTAL
    assert await seed(store, BASE) == 0
    history = await client.get("/StructureDefinition/pk-patient/_history")
    assert history.status_code == 200
    assert len(history.json()["entry"]) == 1


async def test_workers_starting_together_write_each_resource_once(
    app: FastAPI, client: httpx.AsyncClient
) -> None:
    store = app.state.server.store
    written = await asyncio.gather(*(seed(store, BASE) for _ in range(3)))
    assert sorted(written) == [0, 0, TOTAL]
    response = await client.get("/_history", params={"_count": "1000"})
    assert len(response.json()["entry"]) == TOTAL


async def test_changed_content_is_stored_as_a_new_version(
    app: FastAPI, client: httpx.AsyncClient
) -> None:
    store = app.state.server.store
    await seed(store, BASE)
    changed = await seed(store, OTHER_BASE)  # every resource names the base somewhere
    assert changed == TOTAL
    response = await client.get("/StructureDefinition/pk-careplan")
    assert response.headers["etag"] == 'W/"2"'
    assert response.json()["url"] == f"{OTHER_BASE}/StructureDefinition/pk-careplan"
    assert BASE + "/" not in response.text
    assert await seed(store, OTHER_BASE) == 0


@pytest.mark.usefixtures("started")
async def test_capability_statement_lists_profiles_and_validate(
    client: httpx.AsyncClient,
) -> None:
    response = await client.get("/metadata")
    assert response.status_code == 200
    resources = {r["type"]: r for r in response.json()["rest"][0]["resource"]}
    for resource_type, name in PRODUCT_PROFILES.items():
        expected = [f"{BASE}/StructureDefinition/{name}"]
        assert resources[resource_type]["supportedProfile"] == expected
    assert "supportedProfile" not in resources["Condition"]
    for entry in resources.values():
        assert {"name": "validate", "definition": VALIDATE} in entry["operation"]


@pytest.fixture
async def other_base_client(
    settings: Settings, client: httpx.AsyncClient
) -> AsyncIterator[httpx.AsyncClient]:
    """A started app whose PK_CANONICAL_BASE is not the default (with `client`'s headers, so
    its credentials too)."""
    application = create_app(settings.model_copy(update={"canonical_base": OTHER_BASE + "/"}))
    transport = httpx.ASGITransport(app=application, raise_app_exceptions=False)
    base_url = "http://test/fhir"
    try:
        async with (
            application.router.lifespan_context(application),
            httpx.AsyncClient(transport=transport, base_url=base_url, headers=client.headers) as c,
        ):
            yield c
    finally:
        canonical.configure(DEFAULT_CANONICAL_BASE)  # other tests expect the default again


async def test_another_canonical_base_everywhere(other_base_client: httpx.AsyncClient) -> None:
    client = other_base_client
    metadata = (await client.get("/metadata")).json()
    care_plan = next(r for r in metadata["rest"][0]["resource"] if r["type"] == "CarePlan")
    assert care_plan["supportedProfile"] == [f"{OTHER_BASE}/StructureDefinition/pk-careplan"]

    served = (await client.get("/StructureDefinition/pk-patient")).json()
    assert served["url"] == f"{OTHER_BASE}/StructureDefinition/pk-patient"

    patient = {"resourceType": "Patient", "meta": {"profile": [served["url"]]}, "gender": "male"}
    response = await client.post("/Patient/$validate", json=patient, headers=FHIR_JSON)
    assert response.status_code == 200
    assert [i["expression"] for i in response.json()["issue"]] == [["Patient.name"]]
    # The default base's URL names no profile of this server: ignored on writes, 400 here.
    patient["meta"]["profile"] = [f"{BASE}/StructureDefinition/pk-patient"]
    response = await client.post("/Patient/$validate", json=patient, headers=FHIR_JSON)
    assert response.json()["issue"][0]["severity"] == "information"
    response = await client.post(
        "/Patient/$validate",
        json=patient,
        headers=FHIR_JSON,
        params={"profile": f"{BASE}/StructureDefinition/pk-patient"},
    )
    assert response.status_code == 400

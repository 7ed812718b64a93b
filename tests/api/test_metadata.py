"""The CapabilityStatement, and that what it claims is what the server does."""

from __future__ import annotations

from typing import Any

import httpx
import pytest
from fhir.resources.R4B.capabilitystatement import CapabilityStatement

from patientkontrakt.fhir.registry import RESOURCE_TYPES
from tests.api import builders
from tests.api.builders import FHIR_JSON

pytestmark = pytest.mark.anyio

BASE = "http://test/fhir"
TOLVAN_REF = "Patient/tolvan"

TYPE_INTERACTIONS = {
    "read",
    "vread",
    "update",
    "patch",
    "delete",
    "history-instance",
    "history-type",
    "create",
    "search-type",
}
SYSTEM_INTERACTIONS = {"transaction", "batch", "history-system"}

# R4 resources of the registry that have no `identifier` element (from the R4 spec pages).
WITHOUT_IDENTIFIER = {
    "AuditEvent",
    "CapabilityStatement",
    "Provenance",
    "SearchParameter",
    "Subscription",
}

# Minimal valid resources with an identifier, for checking the `identifier` claim by behaviour.
IDENTIFIED: dict[str, dict[str, Any]] = {
    "Patient": builders.patient(),
    "Organization": builders.organization(),
    "CarePlan": builders.care_plan(TOLVAN_REF),
    "CareTeam": builders.care_team(TOLVAN_REF),
    "Appointment": builders.appointment(TOLVAN_REF),
    "Task": {"resourceType": "Task", "status": "requested", "intent": "order"},
    "Goal": {
        "resourceType": "Goal",
        "lifecycleStatus": "active",
        "description": {"text": "Gå promenad varje dag"},
        "subject": {"reference": TOLVAN_REF},
    },
    "Questionnaire": {"resourceType": "Questionnaire", "status": "active"},
    # QuestionnaireResponse.identifier is a single Identifier, not a list.
    "QuestionnaireResponse": {"resourceType": "QuestionnaireResponse", "status": "completed"},
}


@pytest.fixture
async def capability(client: httpx.AsyncClient) -> dict[str, Any]:
    response = await client.get("/metadata")
    assert response.status_code == 200, response.text
    assert response.headers["content-type"] == "application/fhir+json; charset=utf-8"
    return dict(response.json())


def resources(capability: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {r["type"]: r for r in capability["rest"][0]["resource"]}


async def test_capability_statement_basics(capability: dict[str, Any]) -> None:
    assert capability["resourceType"] == "CapabilityStatement"
    assert capability["fhirVersion"] == "4.0.1"
    assert capability["kind"] == "instance"
    assert capability["status"] == "active"
    assert "json" in capability["format"] or "application/fhir+json" in capability["format"]
    assert "application/json-patch+json" in capability["patchFormat"]
    assert capability["implementation"]["url"] == BASE
    assert len(capability["rest"]) == 1
    assert capability["rest"][0]["mode"] == "server"


async def test_capability_statement_is_a_valid_resource(capability: dict[str, Any]) -> None:
    parsed = CapabilityStatement.model_validate(capability)
    assert parsed.fhirVersion == "4.0.1"


async def test_every_registered_type_is_listed_once(capability: dict[str, Any]) -> None:
    listed = [r["type"] for r in capability["rest"][0]["resource"]]
    assert sorted(listed) == sorted(RESOURCE_TYPES)
    assert len(listed) == len(set(listed))
    for name in ("Patient", "CarePlan", "CareTeam", "Appointment", "Organization"):
        assert name in listed


READ_ONLY = {"AuditEvent", "StructureDefinition", "CodeSystem", "ValueSet", "SearchParameter"}


async def test_every_type_has_the_rest_interactions(capability: dict[str, Any]) -> None:
    for resource_type, entry in resources(capability).items():
        if resource_type in READ_ONLY:
            continue
        codes = {i["code"] for i in entry["interaction"]}
        assert codes == TYPE_INTERACTIONS, resource_type
        assert entry["versioning"] == "versioned-update"
        assert entry["readHistory"] is True
        assert entry["updateCreate"] is True


async def test_system_interactions(capability: dict[str, Any]) -> None:
    codes = {i["code"] for i in capability["rest"][0]["interaction"]}
    assert codes == SYSTEM_INTERACTIONS


# What EHRs and portals search by (search.html and the R4 SearchParameter registry).
CONTRACT_PARAMS = {
    "CarePlan": {
        "patient": "reference",
        "status": "token",
        "date": "date",
        "care-team": "reference",
    },
    "CareTeam": {"patient": "reference", "status": "token", "participant": "reference"},
    "Appointment": {
        "patient": "reference",
        "date": "date",
        "status": "token",
        "actor": "reference",
    },
    "Patient": {"identifier": "token", "name": "string", "birthdate": "date", "family": "string"},
    "Goal": {"patient": "reference", "lifecycle-status": "token"},
}


async def test_search_params_are_listed_with_their_types(capability: dict[str, Any]) -> None:
    for resource_type, entry in resources(capability).items():
        params = {p["name"]: p for p in entry["searchParam"]}
        assert params["_id"]["type"] == "token", resource_type
        assert params["_lastUpdated"]["type"] == "date", resource_type
        for param in entry["searchParam"]:
            assert param["type"] in {
                "token",
                "string",
                "reference",
                "date",
                "number",
                "quantity",
                "uri",
            }, (resource_type, param)
            assert param["documentation"], (resource_type, param["name"])
        if resource_type not in WITHOUT_IDENTIFIER:
            assert params["identifier"]["definition"] == (
                f"http://hl7.org/fhir/SearchParameter/{resource_type}-identifier"
            ) or params["identifier"]["definition"].startswith(
                "http://hl7.org/fhir/SearchParameter/"
            )
    for resource_type, expected in CONTRACT_PARAMS.items():
        params = {p["name"]: p["type"] for p in resources(capability)[resource_type]["searchParam"]}
        for name, kind in expected.items():
            assert params.get(name) == kind, (resource_type, name)


# --- claims checked against behaviour -------------------------------------------------------


async def test_every_listed_type_answers_read_search_and_history(
    client: httpx.AsyncClient, capability: dict[str, Any]
) -> None:
    for resource_type in resources(capability):
        read = await client.get(f"/{resource_type}/not-there")
        assert read.status_code == 404, resource_type
        search = await client.get(f"/{resource_type}", params={"_id": "not-there"})
        assert search.status_code == 200, (resource_type, search.text)
        assert search.json()["type"] == "searchset"
        assert "entry" not in search.json()
        history = await client.get(f"/{resource_type}/_history")
        assert history.status_code == 200, resource_type
        assert history.json()["type"] == "history"


async def test_identifier_claim_matches_behaviour_for_every_type(
    client: httpx.AsyncClient, capability: dict[str, Any]
) -> None:
    strict = {"Prefer": "handling=strict"}
    for resource_type, entry in resources(capability).items():
        claims = any(p["name"] == "identifier" for p in entry["searchParam"])
        response = await client.get(
            f"/{resource_type}", params={"identifier": "urn:x|1"}, headers=strict
        )
        if claims:
            assert response.status_code == 200, (resource_type, response.text)
        else:
            assert response.status_code == 400, resource_type
            assert response.json()["resourceType"] == "OperationOutcome"


@pytest.mark.parametrize("resource_type", list(IDENTIFIED))
async def test_listed_identifier_really_finds_by_identifier(
    client: httpx.AsyncClient, capability: dict[str, Any], resource_type: str
) -> None:
    listed = {p["name"] for p in resources(capability)[resource_type]["searchParam"]}
    assert "identifier" in listed

    system = "urn:oid:2.16.840.1.113883.19.5"  # HL7's example OID: values are not checked
    value = f"{resource_type}-4711"
    identifier = {"system": system, "value": value}
    body = dict(IDENTIFIED[resource_type])
    body["identifier"] = identifier if resource_type == "QuestionnaireResponse" else [identifier]
    created = await client.post(f"/{resource_type}", json=body, headers=FHIR_JSON)
    assert created.status_code == 201, created.text
    rid = created.json()["id"]
    other = await client.post(
        f"/{resource_type}", json=IDENTIFIED[resource_type], headers=FHIR_JSON
    )
    assert other.status_code == 201, other.text

    for token in (f"{system}|{value}", value, f"{system}|"):
        found = await client.get(f"/{resource_type}", params={"identifier": token})
        assert found.status_code == 200, found.text
        urls = [e["fullUrl"] for e in found.json().get("entry", [])]
        assert urls == [f"{BASE}/{resource_type}/{rid}"], token

    for token in (f"{system}|other", f"urn:other|{value}", f"|{value}"):
        missed = await client.get(f"/{resource_type}", params={"identifier": token})
        assert missed.status_code == 200, missed.text
        assert "entry" not in missed.json(), token


async def test_id_search_finds_by_id(client: httpx.AsyncClient) -> None:
    ids = []
    for _ in range(3):
        response = await client.post("/Patient", json=builders.patient(), headers=FHIR_JSON)
        assert response.status_code == 201
        ids.append(response.json()["id"])

    found = await client.get("/Patient", params={"_id": f"{ids[0]},{ids[2]}"})

    assert found.status_code == 200
    urls = {e["fullUrl"] for e in found.json()["entry"]}
    assert urls == {f"{BASE}/Patient/{ids[0]}", f"{BASE}/Patient/{ids[2]}"}


async def test_unlisted_search_parameter_is_refused_when_strict(
    client: httpx.AsyncClient, capability: dict[str, Any]
) -> None:
    listed = {p["name"] for p in resources(capability)["Patient"]["searchParam"]}
    assert "shoe-size" not in listed
    response = await client.get(
        "/Patient", params={"shoe-size": "42"}, headers={"Prefer": "handling=strict"}
    )
    assert response.status_code == 400
    assert response.json()["resourceType"] == "OperationOutcome"


async def test_unlisted_search_parameter_is_a_warning_when_lenient(
    client: httpx.AsyncClient,
) -> None:
    response = await client.get("/Patient", params={"shoe-size": "42"})
    assert response.status_code == 200
    outcomes = [e for e in response.json()["entry"] if e["search"]["mode"] == "outcome"]
    assert len(outcomes) == 1
    issue = outcomes[0]["resource"]["issue"][0]
    assert issue["severity"] == "warning"
    assert "shoe-size" in issue["diagnostics"]


async def test_deleted_resources_are_not_found_by_identifier(client: httpx.AsyncClient) -> None:
    created = await client.post("/Patient", json=builders.patient(), headers=FHIR_JSON)
    pid = created.json()["id"]
    token = f"{builders.PERSONNUMMER_SYSTEM}|{builders.TOLVAN_PERSONNUMMER}"
    assert len((await client.get("/Patient", params={"identifier": token})).json()["entry"]) == 1

    assert (await client.delete(f"/Patient/{pid}")).status_code == 204

    assert "entry" not in (await client.get("/Patient", params={"identifier": token})).json()


async def test_patient_lists_the_patient_contract_operation(
    capability: dict[str, Any],
) -> None:
    operations = resources(capability)["Patient"]["operation"]
    assert {
        "name": "patient-contract",
        "definition": "https://patientkontrakt.se/fhir/OperationDefinition/patient-contract",
    } in operations
    assert {"name": "patient-contract"} not in [
        {"name": o["name"]} for o in resources(capability)["CarePlan"]["operation"]
    ]


async def test_read_only_types_list_only_read_interactions(capability: dict[str, Any]) -> None:
    for resource_type in sorted(READ_ONLY):
        entry = resources(capability)[resource_type]
        codes = {i["code"] for i in entry["interaction"]}
        assert codes == {"read", "vread", "history-instance", "history-type", "search-type"}
        assert entry["updateCreate"] is False
        assert entry["conditionalDelete"] == "not-supported"

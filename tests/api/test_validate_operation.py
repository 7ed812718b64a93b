"""`POST /fhir/{type}/$validate` (resource-operation-validate.html) over HTTP.

The operation answers 200 with an OperationOutcome whether or not the resource is valid, and
stores nothing; only a request that cannot be processed gets an error status.
"""

from __future__ import annotations

import copy
import json
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.api import builders
from tests.api.builders import FHIR_JSON, history_size

pytestmark = pytest.mark.anyio

EXAMPLES = Path(__file__).resolve().parents[2] / "fhir_profiles" / "examples"
BASE = "https://patientkontrakt.se/fhir"
PK_PATIENT = f"{BASE}/StructureDefinition/pk-patient"
PK_CAREPLAN = f"{BASE}/StructureDefinition/pk-careplan"
FHIR_CONTENT_TYPE = "application/fhir+json; charset=utf-8"


def example(name: str) -> dict[str, Any]:
    resource: dict[str, Any] = json.loads((EXAMPLES / name).read_text(encoding="utf-8"))
    return resource


def parameters(resource: dict[str, Any], *extra: dict[str, Any]) -> dict[str, Any]:
    return {
        "resourceType": "Parameters",
        "parameter": [{"name": "resource", "resource": resource}, *extra],
    }


async def validate(
    client: httpx.AsyncClient,
    resource_type: str,
    body: Any,
    params: dict[str, str] | None = None,
) -> httpx.Response:
    return await client.post(
        f"/{resource_type}/$validate", json=body, headers=FHIR_JSON, params=params
    )


def outcome_of(response: httpx.Response, status: int = 200) -> list[dict[str, Any]]:
    """The issues of the OperationOutcome in `response`, which has `status`."""
    assert response.status_code == status, response.text
    assert response.headers["content-type"] == FHIR_CONTENT_TYPE
    body = response.json()
    assert body["resourceType"] == "OperationOutcome"
    issues: list[dict[str, Any]] = body["issue"]
    assert issues
    return issues


def errors(response: httpx.Response) -> list[tuple[str, str]]:
    """(code, expression) of each error issue of a 200 $validate answer, sorted."""
    issues = outcome_of(response)
    assert all(i["severity"] == "error" for i in issues), issues
    return sorted((i["code"], i["expression"][0]) for i in issues)


def passed(response: httpx.Response) -> None:
    issues = outcome_of(response)
    assert len(issues) == 1
    assert issues[0]["severity"] == "information"
    assert issues[0]["code"] == "informational"


async def test_a_valid_resource_passes_and_nothing_is_stored(client: httpx.AsyncClient) -> None:
    response = await validate(client, "Patient", builders.patient())
    passed(response)
    assert await history_size(client) == 0


async def test_an_invalid_resource_is_still_a_200_listing_the_issues(
    client: httpx.AsyncClient,
) -> None:
    body = builders.patient()
    body["identifier"][0]["value"] = "191212121213"  # Tolvan with a wrong check digit
    body["gender"] = "robot"
    response = await validate(client, "Patient", body)
    # Base validation answers first: the code outside its required value set.
    assert errors(response) == [("code-invalid", "Patient.gender")]
    del body["gender"]
    response = await validate(client, "Patient", body)
    assert errors(response) == [("value", "Patient.identifier[0].value")]
    assert "kontrollsiffran" in response.text
    assert "191212121213" not in response.text
    assert await history_size(client) == 0


async def test_the_profiles_a_resource_claims_are_checked(client: httpx.AsyncClient) -> None:
    care_plan = example("CarePlan-tolvan.json")
    passed(await validate(client, "CarePlan", care_plan))
    activity = next(i for i, a in enumerate(care_plan["activity"]) if "detail" in a)
    del care_plan["activity"][activity]["detail"]["performer"]
    found = errors(await validate(client, "CarePlan", care_plan))
    assert ("required", f"CarePlan.activity[{activity}].detail.performer") in found


async def test_a_profile_named_in_the_query_is_checked_too(client: httpx.AsyncClient) -> None:
    body = builders.patient()
    del body["name"]
    passed(await validate(client, "Patient", body))  # no profile claimed, base R4 allows it
    response = await validate(client, "Patient", body, params={"profile": PK_PATIENT})
    assert errors(response) == [("required", "Patient.name")]


async def test_the_parameters_form(client: httpx.AsyncClient) -> None:
    body = builders.patient()
    passed(await validate(client, "Patient", parameters(body)))
    del body["name"]
    response = await validate(
        client,
        "Patient",
        parameters(
            body,
            {"name": "profile", "valueUri": PK_PATIENT},
            {"name": "mode", "valueCode": "create"},
        ),
    )
    assert errors(response) == [("required", "Patient.name")]
    canonical = parameters(body, {"name": "profile", "valueCanonical": PK_PATIENT})
    assert errors(await validate(client, "Patient", canonical)) == [("required", "Patient.name")]


async def test_validation_does_not_change_what_a_later_write_stores(
    client: httpx.AsyncClient,
) -> None:
    body = example("Patient-tolvan.json")
    passed(await validate(client, "Patient", copy.deepcopy(body)))
    created = await client.put("/Patient/tolvan", json=body, headers=FHIR_JSON)
    assert created.status_code == 201, created.text
    assert await history_size(client) == 1


@pytest.mark.parametrize(
    ("params", "body", "status", "code"),
    [
        ({"profile": f"{BASE}/StructureDefinition/not-there"}, None, 400, "not-supported"),
        ({"profile": PK_CAREPLAN}, None, 400, "invalid"),
        (None, {"resourceType": "CarePlan", "status": "active"}, 400, "invalid"),
        (None, {"resourceType": "Parameters", "parameter": [{"name": "x"}]}, 400, "invalid"),
        (
            None,
            parameters(builders.patient(), {"name": "mode", "valueCode": "delete"}),
            400,
            "not-supported",
        ),
        (
            None,
            parameters(builders.patient(), {"name": "profile", "valueString": 1}),
            400,
            "invalid",
        ),
    ],
)
async def test_requests_that_cannot_be_processed(
    client: httpx.AsyncClient,
    params: dict[str, str] | None,
    body: dict[str, Any] | None,
    status: int,
    code: str,
) -> None:
    response = await validate(client, "Patient", body or builders.patient(), params=params)
    issues = outcome_of(response, status)
    assert issues[0]["severity"] == "error"
    assert issues[0]["code"] == code


async def test_not_json_wrong_content_type_and_unknown_type(client: httpx.AsyncClient) -> None:
    response = await client.post("/Patient/$validate", content=b"{not json", headers=FHIR_JSON)
    outcome_of(response, 400)
    response = await client.post(
        "/Patient/$validate", content=b"<Patient/>", headers={"Content-Type": "application/xml"}
    )
    outcome_of(response, 415)
    response = await validate(client, "Robot", {"resourceType": "Robot"})
    outcome_of(response, 404)
    response = await client.post(
        "/Patient/$validate", json=builders.patient(), headers={**FHIR_JSON, "Accept": "text/xml"}
    )
    outcome_of(response, 406)


async def test_get_is_not_the_operation(client: httpx.AsyncClient) -> None:
    # GET /Patient/$validate would be a read of an id that is not valid (`$` is not allowed).
    response = await client.get("/Patient/$validate")
    assert outcome_of(response, 400)[0]["code"] == "invalid"


async def test_pretty_output(client: httpx.AsyncClient) -> None:
    response = await client.post(
        "/Patient/$validate", json=builders.patient(), headers=FHIR_JSON, params={"_pretty": "true"}
    )
    passed(response)
    assert response.text.startswith('{\n  "resourceType": "OperationOutcome"')

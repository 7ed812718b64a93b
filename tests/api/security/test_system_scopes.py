"""System context (no patient, no fhirUser): the token's `system/` scopes alone decide."""

from __future__ import annotations

import httpx
import pytest

from tests.api.builders import FHIR_JSON
from tests.api.security.conftest import Callers
from tests.api.security.dataset import P2_IDENTIFIER, Dataset
from tests.api.security.helpers import current, outcome, post, put, refs, search_ids

pytestmark = pytest.mark.anyio


def _goal(patient: str) -> dict[str, object]:
    return {
        "resourceType": "Goal",
        "lifecycleStatus": "proposed",
        "description": {"text": "Från journalsystemet"},
        "subject": {"reference": patient},
    }


async def test_type_scope_grants_that_type_only(
    client: httpx.AsyncClient, data: Dataset, callers: Callers
) -> None:
    plans = callers.system("system/CarePlan.rs")
    read = await client.get(f"/CarePlan/{data.P1_PLAN}", headers=plans)
    assert read.status_code == 200, read.text
    # No care relation is needed in system context: every patient's plans.
    assert (await client.get(f"/CarePlan/{data.P2_PLAN}", headers=plans)).status_code == 200
    assert refs(await client.get("/CarePlan", headers=plans)) == {
        data.ref("P1_PLAN"),
        data.ref("P2_PLAN"),
    }
    plan = await current(client, data.ref("P1_PLAN"))
    plan["title"] = "Ändrad"
    refused = await put(client, plan, plans)
    body = outcome(refused, 403, "forbidden")
    assert "system/CarePlan.u" in body["issue"][0]["diagnostics"]
    assert (await current(client, data.ref("P1_PLAN")))["meta"]["versionId"] == "1"
    outcome(await client.get(f"/Patient/{data.P1}", headers=plans), 403, "forbidden")
    outcome(await client.get("/Patient", headers=plans), 403, "forbidden")
    outcome(await client.delete(f"/CarePlan/{data.P1_PLAN}", headers=plans), 403, "forbidden")


async def test_v1_read_scope_reads_but_never_writes(
    client: httpx.AsyncClient, data: Dataset, callers: Callers
) -> None:
    reader = callers.system("system/*.read")
    for key in ("P1_PLAN", "P2_GOAL", "P1", "R3", "O2"):
        response = await client.get(f"/{data.ref(key)}", headers=reader)
        assert response.status_code == 200, (key, response.text)
    assert refs(await client.get("/Goal", headers=reader)) == {
        data.ref("P1_GOAL"),
        data.ref("P2_GOAL"),
    }
    before = await search_ids(client, "/Goal")
    outcome(await post(client, _goal(data.ref("P1")), reader), 403, "forbidden")
    goal = await current(client, data.ref("P1_GOAL"))
    goal["lifecycleStatus"] = "cancelled"
    outcome(await put(client, goal, reader), 403, "forbidden")
    outcome(await client.delete(f"/{data.ref('P1_GOAL')}", headers=reader), 403, "forbidden")
    patch = await client.patch(
        f"/{data.ref('P1_GOAL')}",
        json=[{"op": "replace", "path": "/lifecycleStatus", "value": "cancelled"}],
        headers={**reader, "Content-Type": "application/json-patch+json"},
    )
    outcome(patch, 403, "forbidden")
    assert await search_ids(client, "/Goal") == before
    assert (await current(client, data.ref("P1_GOAL")))["meta"]["versionId"] == "1"


async def test_v1_write_scope_writes_but_never_reads(
    client: httpx.AsyncClient, data: Dataset, callers: Callers
) -> None:
    writer = callers.system("system/Goal.write")
    created = await post(client, _goal(data.ref("P1")), writer)
    assert created.status_code == 201, created.text
    outcome(await client.get(f"/{data.ref('P1_GOAL')}", headers=writer), 403, "forbidden")


async def test_transaction_entry_without_scope_fails_the_whole_transaction(
    client: httpx.AsyncClient, data: Dataset, callers: Callers
) -> None:
    goals = callers.system("system/Goal.cruds")
    condition = await current(client, data.ref("P1_CONDITION"))
    condition.pop("id")
    condition.pop("meta")
    bundle = {
        "resourceType": "Bundle",
        "type": "transaction",
        "entry": [
            {"resource": _goal(data.ref("P1")), "request": {"method": "POST", "url": "Goal"}},
            {"resource": condition, "request": {"method": "POST", "url": "Condition"}},
        ],
    }
    goals_before = await search_ids(client, "/Goal")
    conditions_before = await search_ids(client, "/Condition")
    response = await client.post("", json=bundle, headers={**FHIR_JSON, **goals})
    body = outcome(response, 403, "forbidden")
    assert body["issue"][0]["diagnostics"].startswith("Bundle.entry[1]")
    assert await search_ids(client, "/Goal") == goals_before
    assert await search_ids(client, "/Condition") == conditions_before
    # The same Bundle as a batch: the granted entry is made, the other answers 403.
    bundle["type"] = "batch"
    batch = await client.post("", json=bundle, headers={**FHIR_JSON, **goals})
    assert batch.status_code == 200, batch.text
    first, second = batch.json()["entry"]
    assert first["response"]["status"].startswith("201")
    assert second["response"]["status"].startswith("403")
    assert await search_ids(client, "/Condition") == conditions_before


async def test_search_across_types_needs_every_type(
    client: httpx.AsyncClient, data: Dataset, callers: Callers
) -> None:
    plans = callers.system("system/CarePlan.rs")
    found = await client.get("", params={"_type": "CarePlan"}, headers=plans)
    assert refs(found) == {data.ref("P1_PLAN"), data.ref("P2_PLAN")}
    outcome(await client.get("", params={"_type": "CarePlan,Goal"}, headers=plans), 403)
    outcome(await client.get("", headers=plans), 403, "forbidden")
    outcome(await client.get("/_history", headers=plans), 403, "forbidden")
    outcome(await client.get("/Goal/_history", headers=plans), 403, "forbidden")
    assert refs(await client.get("/CarePlan/_history", headers=plans)) == {
        data.ref("P1_PLAN"),
        data.ref("P2_PLAN"),
    }


@pytest.mark.parametrize(
    "scope",
    [
        "user/*.cruds",
        "patient/*.cruds",
        "system/CarePlan.rs?status=active",
        "system/CarePlan.sr",
        "system/CarePlan.READ",
        "openid fhirUser launch/patient",
    ],
)
async def test_scopes_that_grant_nothing_to_a_system_token(
    client: httpx.AsyncClient, data: Dataset, callers: Callers, scope: str
) -> None:
    response = await client.get(f"/CarePlan/{data.P1_PLAN}", headers=callers.system(scope))
    outcome(response, 403, "forbidden")


async def test_include_does_not_widen_the_scopes(
    client: httpx.AsyncClient, data: Dataset, callers: Callers
) -> None:
    """What the code does today, which leaks nothing the scopes deny: an `_include` of a type
    the token may read is followed (a Patient with `system/Patient.rs`)."""
    both = callers.system("system/CarePlan.rs system/Patient.rs")
    found = await client.get("/CarePlan", params={"_include": "CarePlan:subject"}, headers=both)
    assert refs(found, "include") == {data.ref("P1"), data.ref("P2")}


@pytest.mark.parametrize(
    ("scope", "path", "include"),
    [
        ("system/CarePlan.rs", "/CarePlan", "_include=CarePlan:subject"),
        ("system/Patient.rs", "/Patient", "_revinclude=Goal:subject"),
        ("patient/CarePlan.rs", "/CarePlan", "_include=CarePlan:subject"),
    ],
    ids=["system-include", "system-revinclude", "patient-include"],
)
async def test_include_of_an_ungranted_type_never_leaks(
    client: httpx.AsyncClient,
    data: Dataset,
    callers: Callers,
    scope: str,
    path: str,
    include: str,
) -> None:
    headers = (
        callers.patient(scope=scope) if scope.startswith("patient/") else callers.system(scope)
    )
    response = await client.get(f"{path}?{include}", headers=headers)
    if response.status_code == 403:  # refusing the include is as good as leaving it out
        outcome(response, 403, "forbidden")
        return
    leaked = {ref for ref in refs(response) if ref.split("/")[0] != path.strip("/")}
    assert leaked == set()


async def test_chain_through_an_ungranted_type_reaches_nothing(
    client: httpx.AsyncClient, data: Dataset, callers: Callers
) -> None:
    """A chain looks only through resources the scopes let the caller read or search, so
    `system/CarePlan.rs` cannot probe Patient identifiers through CarePlan?subject.identifier."""
    everything = await client.get("/CarePlan", params={"subject.identifier": P2_IDENTIFIER})
    assert everything.status_code == 200
    assert len(everything.json()["entry"]) == 1  # the plan exists and the chain finds it...
    plans = callers.system("system/CarePlan.rs")
    response = await client.get(
        "/CarePlan", params={"subject.identifier": P2_IDENTIFIER}, headers=plans
    )
    assert response.status_code == 200
    assert "entry" not in response.json()  # ...but not through a type the token may not see


@pytest.mark.parametrize(
    ("resource_type", "body"),
    [
        ("StructureDefinition", {"resourceType": "StructureDefinition"}),
        ("CodeSystem", {"resourceType": "CodeSystem", "status": "draft", "content": "complete"}),
        ("ValueSet", {"resourceType": "ValueSet", "status": "draft"}),
        ("SearchParameter", {"resourceType": "SearchParameter"}),
    ],
)
async def test_conformance_resources_are_read_only(
    client: httpx.AsyncClient, resource_type: str, body: dict[str, object]
) -> None:
    created = await client.post(f"/{resource_type}", json=body, headers=FHIR_JSON)
    outcome(created, 405, "not-supported")
    updated = await client.put(f"/{resource_type}/x", json={**body, "id": "x"}, headers=FHIR_JSON)
    outcome(updated, 405, "not-supported")
    outcome(await client.delete(f"/{resource_type}/x"), 405, "not-supported")
    assert (await client.get(f"/{resource_type}")).status_code == 200


async def test_patient_contract_needs_read_on_what_the_document_holds(
    client: httpx.AsyncClient, data: Dataset, callers: Callers
) -> None:
    patients_only = callers.system("system/Patient.rs")
    outcome(
        await client.get(f"/Patient/{data.P1}/$patient-contract", headers=patients_only),
        403,
        "forbidden",
    )
    reader = callers.system("system/*.rs")
    response = await client.get(f"/Patient/{data.P1}/$patient-contract", headers=reader)
    assert response.status_code == 200, response.text
    assert response.json()["entry"][0]["resource"]["resourceType"] == "Composition"

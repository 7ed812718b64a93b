"""Provenance: every write leaves one, naming the version written and the caller; a client's
`X-Provenance` header adds to it but cannot hide who wrote."""

from __future__ import annotations

import json
from typing import Any

import httpx
import pytest

from tests.api.builders import FHIR_JSON
from tests.api.security.conftest import Callers
from tests.api.security.dataset import Dataset
from tests.api.security.helpers import audit_events_of, current, outcome, post, put, search_ids

pytestmark = pytest.mark.anyio

PARTICIPANT_TYPE = "http://terminology.hl7.org/CodeSystem/provenance-participant-type"
DATA_OPERATION = "http://terminology.hl7.org/CodeSystem/v3-DataOperation"


def _goal(patient: str) -> dict[str, Any]:
    return {
        "resourceType": "Goal",
        "lifecycleStatus": "proposed",
        "description": {"text": "Sova bättre"},
        "subject": {"reference": patient},
    }


def _x_provenance(resource: dict[str, Any]) -> dict[str, str]:
    # Header values are ASCII: non-ASCII letters go as JSON escapes (\u00e5 for å).
    return {"X-Provenance": json.dumps(resource, ensure_ascii=True)}


async def _provenances(client: httpx.AsyncClient, target: str) -> list[dict[str, Any]]:
    response = await client.get("/Provenance", params={"target": target})
    assert response.status_code == 200, response.text
    return [entry["resource"] for entry in response.json().get("entry", [])]


async def test_create_leaves_a_provenance(
    client: httpx.AsyncClient, data: Dataset, callers: Callers
) -> None:
    created = await post(client, _goal(data.ref("P1")), callers.clinician("R1"))
    assert created.status_code == 201, created.text
    goal = f"Goal/{created.json()['id']}"
    (provenance,) = await _provenances(client, goal)
    assert provenance["target"] == [{"reference": f"{goal}/_history/1"}]
    assert provenance["activity"]["coding"][0] == {
        "system": DATA_OPERATION,
        "code": "CREATE",
        "display": "create",
    }
    (agent,) = provenance["agent"]
    assert agent["who"] == {"reference": data.ref("R1")}
    assert agent["type"]["coding"][0]["code"] == "author"
    assert provenance["reason"][0]["coding"][0]["code"] == "TREAT"
    assert provenance["recorded"]


async def test_update_and_delete_leave_their_own(
    client: httpx.AsyncClient, data: Dataset, callers: Callers
) -> None:
    r1 = callers.clinician("R1")
    goal = await current(client, data.ref("P1_GOAL"))
    goal["lifecycleStatus"] = "on-hold"
    assert (await put(client, goal, r1)).status_code == 200
    assert (await client.delete(f"/{data.ref('P1_GOAL')}", headers=r1)).status_code == 204
    found = await _provenances(client, data.ref("P1_GOAL"))
    by_version = {p["target"][0]["reference"]: p for p in found}
    prefix = f"{data.ref('P1_GOAL')}/_history/"
    assert set(by_version) == {f"{prefix}1", f"{prefix}2", f"{prefix}3"}
    assert by_version[f"{prefix}1"]["agent"][0]["who"]["identifier"]["value"] == "pytest"
    assert by_version[f"{prefix}2"]["activity"]["coding"][0]["code"] == "UPDATE"
    assert by_version[f"{prefix}3"]["activity"]["coding"][0]["code"] == "DELETE"
    assert by_version[f"{prefix}3"]["agent"][0]["who"] == {"reference": data.ref("R1")}


async def test_patients_write_names_the_patient(
    client: httpx.AsyncClient, data: Dataset, callers: Callers
) -> None:
    appointment = await current(client, data.ref("P1_PROPOSED"))
    appointment["participant"][0]["status"] = "declined"
    assert (await put(client, appointment, callers.patient())).status_code == 200
    found = await _provenances(client, data.ref("P1_PROPOSED"))
    (update,) = [p for p in found if p["target"][0]["reference"].endswith("/_history/2")]
    assert update["agent"][0]["who"] == {"reference": data.ref("P1")}


async def test_emergency_write_gives_the_reason(
    client: httpx.AsyncClient, data: Dataset, callers: Callers
) -> None:
    headers = {**callers.clinician("R1"), "X-Purpose-Of-Use": "ETREAT", "X-Access-Reason": "akut"}
    created = await post(client, _goal(data.ref("P2")), headers)
    assert created.status_code == 201, created.text
    (provenance,) = await _provenances(client, f"Goal/{created.json()['id']}")
    (reason,) = provenance["reason"]
    assert reason["coding"][0]["code"] == "ETREAT"
    assert reason["text"] == "akut"


async def test_x_provenance_reason_is_kept(
    client: httpx.AsyncClient, data: Dataset, callers: Callers
) -> None:
    header = {
        "resourceType": "Provenance",
        "id": "ignored",
        "target": [{"reference": "Goal/not-this-one"}],
        "recorded": "2001-01-01T00:00:00Z",
        "reason": [{"text": "Vårdplanering"}],
    }
    created = await post(
        client, _goal(data.ref("P1")), {**callers.clinician("R1"), **_x_provenance(header)}
    )
    assert created.status_code == 201, created.text
    goal = f"Goal/{created.json()['id']}"
    (provenance,) = await _provenances(client, goal)
    assert provenance["reason"] == [{"text": "Vårdplanering"}]
    assert provenance["target"] == [{"reference": f"{goal}/_history/1"}]
    assert provenance["id"] != "ignored"
    assert provenance["recorded"] != "2001-01-01T00:00:00Z"
    assert provenance["agent"][0]["who"] == {"reference": data.ref("R1")}
    assert await _provenances(client, "Goal/not-this-one") == []


async def test_x_provenance_agents_are_kept_and_the_caller_added(
    client: httpx.AsyncClient, data: Dataset, callers: Callers
) -> None:
    author = {
        "type": {"coding": [{"system": PARTICIPANT_TYPE, "code": "author"}]},
        "who": {"reference": data.ref("R2")},
    }
    header = {"resourceType": "Provenance", "agent": [author], "reason": [{"text": "Inskrivet"}]}
    system = callers.system("system/*.cruds")
    created = await post(client, _goal(data.ref("P1")), {**system, **_x_provenance(header)})
    assert created.status_code == 201, created.text
    (provenance,) = await _provenances(client, f"Goal/{created.json()['id']}")
    first, second = provenance["agent"]
    assert first == author
    assert second["type"]["coding"][0]["code"] == "enterer"
    assert second["who"]["identifier"]["value"] == "integration"


@pytest.mark.parametrize(
    "value",
    [
        "{not json",
        '{"resourceType":"Goal"}',
        '["Provenance"]',
        '"Provenance"',
    ],
    ids=["not-json", "other-resource", "array", "string"],
)
async def test_malformed_x_provenance_is_400_and_stores_nothing(
    client: httpx.AsyncClient, data: Dataset, callers: Callers, value: str
) -> None:
    goals = await search_ids(client, "/Goal")
    provenances = await search_ids(client, "/Provenance")
    response = await post(
        client, _goal(data.ref("P1")), {**callers.clinician("R1"), "X-Provenance": value}
    )
    issue = outcome(response, 400, "invalid")["issue"][0]
    assert issue["expression"] == ["X-Provenance"]
    assert await search_ids(client, "/Goal") == goals
    assert await search_ids(client, "/Provenance") == provenances
    (event,) = await audit_events_of(client, response)
    assert event["outcome"] == "4"


async def test_x_provenance_that_makes_an_invalid_provenance_is_422(
    client: httpx.AsyncClient, data: Dataset, callers: Callers
) -> None:
    goals = await search_ids(client, "/Goal")
    # Provenance.agent.who is required (1..1).
    header = {
        "resourceType": "Provenance",
        "agent": [{"type": {"coding": [{"system": PARTICIPANT_TYPE, "code": "author"}]}}],
    }
    response = await post(
        client, _goal(data.ref("P1")), {**callers.clinician("R1"), **_x_provenance(header)}
    )
    outcome(response, 422)
    assert await search_ids(client, "/Goal") == goals


async def test_provenance_is_ignored_on_reads(
    client: httpx.AsyncClient, data: Dataset, callers: Callers
) -> None:
    response = await client.get(
        f"/{data.ref('P1_PLAN')}", headers={**callers.patient(), "X-Provenance": "{not json"}
    )
    assert response.status_code == 200, response.text


async def test_transaction_writes_leave_a_provenance_each(
    client: httpx.AsyncClient, data: Dataset, callers: Callers
) -> None:
    bundle = {
        "resourceType": "Bundle",
        "type": "transaction",
        "entry": [
            {"resource": _goal(data.ref("P1")), "request": {"method": "POST", "url": "Goal"}},
            {"resource": _goal(data.ref("P1")), "request": {"method": "POST", "url": "Goal"}},
        ],
    }
    response = await client.post("", json=bundle, headers={**FHIR_JSON, **callers.clinician("R1")})
    assert response.status_code == 200, response.text
    for entry in response.json()["entry"]:
        location = entry["response"]["location"]
        reference = location.split("/_history/")[0]
        targets = [p["target"] for p in await _provenances(client, reference)]
        assert [{"reference": location}] in targets


async def test_x_provenance_in_utf8_is_read_as_utf8(
    client: httpx.AsyncClient, data: Dataset, callers: Callers
) -> None:
    header = json.dumps(
        {"resourceType": "Provenance", "reason": [{"text": "Vårdplanering"}]}, ensure_ascii=False
    )
    headers = [
        (k.encode(), v.encode()) for k, v in {**callers.clinician("R1"), **FHIR_JSON}.items()
    ]
    headers.append((b"X-Provenance", header.encode()))  # raw UTF-8 bytes, as most clients send
    created = await client.post("/Goal", json=_goal(data.ref("P1")), headers=headers)
    assert created.status_code == 201, created.text
    (provenance,) = await _provenances(client, f"Goal/{created.json()['id']}")
    assert provenance["reason"] == [{"text": "Vårdplanering"}]

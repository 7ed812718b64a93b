"""The audit trail (loggranskning): every access, allowed or refused, leaves an AuditEvent
naming who, what, how and the request's X-Request-ID; the log itself cannot be written."""

from __future__ import annotations

import base64
import datetime as dt
from typing import Any
from zoneinfo import ZoneInfo

import httpx
import pytest

from tests.api.builders import FHIR_JSON
from tests.api.security.conftest import Callers
from tests.api.security.dataset import Dataset
from tests.api.security.helpers import (
    agent_who,
    all_audit_events,
    audit_events_of,
    entity_refs,
    outcome,
    post,
    refs,
    request_id_of,
    search_ids,
)

pytestmark = pytest.mark.anyio

STOCKHOLM = ZoneInfo("Europe/Stockholm")


async def _events(client: httpx.AsyncClient, **params: str) -> list[dict[str, Any]]:
    response = await client.get("/AuditEvent", params={"_count": "1000", **params})
    assert response.status_code == 200, response.text
    return [entry["resource"] for entry in response.json().get("entry", [])]


async def test_patients_read_is_found_by_patient(
    client: httpx.AsyncClient, data: Dataset, callers: Callers
) -> None:
    read = await client.get(f"/CarePlan/{data.P1_PLAN}", headers=callers.patient())
    assert read.status_code == 200
    request_id = read.headers["x-request-id"]
    events = await _events(client, patient=data.ref("P1"))
    (event,) = [e for e in events if request_id_of(e) == request_id]
    assert data.ref("P1_PLAN") in entity_refs(event)
    assert agent_who(event) == {"reference": data.ref("P1")}
    assert event["action"] == "R"
    assert event["outcome"] == "0"
    assert event["subtype"][0]["code"] == "read"
    user = next(a for a in event["agent"] if a["requestor"])
    assert user["extension"][0]["valueString"] == "patient/*.cruds"
    client_agent = next(a for a in event["agent"] if not a["requestor"])
    assert client_agent["who"]["identifier"]["value"] == "pytest"
    # P2's data was not reached, so the read is not in P2's log.
    other = await _events(client, patient=data.ref("P2"))
    assert request_id not in {request_id_of(e) for e in other}


async def test_refused_read_is_logged_with_outcome_4(
    client: httpx.AsyncClient, data: Dataset, callers: Callers
) -> None:
    refused = await client.get(f"/CarePlan/{data.P1_PLAN}", headers=callers.clinician("R3"))
    outcome(refused, 403, "forbidden")
    (event,) = await audit_events_of(client, refused)
    assert event["outcome"] == "4"
    assert event["outcomeDesc"] == "403 Forbidden"
    assert agent_who(event) == {"reference": data.ref("R3")}
    assert data.ref("P1_PLAN") in entity_refs(event)
    by_agent = await _events(client, agent=data.ref("R3"), patient=data.ref("P1"))
    assert refused.headers["x-request-id"] in {request_id_of(e) for e in by_agent}


async def test_patients_refused_read_is_logged_too(
    client: httpx.AsyncClient, data: Dataset, callers: Callers
) -> None:
    hidden = await client.get(f"/CarePlan/{data.P2_PLAN}", headers=callers.patient())
    outcome(hidden, 404, "not-found")
    (event,) = await audit_events_of(client, hidden)
    assert event["outcome"] == "4"
    assert event["outcomeDesc"] == "404 Not Found"
    # Logged as an access attempt on P2's data, by P1.
    assert agent_who(event) == {"reference": data.ref("P1")}
    assert data.ref("P2_PLAN") in entity_refs(event)


async def test_create_is_logged_with_action_c(
    client: httpx.AsyncClient, data: Dataset, callers: Callers
) -> None:
    goal = {
        "resourceType": "Goal",
        "lifecycleStatus": "proposed",
        "description": {"text": "Sova bättre"},
        "subject": {"reference": data.ref("P1")},
    }
    created = await post(client, goal, callers.clinician("R1"))
    assert created.status_code == 201, created.text
    (event,) = await audit_events_of(client, created)
    assert event["action"] == "C"
    assert event["outcome"] == "0"
    assert event["outcomeDesc"] == "201 Created"
    assert event["subtype"][0]["code"] == "create"
    assert f"Goal/{created.json()['id']}/_history/1" in entity_refs(event)
    assert data.ref("P1") in entity_refs(event)
    user = next(a for a in event["agent"] if a["requestor"])
    assert user["type"]["coding"][0]["code"] == "AUT"


async def test_rolled_back_write_leaves_no_success_record(
    client: httpx.AsyncClient, data: Dataset, callers: Callers
) -> None:
    """A write's AuditEvent is in the write's transaction: a transaction Bundle that fails
    leaves no record of its first entry as made, only failure records."""
    ok = {
        "resourceType": "Goal",
        "lifecycleStatus": "proposed",
        "description": {"text": "Första"},
        "subject": {"reference": data.ref("P1")},
    }
    bad = {**ok, "subject": {"reference": data.ref("P2")}}
    bundle = {
        "resourceType": "Bundle",
        "type": "transaction",
        "entry": [
            {"resource": ok, "request": {"method": "POST", "url": "Goal"}},
            {"resource": bad, "request": {"method": "POST", "url": "Goal"}},
        ],
    }
    before = await search_ids(client, "/Goal")
    response = await client.post("", json=bundle, headers={**FHIR_JSON, **callers.clinician("R1")})
    outcome(response, 403, "forbidden")
    assert await search_ids(client, "/Goal") == before
    events = await audit_events_of(client, response)
    assert events
    assert {e["outcome"] for e in events} == {"4"}
    assert {e["action"] for e in events} == {"C"}


async def test_invalid_write_is_logged_and_stores_nothing(
    client: httpx.AsyncClient, data: Dataset, callers: Callers
) -> None:
    invalid = {
        "resourceType": "Goal",
        "description": {"text": "Utan lifecycleStatus"},
        "subject": {"reference": data.ref("P1")},
    }
    before = await search_ids(client, "/Goal")
    response = await post(client, invalid, callers.clinician("R1"))
    outcome(response, 422)
    assert await search_ids(client, "/Goal") == before
    (event,) = await audit_events_of(client, response)
    assert event["outcome"] == "4"
    assert event["outcomeDesc"] == "422 Unprocessable Entity"
    assert event["action"] == "C"
    assert agent_who(event) == {"reference": data.ref("R1")}


async def test_log_searches(client: httpx.AsyncClient, data: Dataset, callers: Callers) -> None:
    read = await client.get(f"/CarePlan/{data.P1_PLAN}", headers=callers.clinician("R1"))
    assert read.status_code == 200
    request_id = read.headers["x-request-id"]

    by_agent = await _events(client, agent=data.ref("R1"))
    assert request_id in {request_id_of(e) for e in by_agent}
    assert all(agent_who(e) == {"reference": data.ref("R1")} for e in by_agent)

    by_entity = await _events(client, entity=data.ref("P1_PLAN"))
    assert request_id in {request_id_of(e) for e in by_entity}
    # Versioned entities (`CarePlan/x/_history/1` of the write) match too.
    assert all(
        data.ref("P1_PLAN") in {r.split("/_history/")[0] for r in entity_refs(e)} for e in by_entity
    )
    assert {e["action"] for e in by_entity} == {"C", "R"}

    today = dt.datetime.now(STOCKHOLM).date()
    since_today = await _events(client, date=f"ge{today.isoformat()}")
    assert request_id in {request_id_of(e) for e in since_today}
    tomorrow = today + dt.timedelta(days=1)
    assert await _events(client, date=f"ge{(tomorrow + dt.timedelta(days=1)).isoformat()}") == []
    both = await _events(client, agent=data.ref("R1"), date=f"ge{today.isoformat()}")
    assert request_id in {request_id_of(e) for e in both}


async def test_search_is_logged_with_its_query_and_results(
    client: httpx.AsyncClient, data: Dataset, callers: Callers
) -> None:
    found = await client.get(
        "/CarePlan", params={"status": "active"}, headers=callers.clinician("R1")
    )
    assert refs(found) == {data.ref("P1_PLAN")}
    (event,) = await audit_events_of(client, found)
    assert event["action"] == "E"
    assert event["subtype"][0]["code"] == "search-type"
    assert data.ref("P1_PLAN") in entity_refs(event)
    assert data.ref("P2_PLAN") not in entity_refs(event)
    (query,) = [e for e in event["entity"] if e.get("role", {}).get("code") == "24"]
    assert query["description"] == "CarePlan"
    assert base64.b64decode(query["query"]).decode() == "status=active"


@pytest.mark.parametrize("scope", ["system/*.cruds", "system/AuditEvent.cruds"])
async def test_audit_events_cannot_be_written(
    client: httpx.AsyncClient, data: Dataset, callers: Callers, scope: str
) -> None:
    read = await client.get(f"/CarePlan/{data.P1_PLAN}", headers=callers.patient())
    (event,) = await audit_events_of(client, read)
    headers = {**FHIR_JSON, **callers.system(scope)}
    changed = {**event, "outcome": "8"}
    put = await client.put(f"/AuditEvent/{event['id']}", json=changed, headers=headers)
    outcome(put, 405, "not-supported")
    post_ = await client.post(
        "/AuditEvent", json={k: v for k, v in event.items() if k != "id"}, headers=headers
    )
    outcome(post_, 405, "not-supported")
    patch = await client.patch(
        f"/AuditEvent/{event['id']}",
        json=[{"op": "replace", "path": "/outcome", "value": "8"}],
        headers={**headers, "Content-Type": "application/json-patch+json"},
    )
    outcome(patch, 405, "not-supported")
    delete = await client.delete(f"/AuditEvent/{event['id']}", headers=headers)
    outcome(delete, 405, "not-supported")
    conditional = await client.delete("/AuditEvent", params={"_id": event["id"]}, headers=headers)
    outcome(conditional, 405, "not-supported")
    bundle = {
        "resourceType": "Bundle",
        "type": "transaction",
        "entry": [{"request": {"method": "DELETE", "url": f"AuditEvent/{event['id']}"}}],
    }
    outcome(await client.post("", json=bundle, headers=headers), 405, "not-supported")
    stored = await client.get(f"/AuditEvent/{event['id']}")
    assert stored.status_code == 200
    assert stored.json() == event


async def test_every_patient_response_names_its_audit_record(
    client: httpx.AsyncClient, data: Dataset, callers: Callers
) -> None:
    p1 = callers.patient()
    responses = [
        await client.get(f"/CarePlan/{data.P1_PLAN}", headers=p1),
        await client.get(f"/CarePlan/{data.P2_PLAN}", headers=p1),
        await client.get("/CarePlan", headers=p1),
        await client.get(f"/CarePlan/{data.P1_PLAN}/_history", headers=p1),
        await client.get(f"/Patient/{data.P1}/$patient-contract", headers=p1),
        await client.get(
            f"/Goal/{data.P1_GOAL}", headers=callers.patient(scope="patient/CarePlan.rs")
        ),
        await client.delete(f"/Goal/{data.P1_GOAL}", headers=p1),
    ]
    ids = [r.headers["x-request-id"] for r in responses]
    assert len(set(ids)) == len(ids)
    recorded = {request_id_of(e) for e in await all_audit_events(client)}
    for response, request_id in zip(responses, ids, strict=True):
        assert request_id in recorded, (response.request.url, response.status_code)


async def test_patients_audit_log_never_reveals_another_patient(
    client: httpx.AsyncClient, data: Dataset, callers: Callers
) -> None:
    hidden = await client.get(f"/CarePlan/{data.P2_PLAN}", headers=callers.patient())
    outcome(hidden, 404, "not-found")
    log = await client.get("/AuditEvent", params={"_count": "1000"}, headers=callers.patient())
    if log.status_code == 403:
        return
    assert log.status_code == 200, log.text
    assert data.P2 not in log.text
    other = await client.get(
        "/AuditEvent", params={"_count": "1000"}, headers=callers.patient("P2")
    )
    assert other.status_code == 403 or data.P1 not in other.text

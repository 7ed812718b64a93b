"""Clinician (user) context: a PractitionerRole sees the data of patients it has a care
relation with (care team or organisation performing in an active plan); other patients' data is
403 on reads and filtered from searches, unless emergency access is declared."""

from __future__ import annotations

import httpx
import pytest

from tests.api.builders import FHIR_JSON
from tests.api.security.conftest import Callers
from tests.api.security.dataset import CANONICALS, Dataset
from tests.api.security.helpers import (
    audit_events_of,
    current,
    entity_refs,
    outcome,
    post,
    put,
    refs,
    search_ids,
)
from tests.conftest import Tokens

pytestmark = pytest.mark.anyio

EMERGENCY = {"X-Purpose-Of-Use": "ETREAT", "X-Access-Reason": "akut"}


def _goal(patient: str) -> dict[str, object]:
    return {
        "resourceType": "Goal",
        "lifecycleStatus": "proposed",
        "description": {"text": "Sova bättre"},
        "subject": {"reference": patient},
    }


async def test_care_team_member_reads_his_patients_plan(
    client: httpx.AsyncClient, data: Dataset, callers: Callers
) -> None:
    response = await client.get(f"/CarePlan/{data.P1_PLAN}", headers=callers.clinician("R1"))
    assert response.status_code == 200, response.text
    assert response.json()["id"] == data.P1_PLAN
    for key in ("P1", "P1_TEAM", "P1_GOAL", "P1_CONDITION", "P1_BOOKED"):
        read = await client.get(f"/{data.ref(key)}", headers=callers.clinician("R1"))
        assert read.status_code == 200, (key, read.text)


async def test_other_patients_plan_is_403(
    client: httpx.AsyncClient, data: Dataset, callers: Callers
) -> None:
    r1 = callers.clinician("R1")
    for key in ("P2_PLAN", "P2", "P2_GOAL", "P2_TEAM", "P2_APPOINTMENT"):
        response = await client.get(f"/{data.ref(key)}", headers=r1)
        issue = outcome(response, 403, "forbidden")["issue"][0]
        assert "no care relation" in issue["diagnostics"]
        assert "X-Purpose-Of-Use: ETREAT" in issue["diagnostics"]
    outcome(await client.get(f"/CarePlan/{data.P2_PLAN}/_history/1", headers=r1), 403)
    outcome(await client.get(f"/CarePlan/{data.P2_PLAN}/_history", headers=r1), 403)


async def test_searches_return_only_related_patients(
    client: httpx.AsyncClient, data: Dataset, callers: Callers
) -> None:
    r1 = callers.clinician("R1")
    assert refs(await client.get("/CarePlan", headers=r1)) == {data.ref("P1_PLAN")}
    assert refs(await client.get("/Patient", headers=r1)) == {data.ref("P1")}
    assert refs(await client.get("/Goal", params={"patient": data.ref("P2")}, headers=r1)) == set()
    assert refs(await client.get("/CarePlan/_history", headers=r1)) == {data.ref("P1_PLAN")}
    included = await client.get("/CareTeam", params={"_include": "CareTeam:patient"}, headers=r1)
    assert refs(included) == {data.ref("P1_TEAM"), data.ref("P1")}
    r3 = callers.clinician("R3")
    assert refs(await client.get("/CarePlan", headers=r3)) == {data.ref("P2_PLAN")}
    # Resources outside every patient compartment are visible to every clinician.
    organizations = await client.get("/Organization", headers=r1)
    assert refs(organizations) == {data.ref("O1"), data.ref("O2"), data.ref("O3")}
    assert (await client.get(f"/{data.ref('R3')}", headers=r1)).status_code == 200


async def test_emergency_access_reads_and_is_audited(
    client: httpx.AsyncClient, data: Dataset, callers: Callers
) -> None:
    response = await client.get(
        f"/CarePlan/{data.P2_PLAN}", headers={**callers.clinician("R1"), **EMERGENCY}
    )
    assert response.status_code == 200, response.text
    assert response.json()["id"] == data.P2_PLAN
    (event,) = await audit_events_of(client, response)
    assert event["outcome"] == "0"
    assert data.ref("P2_PLAN") in entity_refs(event)
    assert data.ref("P2") in entity_refs(event)
    (purpose,) = event["purposeOfEvent"]
    assert purpose["coding"][0]["code"] == "ETREAT"
    assert purpose["coding"][0]["system"] == "http://terminology.hl7.org/CodeSystem/v3-ActReason"
    assert purpose["text"] == "akut"
    # Searches under emergency access reach every patient, and are audited the same way.
    found = await client.get("/CarePlan", headers={**callers.clinician("R1"), **EMERGENCY})
    assert refs(found) == {data.ref("P1_PLAN"), data.ref("P2_PLAN")}
    (search,) = await audit_events_of(client, found)
    assert search["purposeOfEvent"][0]["coding"][0]["code"] == "ETREAT"


async def test_ordinary_access_is_audited_as_treat(
    client: httpx.AsyncClient, data: Dataset, callers: Callers
) -> None:
    response = await client.get(f"/CarePlan/{data.P1_PLAN}", headers=callers.clinician("R1"))
    (event,) = await audit_events_of(client, response)
    assert event["purposeOfEvent"][0]["coding"][0]["code"] == "TREAT"
    assert "text" not in event["purposeOfEvent"][0]


@pytest.mark.parametrize(
    "headers",
    [
        {"X-Purpose-Of-Use": "ETREAT"},
        {"X-Purpose-Of-Use": "ETREAT", "X-Access-Reason": "   "},
        {"X-Purpose-Of-Use": "ETREAT", "X-Access-Reason": "x" * 501},
        {"X-Purpose-Of-Use": "HMARKT", "X-Access-Reason": "akut"},
    ],
    ids=["no-reason", "blank-reason", "too-long", "other-purpose"],
)
async def test_emergency_access_needs_a_reason(
    client: httpx.AsyncClient, data: Dataset, callers: Callers, headers: dict[str, str]
) -> None:
    response = await client.get(
        f"/CarePlan/{data.P2_PLAN}", headers={**callers.clinician("R1"), **headers}
    )
    outcome(response, 400, "invalid")
    assert data.P2_PLAN not in response.text
    (event,) = await audit_events_of(client, response)
    assert event["outcome"] == "4"
    assert event["outcomeDesc"] == "400 Bad Request"


async def test_emergency_access_is_for_clinicians_only(
    client: httpx.AsyncClient, data: Dataset, callers: Callers
) -> None:
    for headers in (callers.patient("P1"), callers.system("system/*.read")):
        response = await client.get(f"/CarePlan/{data.P1_PLAN}", headers={**headers, **EMERGENCY})
        issue = outcome(response, 403, "forbidden")["issue"][0]
        assert "only clinicians" in issue["diagnostics"]
        (event,) = await audit_events_of(client, response)
        assert event["outcome"] == "4"


async def test_organisation_performing_in_the_plan_gives_a_relation(
    client: httpx.AsyncClient, data: Dataset, callers: Callers
) -> None:
    r2 = callers.clinician("R2")
    response = await client.get(f"/CarePlan/{data.P1_PLAN}", headers=r2)
    assert response.status_code == 200, response.text
    assert refs(await client.get("/CarePlan", headers=r2)) == {data.ref("P1_PLAN")}
    outcome(await client.get(f"/CarePlan/{data.P2_PLAN}", headers=r2), 403, "forbidden")


async def test_role_performing_in_the_plan_gives_its_organisation_a_relation(
    client: httpx.AsyncClient, data: Dataset, callers: Callers, tokens: Tokens
) -> None:
    # Another role of O3 (R3's organisation) performs an activity of P1's plan: R3 relates too.
    role = await post(
        client,
        {
            "resourceType": "PractitionerRole",
            "active": True,
            "organization": {"reference": data.ref("O3")},
            "code": [{"text": "Arbetsterapeut, kommun"}],
        },
        {},
    )
    assert role.status_code == 201, role.text
    r3 = callers.clinician("R3")
    outcome(await client.get(f"/CarePlan/{data.P1_PLAN}", headers=r3), 403, "forbidden")
    plan = await current(client, data.ref("P1_PLAN"))
    plan["activity"].append(
        {
            "detail": {
                "code": {"text": "Hemtjänst"},
                "status": "scheduled",
                "performer": [{"reference": f"PractitionerRole/{role.json()['id']}"}],
            }
        }
    )
    assert (await put(client, plan, {})).status_code == 200
    assert (await client.get(f"/CarePlan/{data.P1_PLAN}", headers=r3)).status_code == 200


async def test_role_without_relation_is_403(
    client: httpx.AsyncClient, data: Dataset, callers: Callers
) -> None:
    r3 = callers.clinician("R3")
    outcome(await client.get(f"/CarePlan/{data.P1_PLAN}", headers=r3), 403, "forbidden")
    assert refs(await client.get("/Patient", headers=r3)) == {data.ref("P2")}


async def test_creates_a_goal_stamped_with_his_organisation(
    client: httpx.AsyncClient, data: Dataset, callers: Callers
) -> None:
    response = await post(client, _goal(data.ref("P1")), callers.clinician("R1"))
    assert response.status_code == 201, response.text
    stored = await current(client, f"Goal/{response.json()['id']}")
    holders = [e for e in stored["extension"] if e["url"] == CANONICALS.information_holder]
    assert holders == [
        {"url": CANONICALS.information_holder, "valueReference": {"reference": data.ref("O1")}}
    ]
    # An update by another organisation keeps the holder.
    stored["lifecycleStatus"] = "active"
    del stored["extension"]
    updated = await put(client, stored, callers.clinician("R2"))
    assert updated.status_code == 200, updated.text
    again = await current(client, f"Goal/{response.json()['id']}")
    assert again["extension"] == holders


async def test_declared_holder_is_kept(
    client: httpx.AsyncClient, data: Dataset, callers: Callers
) -> None:
    goal = _goal(data.ref("P1"))
    goal["extension"] = [
        {"url": CANONICALS.information_holder, "valueReference": {"reference": data.ref("O2")}}
    ]
    response = await post(client, goal, callers.clinician("R1"))
    assert response.status_code == 201, response.text
    stored = await current(client, f"Goal/{response.json()['id']}")
    assert stored["extension"] == goal["extension"]


async def test_may_not_write_for_an_unrelated_patient(
    client: httpx.AsyncClient, data: Dataset, callers: Callers
) -> None:
    before = await search_ids(client, "/Goal")
    response = await post(client, _goal(data.ref("P2")), callers.clinician("R1"))
    issue = outcome(response, 403, "forbidden")["issue"][0]
    assert "care relation" in issue["diagnostics"]
    assert await search_ids(client, "/Goal") == before
    # Nor update or delete what it may not read.
    goal = await current(client, data.ref("P2_GOAL"))
    goal["lifecycleStatus"] = "cancelled"
    outcome(await put(client, goal, callers.clinician("R1")), 403, "forbidden")
    deleted = await client.delete(f"/{data.ref('P2_GOAL')}", headers=callers.clinician("R1"))
    outcome(deleted, 403, "forbidden")
    assert (await current(client, data.ref("P2_GOAL")))["meta"]["versionId"] == "1"
    # In emergency the write is allowed (and stamped like any other).
    urgent = await post(client, _goal(data.ref("P2")), {**callers.clinician("R1"), **EMERGENCY})
    assert urgent.status_code == 201, urgent.text


async def test_inactive_care_team_gives_no_relation(
    client: httpx.AsyncClient, data: Dataset, callers: Callers
) -> None:
    r1 = callers.clinician("R1")
    assert (await client.get(f"/CarePlan/{data.P1_PLAN}", headers=r1)).status_code == 200
    team = await current(client, data.ref("P1_TEAM"))
    team["status"] = "inactive"
    assert (await put(client, team, {})).status_code == 200
    outcome(await client.get(f"/CarePlan/{data.P1_PLAN}", headers=r1), 403, "forbidden")
    assert refs(await client.get("/CarePlan", headers=r1)) == set()


async def test_inactive_plan_gives_its_performers_no_relation(
    client: httpx.AsyncClient, data: Dataset, callers: Callers
) -> None:
    plan = await current(client, data.ref("P1_PLAN"))
    plan["status"] = "completed"
    assert (await put(client, plan, {})).status_code == 200
    outcome(await client.get(f"/CarePlan/{data.P1_PLAN}", headers=callers.clinician("R2")), 403)
    # R1's relation comes from the care team and remains.
    assert (
        await client.get(f"/CarePlan/{data.P1_PLAN}", headers=callers.clinician("R1"))
    ).status_code == 200


async def test_unknown_practitioner_role_is_403(
    client: httpx.AsyncClient, data: Dataset, tokens: Tokens
) -> None:
    headers = tokens.headers("user/*.cruds", fhir_user="PractitionerRole/no-such-role")
    response = await client.get(f"/CarePlan/{data.P1_PLAN}", headers=headers)
    issue = outcome(response, 403, "forbidden")["issue"][0]
    assert "not a PractitionerRole known here" in issue["diagnostics"]
    (event,) = await audit_events_of(client, response)
    assert event["outcome"] == "4"
    # A deleted role is unknown too.
    assert (await client.delete(f"/{data.ref('R1')}")).status_code == 204
    headers = tokens.headers("user/*.cruds", fhir_user=data.ref("R1"))
    outcome(await client.get(f"/CarePlan/{data.P1_PLAN}", headers=headers), 403, "forbidden")


async def test_user_scopes_limit_the_clinician(
    client: httpx.AsyncClient, data: Dataset, callers: Callers
) -> None:
    reader = callers.clinician("R1", scope="user/CarePlan.rs")
    assert (await client.get(f"/CarePlan/{data.P1_PLAN}", headers=reader)).status_code == 200
    outcome(await client.get(f"/Goal/{data.P1_GOAL}", headers=reader), 403, "forbidden")
    outcome(await post(client, _goal(data.ref("P1")), reader), 403, "forbidden")
    system_scope = callers.clinician("R1", scope="system/*.cruds")
    outcome(await client.get(f"/CarePlan/{data.P1_PLAN}", headers=system_scope), 403)


async def test_transaction_with_an_unrelated_patients_entry_fails_as_a_whole(
    client: httpx.AsyncClient, data: Dataset, callers: Callers
) -> None:
    before = await search_ids(client, "/Goal")
    bundle = {
        "resourceType": "Bundle",
        "type": "transaction",
        "entry": [
            {"resource": _goal(data.ref("P1")), "request": {"method": "POST", "url": "Goal"}},
            {"resource": _goal(data.ref("P2")), "request": {"method": "POST", "url": "Goal"}},
        ],
    }
    response = await client.post("", json=bundle, headers={**FHIR_JSON, **callers.clinician("R1")})
    outcome(response, 403, "forbidden")
    assert await search_ids(client, "/Goal") == before


@pytest.mark.parametrize("encoding", ["utf-8", "latin-1"], ids=["utf-8-client", "latin-1-browser"])
async def test_swedish_reason_is_recorded_as_written(
    client: httpx.AsyncClient, data: Dataset, callers: Callers, encoding: str
) -> None:
    reason = "medvetslös, ingen anhörig nåbar"
    headers = [
        (k.encode(), v.encode()) for k, v in {**callers.clinician("R1"), **EMERGENCY}.items()
    ]
    headers = [(k, v) for k, v in headers if k != b"X-Access-Reason"]
    headers.append((b"X-Access-Reason", reason.encode(encoding)))
    response = await client.get(f"/CarePlan/{data.P2_PLAN}", headers=headers)
    assert response.status_code == 200, response.text
    (event,) = await audit_events_of(client, response)
    assert event["purposeOfEvent"][0]["text"] == reason


async def test_clinician_cannot_grant_himself_a_care_relation(
    client: httpx.AsyncClient, data: Dataset, callers: Callers
) -> None:
    r3 = callers.clinician("R3")
    team = {
        "resourceType": "CareTeam",
        "status": "active",
        "subject": {"reference": data.ref("P1")},
        "participant": [{"member": {"reference": data.ref("R3")}}],
    }
    created = await post(client, team, r3)
    outcome(created, 403, "forbidden")
    outcome(await client.get(f"/CarePlan/{data.P1_PLAN}", headers=r3), 403, "forbidden")


async def test_an_integration_starts_a_care_relation(
    client: httpx.AsyncClient, data: Dataset, callers: Callers
) -> None:
    """Relations start in the EHR: its system client writes the CareTeam, and from then on
    the clinician reaches the patient's data without emergency access."""
    r3 = callers.clinician("R3")
    outcome(await client.get(f"/CarePlan/{data.P1_PLAN}", headers=r3), 403, "forbidden")
    team = {
        "resourceType": "CareTeam",
        "status": "active",
        "subject": {"reference": data.ref("P1")},
        "participant": [{"member": {"reference": data.ref("R3")}}],
    }
    created = await client.post("/CareTeam", json=team, headers=FHIR_JSON)
    assert created.status_code == 201, created.text
    assert (await client.get(f"/CarePlan/{data.P1_PLAN}", headers=r3)).status_code == 200


async def test_patient_contract_follows_the_care_relation(
    client: httpx.AsyncClient, data: Dataset, callers: Callers
) -> None:
    r1 = callers.clinician("R1")
    own = await client.get(f"/Patient/{data.P1}/$patient-contract", headers=r1)
    assert own.status_code == 200, own.text
    document = own.json()
    assert document["type"] == "document"
    assert f"Patient/{data.P1}" in {
        f"{e['resource']['resourceType']}/{e['resource']['id']}" for e in document["entry"]
    }
    assert f"Patient/{data.P2}" not in own.text
    outcome(await client.get(f"/Patient/{data.P2}/$patient-contract", headers=r1), 403)
    emergency = await client.get(
        f"/Patient/{data.P2}/$patient-contract", headers={**r1, **EMERGENCY}
    )
    assert emergency.status_code == 200, emergency.text
    assert f"Patient/{data.P2}" in emergency.text
    events = await audit_events_of(client, emergency)
    assert events, "the emergency $patient-contract left no AuditEvent"
    for event in events:
        purpose = event["purposeOfEvent"][0]
        assert purpose["coding"][0]["code"] == "ETREAT"
        assert purpose["text"] == "akut"
        assert f"Patient/{data.P2}" in entity_refs(event)

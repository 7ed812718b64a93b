"""Builders and checks the contract-rule tests share. Test data only: the one personnummer
191212121212 (Tolvan Tolvansson); other people carry made-up `urn:test:` identifiers."""

from __future__ import annotations

from typing import Any

import httpx

from patientkontrakt.contract.vocabulary import (
    CATEGORY_PATIENTKONTRAKT,
    ROLE_FAST_LAKARKONTAKT,
    ROLE_FAST_VARDKONTAKT,
    Canonicals,
)
from tests.api import builders
from tests.api.builders import FHIR_JSON

CANONICALS = Canonicals()
LAKARE = ROLE_FAST_LAKARKONTAKT
VARD = ROLE_FAST_VARDKONTAKT
PAST = "2020-01-31"
FUTURE = "2099-12-31"


async def put(client: httpx.AsyncClient, resource: dict[str, Any]) -> httpx.Response:
    """PUT `resource` under its own id (update or update-as-create)."""
    url = f"/{resource['resourceType']}/{resource['id']}"
    return await client.put(url, json=resource, headers=FHIR_JSON)


async def post(client: httpx.AsyncClient, resource: dict[str, Any]) -> httpx.Response:
    """POST `resource` to its type."""
    return await client.post(f"/{resource['resourceType']}", json=resource, headers=FHIR_JSON)


async def created(client: httpx.AsyncClient, resource: dict[str, Any]) -> str:
    """POST `resource`; its new id (fails the test unless 201)."""
    response = await post(client, resource)
    assert response.status_code == 201, response.text
    return str(response.json()["id"])


async def stored(client: httpx.AsyncClient, resource: dict[str, Any]) -> None:
    """PUT `resource`; fails the test unless it was stored (200 or 201)."""
    response = await put(client, resource)
    assert response.status_code in (200, 201), response.text


async def tolvan(client: httpx.AsyncClient) -> str:
    """Tolvan Tolvansson; his id."""
    return await created(client, builders.patient())


async def other_patient(client: httpx.AsyncClient) -> str:
    """Another (made-up) patient; its id."""
    body = {
        "resourceType": "Patient",
        "identifier": [{"system": "urn:test:patient", "value": "annan-patient"}],
        "name": [{"family": "Testsson", "given": ["Annan"]}],
    }
    return await created(client, body)


def broken_rules(response: httpx.Response) -> list[dict[str, Any]]:
    """The issues of a 422 refusal by the contract rules (every one a `business-rule`)."""
    assert response.status_code == 422, response.text
    body = response.json()
    assert body["resourceType"] == "OperationOutcome"
    issues: list[dict[str, Any]] = body["issue"]
    assert issues
    assert all(i["code"] == "business-rule" and i["severity"] == "error" for i in issues), issues
    return issues


def expressions(response: httpx.Response) -> list[str]:
    """The `expression` of each issue of a 422 refusal by the contract rules."""
    return [e for i in broken_rules(response) for e in i["expression"]]


def participant(
    role: str, member: str, *, start: str = "2026-11-02", end: str | None = None
) -> dict[str, Any]:
    """A CareTeam participant with a care-team-role of the product."""
    period = {"start": start, **({"end": end} if end else {})}
    return {
        "role": [{"coding": [{"system": CANONICALS.care_team_role, "code": role}]}],
        "member": {"reference": member, "type": member.split("/")[0]},
        "period": period,
    }


def care_team(
    patient: str,
    *participants: dict[str, Any],
    unit: str | None = "Organization/vardcentral",
    status: str = "active",
) -> dict[str, Any]:
    """A CareTeam of `Patient/{patient}` managed by `unit`."""
    team: dict[str, Any] = {
        "resourceType": "CareTeam",
        "status": status,
        "name": "Tolvans vårdteam",
        "subject": {"reference": f"Patient/{patient}"},
        "participant": list(participants),
    }
    if unit is not None:
        team["managingOrganization"] = [{"reference": unit}]
    return team


def contract_plan(patient: str, *activities: dict[str, Any]) -> dict[str, Any]:
    """The patient's contract CarePlan (category patientkontrakt) with `activities`."""
    plan = builders.care_plan(f"Patient/{patient}")
    plan["category"] = [
        {"coding": [{"system": CANONICALS.contract_category, "code": CATEGORY_PATIENTKONTRAKT}]}
    ]
    if activities:
        plan["activity"] = list(activities)
    return plan


def done_by(*performers: str, text: str = "Stödsamtal") -> dict[str, Any]:
    """A plan activity described in `detail`, performed by `performers` (`Type/id`)."""
    return {
        "detail": {
            "code": {"text": text},
            "status": "scheduled",
            "performer": [{"reference": p} for p in performers],
        }
    }


def refers_to(reference: str) -> dict[str, Any]:
    """A plan activity that is a reference to an Appointment, ServiceRequest, ..."""
    return {"reference": {"reference": reference}}


def appointment(
    patient: str,
    *,
    status: str = "booked",
    answer: str = "accepted",
    with_whom: str | None = "PractitionerRole/lakare-1",
) -> dict[str, Any]:
    """An Appointment of `Patient/{patient}`; `answer` is the patient participant's status."""
    body = builders.appointment(f"Patient/{patient}")
    body["status"] = status
    body["participant"][0]["status"] = answer
    if with_whom is not None:
        body["participant"].append({"actor": {"reference": with_whom}, "status": "accepted"})
    return body


def service_request(
    patient: str, performer: str | None = "Organization/psykiatri"
) -> dict[str, Any]:
    """A referral of `Patient/{patient}` to `performer`."""
    body: dict[str, Any] = {
        "resourceType": "ServiceRequest",
        "status": "active",
        "intent": "order",
        "code": {"text": "Bedömning av läkemedelsbehandling"},
        "subject": {"reference": f"Patient/{patient}"},
    }
    if performer is not None:
        body["performer"] = [{"reference": performer}]
    return body

"""Överenskommen tid: a plan's Appointments are its patient's, and booked means accepted."""

from __future__ import annotations

import uuid

import httpx
import pytest

from tests.api.builders import FHIR_JSON, care_plan
from tests.api.contract.helpers import (
    CANONICALS,
    appointment,
    broken_rules,
    contract_plan,
    created,
    expressions,
    other_patient,
    post,
    put,
    refers_to,
    tolvan,
)

pytestmark = pytest.mark.anyio


async def test_a_plan_may_reference_its_patients_agreed_time(client: httpx.AsyncClient) -> None:
    pid = await tolvan(client)
    aid = await created(client, appointment(pid))
    response = await post(client, contract_plan(pid, refers_to(f"Appointment/{aid}")))
    assert response.status_code == 201, response.text
    assert response.json()["activity"][0]["reference"]["reference"] == f"Appointment/{aid}"


@pytest.mark.parametrize("contract", [True, False], ids=["contract-plan", "any-plan"])
async def test_a_plan_may_not_reference_another_patients_time(
    client: httpx.AsyncClient, contract: bool
) -> None:
    pid, other = await tolvan(client), await other_patient(client)
    aid = await created(client, appointment(other))
    plan = care_plan(f"Patient/{pid}")
    if contract:
        plan = contract_plan(pid)
    plan["activity"] = [
        {"detail": {"status": "scheduled", "performer": [{"reference": f"Patient/{pid}"}]}},
        refers_to(f"Appointment/{aid}"),
    ]
    response = await post(client, plan)
    issues = broken_rules(response)
    assert [i["expression"] for i in issues] == [["CarePlan.activity[1].reference"]]
    assert f"Patient/{pid}" in issues[0]["diagnostics"]
    assert "hör inte till planens patient" in issues[0]["diagnostics"]


async def test_removing_the_patient_from_a_planned_time_is_refused(
    client: httpx.AsyncClient,
) -> None:
    pid, other = await tolvan(client), await other_patient(client)
    booked = appointment(pid)
    aid = await created(client, booked)
    plan_id = await created(client, contract_plan(pid, refers_to(f"Appointment/{aid}")))

    moved = {**booked, "id": aid}
    moved["participant"] = [
        {**booked["participant"][0], "actor": {"reference": f"Patient/{other}"}}
    ]
    moved["participant"].append(booked["participant"][1])
    response = await put(client, moved)
    issues = broken_rules(response)
    assert [i["expression"] for i in issues] == [["Appointment.participant"]]
    assert f"CarePlan/{plan_id}" in issues[0]["diagnostics"]
    assert (await client.get(f"/Appointment/{aid}")).json()["meta"]["versionId"] == "1"


async def test_a_contract_plan_may_not_call_an_unaccepted_booking_agreed(
    client: httpx.AsyncClient,
) -> None:
    pid = await tolvan(client)
    aid = await created(client, appointment(pid, answer="needs-action"))
    response = await post(client, contract_plan(pid, refers_to(f"Appointment/{aid}")))
    issues = broken_rules(response)
    assert [i["expression"] for i in issues] == [["CarePlan.activity[0].reference"]]
    message = issues[0]["diagnostics"]
    assert "överenskommen tid" in message
    assert "proposed" in message
    assert "accepted" in message


async def test_a_contract_plan_may_hold_a_proposal(client: httpx.AsyncClient) -> None:
    pid = await tolvan(client)
    proposal = appointment(pid, status="proposed", answer="needs-action")
    del proposal["start"], proposal["end"]
    aid = await created(client, proposal)
    response = await post(client, contract_plan(pid, refers_to(f"Appointment/{aid}")))
    assert response.status_code == 201, response.text


async def test_booking_a_planned_proposal_needs_the_patients_acceptance(
    client: httpx.AsyncClient,
) -> None:
    pid = await tolvan(client)
    proposal = appointment(pid, status="pending", answer="tentative")
    aid = await created(client, proposal)
    await created(client, contract_plan(pid, refers_to(f"Appointment/{aid}")))

    booked = {**proposal, "id": aid, "status": "booked"}
    response = await put(client, booked)
    assert expressions(response) == ["Appointment.participant[0].status"]
    assert "proposed" in broken_rules(response)[0]["diagnostics"]

    booked["participant"][0]["status"] = "accepted"
    response = await put(client, booked)
    assert response.status_code == 200, response.text
    assert response.json()["status"] == "booked"


async def test_an_unaccepted_booking_outside_the_contract_is_stored(
    client: httpx.AsyncClient,
) -> None:
    """A kallelse synced from the EHR: booked by the clinic, not yet confirmed by the patient."""
    pid = await tolvan(client)
    response = await post(client, appointment(pid, answer="needs-action"))
    assert response.status_code == 201, response.text
    plan = care_plan(f"Patient/{pid}")
    plan["activity"] = [refers_to(f"Appointment/{response.json()['id']}")]
    assert (await post(client, plan)).status_code == 201


async def test_an_appointment_claiming_the_contract_profile_must_be_accepted(
    client: httpx.AsyncClient,
) -> None:
    """The profile's invariant pk-app-2 says so too (and, validating first, answers first)."""
    pid = await tolvan(client)
    claimed = appointment(pid, answer="needs-action")
    claimed["meta"] = {"profile": [CANONICALS.profile("pk-appointment")]}
    response = await post(client, claimed)
    assert response.status_code == 422, response.text
    assert "accepted" in response.json()["issue"][0]["diagnostics"]
    claimed["participant"][0]["status"] = "accepted"
    response = await post(client, claimed)
    assert response.status_code == 201, response.text


async def test_entry_order_in_a_transaction_does_not_matter(client: httpx.AsyncClient) -> None:
    """The plan is written before the Appointment it references; the rule still holds."""
    pid, other = await tolvan(client), await other_patient(client)
    for owner, expected in ((other, 422), (pid, 200)):
        urn = f"urn:uuid:{uuid.uuid4()}"
        bundle = {
            "resourceType": "Bundle",
            "type": "transaction",
            "entry": [
                {
                    "resource": contract_plan(pid, refers_to(urn)),
                    "request": {"method": "POST", "url": "CarePlan"},
                },
                {
                    "fullUrl": urn,
                    "resource": appointment(owner),
                    "request": {"method": "POST", "url": "Appointment"},
                },
            ],
        }
        response = await client.post("", json=bundle, headers=FHIR_JSON)
        assert response.status_code == expected, response.text
        if expected == 422:
            assert response.json()["issue"][0]["expression"] == ["Appointment.participant"]
    plans = await client.get("/CarePlan", params={"subject": f"Patient/{pid}"})
    assert len(plans.json()["entry"]) == 1

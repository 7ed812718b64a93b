"""Every activity of the contract plan names who is responsible for it."""

from __future__ import annotations

import httpx
import pytest

from tests.api.builders import care_plan
from tests.api.contract.helpers import (
    appointment,
    broken_rules,
    contract_plan,
    created,
    done_by,
    expressions,
    other_patient,
    post,
    put,
    refers_to,
    service_request,
    tolvan,
)

pytestmark = pytest.mark.anyio


async def test_a_plan_naming_every_performer_is_stored(client: httpx.AsyncClient) -> None:
    pid = await tolvan(client)
    aid = await created(client, appointment(pid))
    sid = await created(client, service_request(pid))
    plan = contract_plan(
        pid,
        refers_to(f"Appointment/{aid}"),
        refers_to(f"ServiceRequest/{sid}"),
        done_by("PractitionerRole/skoterska-1", text="Stödsamtal"),
        done_by("Organization/kommun", text="Boendestöd"),
        done_by("CareTeam/team-1", text="Teamträff"),
        done_by("RelatedPerson/dotter", text="Följer med till besöket"),
        done_by(f"Patient/{pid}", text="Promenera 30 minuter varje dag"),
    )
    response = await post(client, plan)
    assert response.status_code == 201, response.text
    assert len(response.json()["activity"]) == 7


async def test_an_activity_without_a_performer_is_refused(client: httpx.AsyncClient) -> None:
    pid = await tolvan(client)
    nobody = {"detail": {"code": {"text": "Samtal"}, "status": "not-started"}}
    plan = contract_plan(pid, done_by(f"Patient/{pid}"), nobody)
    response = await post(client, plan)
    issues = broken_rules(response)
    assert [i["expression"] for i in issues] == [["CarePlan.activity[1].detail.performer"]]
    assert "vem som ansvarar" in issues[0]["diagnostics"]
    assert "who is responsible" in issues[0]["diagnostics"]


async def test_every_activity_without_a_performer_is_reported(client: httpx.AsyncClient) -> None:
    pid = await tolvan(client)
    nobody = {"detail": {"status": "not-started"}}
    plan = contract_plan(pid, nobody, done_by(f"Patient/{pid}"), nobody)
    assert expressions(await post(client, plan)) == [
        "CarePlan.activity[0].detail.performer",
        "CarePlan.activity[2].detail.performer",
    ]


@pytest.mark.parametrize(
    ("performer", "message"),
    [
        pytest.param({"reference": "Practitioner/lakare-1"}, "PractitionerRole", id="practitioner"),
        pytest.param({"display": "Doktorn"}, "text", id="display-only"),
        pytest.param({"reference": "Device/app"}, "referens", id="device"),
    ],
)
async def test_a_performer_of_the_wrong_kind_is_refused(
    client: httpx.AsyncClient, performer: dict[str, str], message: str
) -> None:
    pid = await tolvan(client)
    activity = {"detail": {"status": "scheduled", "performer": [performer]}}
    response = await post(client, contract_plan(pid, activity))
    issues = broken_rules(response)
    assert [i["expression"] for i in issues] == [["CarePlan.activity[0].detail.performer[0]"]]
    assert message in issues[0]["diagnostics"]


async def test_a_logical_reference_with_a_type_names_a_performer(
    client: httpx.AsyncClient,
) -> None:
    pid = await tolvan(client)
    hsa = {"system": "urn:oid:1.2.752.29.4.19", "value": "SE0000000000-TEST1"}
    activity = {
        "detail": {
            "status": "scheduled",
            "performer": [{"type": "PractitionerRole", "identifier": hsa}],
        }
    }
    response = await post(client, contract_plan(pid, activity))
    assert response.status_code == 201, response.text


async def test_another_patient_is_not_a_performer(client: httpx.AsyncClient) -> None:
    pid, other = await tolvan(client), await other_patient(client)
    response = await post(client, contract_plan(pid, done_by(f"Patient/{other}")))
    issues = broken_rules(response)
    assert [i["expression"] for i in issues] == [["CarePlan.activity[0].detail.performer[0]"]]
    assert f"Patient/{pid}" in issues[0]["diagnostics"]


async def test_a_referenced_request_without_a_performer_is_refused(
    client: httpx.AsyncClient,
) -> None:
    pid = await tolvan(client)
    sid = await created(client, service_request(pid, performer=None))
    response = await post(client, contract_plan(pid, refers_to(f"ServiceRequest/{sid}")))
    issues = broken_rules(response)
    assert [i["expression"] for i in issues] == [["CarePlan.activity[0].reference"]]
    assert "ServiceRequest.performer" in issues[0]["diagnostics"]


async def test_an_appointment_with_only_the_patient_names_no_performer(
    client: httpx.AsyncClient,
) -> None:
    pid = await tolvan(client)
    aid = await created(client, appointment(pid, with_whom=None))
    response = await post(client, contract_plan(pid, refers_to(f"Appointment/{aid}")))
    assert expressions(response) == ["CarePlan.activity[0].reference"]


async def test_a_reference_to_a_type_without_a_performer_is_refused(
    client: httpx.AsyncClient,
) -> None:
    pid = await tolvan(client)
    response = await post(client, contract_plan(pid, refers_to("CommunicationRequest/paminn")))
    issues = broken_rules(response)
    assert [i["expression"] for i in issues] == [["CarePlan.activity[0].reference"]]
    assert "detail.performer" in issues[0]["diagnostics"]


async def test_removing_the_performer_of_a_planned_request_is_refused(
    client: httpx.AsyncClient,
) -> None:
    pid = await tolvan(client)
    referral = service_request(pid)
    sid = await created(client, referral)
    plan_id = await created(client, contract_plan(pid, refers_to(f"ServiceRequest/{sid}")))

    without = {**referral, "id": sid}
    del without["performer"]
    response = await put(client, without)
    issues = broken_rules(response)
    assert [i["expression"] for i in issues] == [["ServiceRequest.performer"]]
    assert f"CarePlan/{plan_id}" in issues[0]["diagnostics"]


async def test_a_target_written_after_the_plan_is_checked_then(client: httpx.AsyncClient) -> None:
    """A plan may reference a request the store does not hold yet; it is judged when written."""
    pid = await tolvan(client)
    plan = contract_plan(pid, refers_to("ServiceRequest/remiss-1"), refers_to("Task/uppgift-1"))
    assert (await post(client, plan)).status_code == 201

    referral = {**service_request(pid, performer=None), "id": "remiss-1"}
    assert expressions(await put(client, referral)) == ["ServiceRequest.performer"]
    referral["performer"] = [{"reference": "Organization/psykiatri"}]
    assert (await put(client, referral)).status_code == 201

    task = {
        "resourceType": "Task",
        "id": "uppgift-1",
        "status": "requested",
        "intent": "order",
        "for": {"reference": f"Patient/{pid}"},
    }
    assert expressions(await put(client, task)) == ["Task.owner"]
    task["owner"] = {"reference": "PractitionerRole/skoterska-1"}
    assert (await put(client, task)).status_code == 201


async def test_a_plan_outside_the_contract_needs_no_performers(client: httpx.AsyncClient) -> None:
    pid = await tolvan(client)
    plan = care_plan(f"Patient/{pid}")
    plan["activity"] = [{"detail": {"status": "not-started"}}]
    response = await post(client, plan)
    assert response.status_code == 201, response.text

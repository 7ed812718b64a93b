"""Patient context (a `patient` claim): his own record and the parties of his plan; anything
else answers 404 exactly as if it did not exist; his writes are limited to his own answers."""

from __future__ import annotations

import copy
import uuid

import httpx
import pytest

from tests.api.builders import FHIR_JSON
from tests.api.security.conftest import Callers
from tests.api.security.dataset import P2_IDENTIFIER, Dataset
from tests.api.security.helpers import current, outcome, post, put, refs, search_ids

pytestmark = pytest.mark.anyio


def _not_found_shape(response: httpx.Response, hidden_id: str) -> tuple[object, ...]:
    """Everything a caller sees of a 404, with the id it asked for blanked out."""
    assert response.status_code == 404, response.text
    ignored = {"x-request-id", "content-length", "date", "server-timing"}
    headers = sorted((k, v) for k, v in response.headers.items() if k not in ignored)
    return (response.status_code, headers, response.text.replace(hidden_id, "<id>"))


# -- reads -------------------------------------------------------------------------------------


async def test_reads_own_care_plan(
    client: httpx.AsyncClient, data: Dataset, callers: Callers
) -> None:
    response = await client.get(f"/CarePlan/{data.P1_PLAN}", headers=callers.patient())
    assert response.status_code == 200, response.text
    assert response.json()["subject"]["reference"] == data.ref("P1")
    assert response.headers["etag"] == 'W/"1"'
    assert response.headers["x-request-id"]


async def test_other_patients_plan_is_indistinguishable_from_a_missing_one(
    client: httpx.AsyncClient, data: Dataset, callers: Callers
) -> None:
    hidden = await client.get(f"/CarePlan/{data.P2_PLAN}", headers=callers.patient())
    missing_id = str(uuid.uuid4())
    missing = await client.get(f"/CarePlan/{missing_id}", headers=callers.patient())
    outcome(hidden, 404, "not-found")
    assert _not_found_shape(hidden, data.P2_PLAN) == _not_found_shape(missing, missing_id)
    assert "etag" not in hidden.headers


async def test_other_patients_deleted_resource_is_404_not_410(
    client: httpx.AsyncClient, data: Dataset, callers: Callers
) -> None:
    assert (await client.delete(f"/Goal/{data.P2_GOAL}")).status_code == 204
    assert (await client.get(f"/Goal/{data.P2_GOAL}")).status_code == 410  # the system sees it
    hidden = await client.get(f"/Goal/{data.P2_GOAL}", headers=callers.patient())
    missing_id = str(uuid.uuid4())
    missing = await client.get(f"/Goal/{missing_id}", headers=callers.patient())
    assert _not_found_shape(hidden, data.P2_GOAL) == _not_found_shape(missing, missing_id)
    history = await client.get(f"/Goal/{data.P2_GOAL}/_history", headers=callers.patient())
    outcome(history, 404, "not-found")


async def test_own_deleted_resource_is_404_too(
    client: httpx.AsyncClient, data: Dataset, callers: Callers
) -> None:
    # A patient token sees no deleted resources at all (the guard answers 404 for them).
    assert (await client.delete(f"/Goal/{data.P1_GOAL}")).status_code == 204
    outcome(await client.get(f"/Goal/{data.P1_GOAL}", headers=callers.patient()), 404)


async def test_vread_and_history_of_other_patients_resource_are_404(
    client: httpx.AsyncClient, data: Dataset, callers: Callers
) -> None:
    p1 = callers.patient()
    vread = await client.get(f"/CarePlan/{data.P2_PLAN}/_history/1", headers=p1)
    missing_id = str(uuid.uuid4())
    missing = await client.get(f"/CarePlan/{missing_id}/_history/1", headers=p1)
    assert _not_found_shape(vread, data.P2_PLAN) == _not_found_shape(missing, missing_id)
    outcome(await client.get(f"/CarePlan/{data.P2_PLAN}/_history", headers=p1), 404)
    own = await client.get(f"/CarePlan/{data.P1_PLAN}/_history/1", headers=p1)
    assert own.status_code == 200, own.text
    assert refs(await client.get(f"/CarePlan/{data.P1_PLAN}/_history", headers=p1)) == {
        data.ref("P1_PLAN")
    }


async def test_search_finds_only_his_own(
    client: httpx.AsyncClient, data: Dataset, callers: Callers
) -> None:
    p1 = callers.patient()
    assert refs(await client.get("/CarePlan", headers=p1)) == {data.ref("P1_PLAN")}
    assert refs(await client.get("/Goal", headers=p1)) == {data.ref("P1_GOAL")}
    assert refs(await client.get("/Patient", headers=p1)) == {data.ref("P1")}
    assert refs(await client.get("/Appointment", headers=p1)) == {
        data.ref("P1_PROPOSED"),
        data.ref("P1_BOOKED"),
    }
    # Asking for P2's data by name finds nothing, as if there were none.
    asked = await client.get("/CarePlan", params={"subject": data.ref("P2")}, headers=p1)
    assert refs(asked) == set()
    compartment = await client.get(f"/Patient/{data.P2}/CarePlan", headers=p1)
    assert refs(compartment) == set()


async def test_includes_and_revincludes_never_show_the_other_patient(
    client: httpx.AsyncClient, data: Dataset, callers: Callers
) -> None:
    p1 = callers.patient()
    included = await client.get("/CarePlan", params={"_include": "CarePlan:subject"}, headers=p1)
    assert refs(included) == {data.ref("P1_PLAN"), data.ref("P1")}
    revincluded = await client.get(
        "/Patient", params={"_revinclude": "CarePlan:subject"}, headers=p1
    )
    assert refs(revincluded) == {data.ref("P1"), data.ref("P1_PLAN")}
    # The plan's performer (O2) is a party of his plan; P2's performer O3 is not.
    performers = await client.get(
        "/CarePlan", params={"_include": "CarePlan:performer"}, headers=p1
    )
    assert refs(performers) == {data.ref("P1_PLAN"), data.ref("O2"), data.ref("P1")}
    # The system client sees both (the dataset is what the test thinks it is).
    everything = await client.get("/Patient", params={"_revinclude": "CarePlan:subject"})
    assert {data.ref("P2"), data.ref("P2_PLAN")} <= refs(everything)


async def test_chains_and_has_never_match_through_the_other_patient(
    client: httpx.AsyncClient, data: Dataset, callers: Callers
) -> None:
    p1 = callers.patient()
    chained = await client.get(
        "/CarePlan", params={"subject.identifier": P2_IDENTIFIER}, headers=p1
    )
    assert refs(chained) == set()
    assert await search_ids(client, "/CarePlan", **{"subject.identifier": P2_IDENTIFIER}) == {
        data.ref("P2_PLAN")
    }
    has = await client.get(
        "/Patient", params={"_has:CarePlan:subject:status": "active"}, headers=p1
    )
    assert refs(has) == {data.ref("P1")}
    # R3 is in P2's care team only: hidden from P1 both as the result and through the team.
    through_p2 = await client.get(
        "/PractitionerRole",
        params={"_has:CareTeam:participant:patient": data.ref("P2")},
        headers=p1,
    )
    assert refs(through_p2) == set()
    through_p1 = await client.get(
        "/PractitionerRole",
        params={"_has:CareTeam:participant:patient": data.ref("P1")},
        headers=p1,
    )
    assert refs(through_p1) == {data.ref("R1")}
    assert await search_ids(
        client, "/PractitionerRole", **{"_has:CareTeam:participant:patient": data.ref("P2")}
    ) == {data.ref("R3")}


async def test_system_search_and_type_history_only_his(
    client: httpx.AsyncClient, data: Dataset, callers: Callers
) -> None:
    p1 = callers.patient()
    found = await client.get("", params={"_type": "CarePlan,Goal"}, headers=p1)
    assert refs(found) == {data.ref("P1_PLAN"), data.ref("P1_GOAL")}
    history = await client.get("/CarePlan/_history", headers=p1)
    assert refs(history) == {data.ref("P1_PLAN")}
    goals = await client.get("/Goal/_history", headers=p1)
    assert refs(goals) == {data.ref("P1_GOAL")}


async def test_reads_the_parties_of_his_plan_only(
    client: httpx.AsyncClient, data: Dataset, callers: Callers
) -> None:
    p1 = callers.patient()
    for key in ("R1", "O2", "PR1", "O1", "R2"):
        response = await client.get(f"/{data.ref(key)}", headers=p1)
        assert response.status_code == 200, (key, response.text)
    for key in ("R3", "PR3", "O3"):
        outcome(await client.get(f"/{data.ref(key)}", headers=p1), 404, "not-found")
    roles = await client.get("/PractitionerRole", headers=p1)
    assert refs(roles) == {data.ref("R1"), data.ref("R2")}


async def test_transaction_reading_other_patients_plan_fails_as_a_whole(
    client: httpx.AsyncClient, data: Dataset, callers: Callers
) -> None:
    answer = {
        "resourceType": "QuestionnaireResponse",
        "status": "completed",
        "subject": {"reference": data.ref("P1")},
        "item": [{"linkId": "1", "answer": [{"valueString": "i transaktion"}]}],
    }
    bundle = {
        "resourceType": "Bundle",
        "type": "transaction",
        "entry": [
            {"resource": answer, "request": {"method": "POST", "url": "QuestionnaireResponse"}},
            {"request": {"method": "GET", "url": f"CarePlan/{data.P1_PLAN}"}},
            {"request": {"method": "GET", "url": f"CarePlan/{data.P2_PLAN}"}},
        ],
    }
    response = await client.post("", json=bundle, headers={**FHIR_JSON, **callers.patient()})
    outcome(response, 404, "not-found")
    assert await search_ids(client, "/QuestionnaireResponse") == set()


async def test_batch_answers_other_patients_entry_404(
    client: httpx.AsyncClient, data: Dataset, callers: Callers
) -> None:
    bundle = {
        "resourceType": "Bundle",
        "type": "batch",
        "entry": [
            {"request": {"method": "GET", "url": f"CarePlan/{data.P1_PLAN}"}},
            {"request": {"method": "GET", "url": f"CarePlan/{data.P2_PLAN}"}},
            {"request": {"method": "GET", "url": f"Goal?patient={data.ref('P2')}"}},
        ],
    }
    response = await client.post("", json=bundle, headers={**FHIR_JSON, **callers.patient()})
    assert response.status_code == 200, response.text
    own, other, search = response.json()["entry"]
    assert own["response"]["status"].startswith("200")
    assert own["resource"]["id"] == data.P1_PLAN
    assert other["response"]["status"].startswith("404")
    assert other["response"]["outcome"]["issue"][0]["code"] == "not-found"
    assert "resource" not in other
    assert search["response"]["status"].startswith("200")
    assert search["resource"].get("entry", []) == []


async def test_patient_contract_operation(
    client: httpx.AsyncClient, data: Dataset, callers: Callers
) -> None:
    p1 = callers.patient()
    own = await client.get(f"/Patient/{data.P1}/$patient-contract", headers=p1)
    assert own.status_code == 200, own.text
    document = own.json()
    assert document["resourceType"] == "Bundle"
    assert document["type"] == "document"
    for hidden in (data.P2, data.P2_PLAN, data.R3):
        assert hidden not in own.text
    other = await client.get(f"/Patient/{data.P2}/$patient-contract", headers=p1)
    missing_id = str(uuid.uuid4())
    missing = await client.get(f"/Patient/{missing_id}/$patient-contract", headers=p1)
    assert _not_found_shape(other, data.P2) == _not_found_shape(missing, missing_id)
    by_identifier = await client.get(
        "/Patient/$patient-contract", params={"identifier": P2_IDENTIFIER}, headers=p1
    )
    outcome(by_identifier, 404, "not-found")


# -- writes ------------------------------------------------------------------------------------


async def test_updates_status_of_his_own_activity(
    client: httpx.AsyncClient, data: Dataset, callers: Callers
) -> None:
    plan = await current(client, data.ref("P1_PLAN"))
    plan["activity"][1]["detail"]["status"] = "in-progress"
    plan["activity"][1]["progress"] = [{"text": "Gick 30 minuter i dag"}]
    response = await put(client, plan, callers.patient())
    assert response.status_code == 200, response.text
    stored = await current(client, data.ref("P1_PLAN"))
    assert stored["activity"][1]["detail"]["status"] == "in-progress"
    assert stored["meta"]["versionId"] == "2"


@pytest.mark.parametrize(
    "change",
    ["title", "other-activity-status", "own-activity-description", "plan-status"],
)
async def test_may_not_change_anything_else_in_his_plan(
    client: httpx.AsyncClient, data: Dataset, callers: Callers, change: str
) -> None:
    plan = await current(client, data.ref("P1_PLAN"))
    changed = copy.deepcopy(plan)
    if change == "title":
        changed["title"] = "Min egen titel"
    elif change == "other-activity-status":
        changed["activity"][0]["detail"]["status"] = "completed"
    elif change == "own-activity-description":
        changed["activity"][1]["detail"]["description"] = "Promenera bara ibland"
    else:
        changed["status"] = "revoked"
    response = await put(client, changed, callers.patient())
    issue = outcome(response, 403, "forbidden")["issue"][0]
    assert "may only change the status and notes of his own activities" in issue["diagnostics"]
    assert await current(client, data.ref("P1_PLAN")) == plan


async def test_accepts_a_proposed_appointment(
    client: httpx.AsyncClient, data: Dataset, callers: Callers
) -> None:
    appointment = await current(client, data.ref("P1_PROPOSED"))
    appointment["participant"][0]["status"] = "accepted"
    response = await put(client, appointment, callers.patient())
    assert response.status_code == 200, response.text
    stored = await current(client, data.ref("P1_PROPOSED"))
    assert stored["participant"][0]["status"] == "accepted"


async def test_may_not_move_an_appointment(
    client: httpx.AsyncClient, data: Dataset, callers: Callers
) -> None:
    appointment = await current(client, data.ref("P1_PROPOSED"))
    before = copy.deepcopy(appointment)
    appointment["participant"][0]["status"] = "accepted"
    appointment["start"] = "2027-01-12T10:00:00+01:00"
    appointment["end"] = "2027-01-12T10:30:00+01:00"
    outcome(await put(client, appointment, callers.patient()), 403, "forbidden")
    # Nor answer for the care provider's participant.
    other = copy.deepcopy(before)
    other["participant"][1]["status"] = "declined"
    outcome(await put(client, other, callers.patient()), 403, "forbidden")
    assert await current(client, data.ref("P1_PROPOSED")) == before


async def test_may_not_update_other_patients_appointment(
    client: httpx.AsyncClient, data: Dataset, callers: Callers
) -> None:
    appointment = await current(client, data.ref("P2_APPOINTMENT"))
    appointment["participant"][0]["status"] = "declined"
    outcome(await put(client, appointment, callers.patient()), 404, "not-found")
    assert (await current(client, data.ref("P2_APPOINTMENT")))["meta"]["versionId"] == "1"


def _answer(subject: str) -> dict[str, object]:
    return {
        "resourceType": "QuestionnaireResponse",
        "status": "completed",
        "subject": {"reference": subject},
        "authored": "2026-11-28T10:00:00+01:00",
        "item": [{"linkId": "1", "text": "Hur mår du?", "answer": [{"valueString": "Bättre"}]}],
    }


async def test_writes_his_own_questionnaire_answers_only(
    client: httpx.AsyncClient, data: Dataset, callers: Callers
) -> None:
    own = await post(client, _answer(data.ref("P1")), callers.patient())
    assert own.status_code == 201, own.text
    assert own.headers["location"].startswith("http://test/fhir/QuestionnaireResponse/")
    other = await post(client, _answer(data.ref("P2")), callers.patient())
    assert other.status_code in (403, 404), other.text
    outcome(other, other.status_code)
    assert await search_ids(client, "/QuestionnaireResponse") == {
        f"QuestionnaireResponse/{own.json()['id']}"
    }
    assert await search_ids(client, "/QuestionnaireResponse", subject=data.ref("P2")) == set()


@pytest.mark.parametrize(
    "resource_type",
    ["CarePlan", "Goal", "Condition", "Appointment", "Patient"],
)
async def test_may_not_create_care_providers_resources(
    client: httpx.AsyncClient, data: Dataset, callers: Callers, resource_type: str
) -> None:
    body = await current(
        client,
        data.ref(
            {
                "CarePlan": "P1_PLAN",
                "Goal": "P1_GOAL",
                "Condition": "P1_CONDITION",
                "Appointment": "P1_BOOKED",
                "Patient": "P1",
            }[resource_type]
        ),
    )
    body.pop("id")
    body.pop("meta")
    before = await search_ids(client, f"/{resource_type}")
    outcome(await post(client, body, callers.patient()), 403, "forbidden")
    assert await search_ids(client, f"/{resource_type}") == before


async def test_may_not_delete(client: httpx.AsyncClient, data: Dataset, callers: Callers) -> None:
    p1 = callers.patient()
    for key in ("P1_GOAL", "P1_PLAN", "P1_BOOKED"):
        outcome(await client.delete(f"/{data.ref(key)}", headers=p1), 403, "forbidden")
        assert (await client.get(f"/{data.ref(key)}")).status_code == 200
    answer = await post(client, _answer(data.ref("P1")), p1)
    assert answer.status_code == 201, answer.text
    deleted = await client.delete(f"/QuestionnaireResponse/{answer.json()['id']}", headers=p1)
    outcome(deleted, 403, "forbidden")
    # P2's resources: 404, as for reads.
    outcome(await client.delete(f"/{data.ref('P2_GOAL')}", headers=p1), 404, "not-found")
    assert (await client.get(f"/{data.ref('P2_GOAL')}")).status_code == 200


async def test_may_not_write_with_a_read_only_token(
    client: httpx.AsyncClient, data: Dataset, callers: Callers
) -> None:
    plan = await current(client, data.ref("P1_PLAN"))
    plan["activity"][1]["detail"]["status"] = "in-progress"
    outcome(await put(client, plan, callers.patient(scope="patient/*.rs")), 403, "forbidden")
    assert (await current(client, data.ref("P1_PLAN")))["meta"]["versionId"] == "1"


async def test_scopes_limit_the_types(
    client: httpx.AsyncClient, data: Dataset, callers: Callers
) -> None:
    plans_only = callers.patient(scope="patient/CarePlan.rs")
    assert (await client.get(f"/CarePlan/{data.P1_PLAN}", headers=plans_only)).status_code == 200
    refused = await client.get(f"/Goal/{data.P1_GOAL}", headers=plans_only)
    body = outcome(refused, 403, "forbidden")
    assert "patient/Goal.r" in body["issue"][0]["diagnostics"]
    outcome(await client.get("/Goal", headers=plans_only), 403, "forbidden")
    # A scope of another context grants nothing to a patient token.
    user_scope = callers.patient(scope="user/*.cruds")
    outcome(await client.get(f"/CarePlan/{data.P1_PLAN}", headers=user_scope), 403, "forbidden")


async def test_second_patient_sees_only_his_own(
    client: httpx.AsyncClient, data: Dataset, callers: Callers
) -> None:
    p2 = callers.patient("P2")
    assert refs(await client.get("/CarePlan", headers=p2)) == {data.ref("P2_PLAN")}
    outcome(await client.get(f"/CarePlan/{data.P1_PLAN}", headers=p2), 404, "not-found")
    assert (await client.get(f"/{data.ref('R3')}", headers=p2)).status_code == 200
    outcome(await client.get(f"/{data.ref('R1')}", headers=p2), 404, "not-found")


async def test_instance_history_needs_read_only(
    client: httpx.AsyncClient, data: Dataset, callers: Callers
) -> None:
    read_only = callers.patient(scope="patient/CarePlan.r")
    assert (await client.get(f"/CarePlan/{data.P1_PLAN}", headers=read_only)).status_code == 200
    history = await client.get(f"/CarePlan/{data.P1_PLAN}/_history", headers=read_only)
    assert refs(history) == {data.ref("P1_PLAN")}

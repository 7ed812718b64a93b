"""Spärr: an active Consent (category sparr) by which P1 blocks the information O2 holds about
him from clinicians of other organisations, care relation or not; emergency access lifts it."""

from __future__ import annotations

import httpx
import pytest

from tests.api.security.conftest import Callers
from tests.api.security.dataset import CANONICALS, Dataset, add_sparr, sparr_consent
from tests.api.security.helpers import audit_events_of, current, outcome, post, put, refs

pytestmark = pytest.mark.anyio

EMERGENCY = {"X-Purpose-Of-Use": "ETREAT", "X-Access-Reason": "medvetslos patient"}


async def test_without_sparr_both_organisations_see_the_condition(
    client: httpx.AsyncClient, data: Dataset, callers: Callers
) -> None:
    for role in ("R1", "R2"):
        response = await client.get(f"/{data.ref('P1_CONDITION')}", headers=callers.clinician(role))
        assert response.status_code == 200, (role, response.text)


async def test_sparr_blocks_other_organisations(
    client: httpx.AsyncClient, data: Dataset, callers: Callers
) -> None:
    await add_sparr(client, data)
    r1 = callers.clinician("R1")
    response = await client.get(f"/{data.ref('P1_CONDITION')}", headers=r1)
    issue = outcome(response, 403, "forbidden")["issue"][0]
    assert "spärr" in issue["diagnostics"]
    (event,) = await audit_events_of(client, response)
    assert event["outcome"] == "4"
    found = await client.get("/Condition", params={"patient": data.ref("P1")}, headers=r1)
    assert refs(found) == set()
    assert data.P1_CONDITION not in found.text
    everything = await client.get("", params={"_type": "Condition,CarePlan"}, headers=r1)
    assert refs(everything) == {data.ref("P1_PLAN")}
    outcome(await client.get(f"/{data.ref('P1_CONDITION')}/_history/1", headers=r1), 403)
    # What O2 does not hold stays visible to R1: the spärr is about O2's information only.
    assert (await client.get(f"/{data.ref('P1_PLAN')}", headers=r1)).status_code == 200
    assert (await client.get(f"/{data.ref('P1_GOAL')}", headers=r1)).status_code == 200


async def test_sparr_hides_nothing_from_the_holder(
    client: httpx.AsyncClient, data: Dataset, callers: Callers
) -> None:
    await add_sparr(client, data)
    r2 = callers.clinician("R2")
    response = await client.get(f"/{data.ref('P1_CONDITION')}", headers=r2)
    assert response.status_code == 200, response.text
    found = await client.get("/Condition", params={"patient": data.ref("P1")}, headers=r2)
    assert refs(found) == {data.ref("P1_CONDITION")}


async def test_sparr_hides_nothing_from_the_patient_or_systems(
    client: httpx.AsyncClient, data: Dataset, callers: Callers
) -> None:
    await add_sparr(client, data)
    own = await client.get(f"/{data.ref('P1_CONDITION')}", headers=callers.patient())
    assert own.status_code == 200, own.text
    assert (await client.get(f"/{data.ref('P1_CONDITION')}")).status_code == 200


async def test_emergency_access_lifts_the_sparr(
    client: httpx.AsyncClient, data: Dataset, callers: Callers
) -> None:
    await add_sparr(client, data)
    headers = {**callers.clinician("R1"), **EMERGENCY}
    response = await client.get(f"/{data.ref('P1_CONDITION')}", headers=headers)
    assert response.status_code == 200, response.text
    (event,) = await audit_events_of(client, response)
    assert event["purposeOfEvent"][0]["coding"][0]["code"] == "ETREAT"
    assert event["purposeOfEvent"][0]["text"] == "medvetslos patient"
    found = await client.get("/Condition", params={"patient": data.ref("P1")}, headers=headers)
    assert refs(found) == {data.ref("P1_CONDITION")}


async def test_inactive_sparr_blocks_nothing(
    client: httpx.AsyncClient, data: Dataset, callers: Callers
) -> None:
    consent_id = await add_sparr(client, data)
    r1 = callers.clinician("R1")
    outcome(await client.get(f"/{data.ref('P1_CONDITION')}", headers=r1), 403, "forbidden")
    consent = await current(client, f"Consent/{consent_id}")
    consent["status"] = "inactive"
    assert (await put(client, consent, {})).status_code == 200
    response = await client.get(f"/{data.ref('P1_CONDITION')}", headers=r1)
    assert response.status_code == 200, response.text
    found = await client.get("/Condition", params={"patient": data.ref("P1")}, headers=r1)
    assert refs(found) == {data.ref("P1_CONDITION")}


async def test_sparr_of_another_patient_or_category_blocks_nothing(
    client: httpx.AsyncClient, data: Dataset, callers: Callers
) -> None:
    # P2's spärr on O2 does not touch P1's information.
    other = sparr_consent(data)
    other["patient"] = {"reference": data.ref("P2")}
    assert (await post(client, other, {})).status_code == 201
    # A Consent of another category is no spärr.
    consent = sparr_consent(data)
    consent["category"] = [{"coding": [{"system": "http://loinc.org", "code": "59284-0"}]}]
    assert (await post(client, consent, {})).status_code == 201
    response = await client.get(f"/{data.ref('P1_CONDITION')}", headers=callers.clinician("R1"))
    assert response.status_code == 200, response.text


async def test_new_information_of_the_blocked_holder_is_hidden_at_once(
    client: httpx.AsyncClient, data: Dataset, callers: Callers
) -> None:
    await add_sparr(client, data)
    # R2 writes a Goal: it is held by O2, so the spärr covers it from the start.
    goal = {
        "resourceType": "Goal",
        "lifecycleStatus": "active",
        "description": {"text": "Läkemedelsgenomgång"},
        "subject": {"reference": data.ref("P1")},
    }
    created = await post(client, goal, callers.clinician("R2"))
    assert created.status_code == 201, created.text
    stored = await current(client, f"Goal/{created.json()['id']}")
    assert stored["extension"] == [
        {"url": CANONICALS.information_holder, "valueReference": {"reference": data.ref("O2")}}
    ]
    hidden = await client.get(f"/Goal/{created.json()['id']}", headers=callers.clinician("R1"))
    outcome(hidden, 403, "forbidden")
    goals = await client.get(
        "/Goal", params={"patient": data.ref("P1")}, headers=callers.clinician("R1")
    )
    assert refs(goals) == {data.ref("P1_GOAL")}


async def test_sparr_written_by_the_holder_is_hidden_from_other_organisations(
    client: httpx.AsyncClient, data: Dataset, callers: Callers
) -> None:
    """A spärr R2 registers is stamped with O2 as holder, so the spärr covers its own Consent:
    R1 can neither read, lift nor delete it (only O2, or emergency access, reaches it)."""
    created = await post(client, sparr_consent(data), callers.clinician("R2"))
    assert created.status_code == 201, created.text
    consent = created.json()
    assert consent["extension"][0]["valueReference"] == {"reference": data.ref("O2")}
    r1 = callers.clinician("R1")
    outcome(await client.get(f"/Consent/{consent['id']}", headers=r1), 403, "forbidden")
    lifted = {**consent, "status": "inactive"}
    outcome(await put(client, lifted, r1), 403, "forbidden")
    outcome(await client.delete(f"/Consent/{consent['id']}", headers=r1), 403, "forbidden")
    outcome(await client.get(f"/{data.ref('P1_CONDITION')}", headers=r1), 403, "forbidden")
    # The patient may read his spärr but not write one.
    assert (
        await client.get(f"/Consent/{consent['id']}", headers=callers.patient())
    ).status_code == 200
    outcome(await post(client, sparr_consent(data), callers.patient()), 403, "forbidden")

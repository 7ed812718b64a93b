"""Reference search (search.html#reference): `Type/id`, bare `id`, `:[type]`, absolute URLs (this
server's base is local, another server's is matched as written), `:identifier`, `:missing`.

The test client's base is http://test/fhir (conftest's `settings.base_url`).
"""

from __future__ import annotations

from typing import Any

import httpx
import pytest

from tests.api.builders import PERSONNUMMER_SYSTEM, TOLVAN_PERSONNUMMER
from tests.api.search.helpers import assert_outcome, put, search

pytestmark = pytest.mark.anyio

BASE = "http://test/fhir"
OTHER = "http://other.example/fhir"


def care_plan(plan_id: str, subject: dict[str, Any], **fields: Any) -> dict[str, Any]:
    return {
        "resourceType": "CarePlan",
        "id": plan_id,
        "status": "active",
        "intent": "plan",
        "subject": subject,
        **fields,
    }


@pytest.fixture
async def plans(client: httpx.AsyncClient) -> None:
    await put(
        client,
        {
            "resourceType": "Patient",
            "id": "1",
            "identifier": [{"system": PERSONNUMMER_SYSTEM, "value": TOLVAN_PERSONNUMMER}],
        },
    )
    await put(client, {"resourceType": "Patient", "id": "2"})
    await put(client, {"resourceType": "CareTeam", "id": "team", "status": "active"})
    await put(
        client,
        care_plan(
            "relative", {"reference": "Patient/1"}, careTeam=[{"reference": "CareTeam/team"}]
        ),
    )
    await put(client, care_plan("versioned", {"reference": "Patient/1/_history/1"}))
    await put(client, care_plan("own-absolute", {"reference": f"{BASE}/Patient/1"}))
    await put(client, care_plan("other-patient", {"reference": "Patient/2"}))
    # Same id, another type.
    await put(client, care_plan("group", {"reference": "Group/1"}))
    # The same path on another server is another patient.
    await put(client, care_plan("foreign", {"reference": f"{OTHER}/Patient/1"}))
    # A logical reference: an identifier only.
    await put(
        client,
        care_plan(
            "logical",
            {"identifier": {"system": PERSONNUMMER_SYSTEM, "value": TOLVAN_PERSONNUMMER}},
        ),
    )
    await put(client, care_plan("display-only", {"display": "Tolvan Tolvansson"}))


LOCAL_PATIENT_1 = ["own-absolute", "relative", "versioned"]


@pytest.mark.usefixtures("plans")
@pytest.mark.parametrize(
    ("params", "expected"),
    [
        ({"subject": "Patient/1"}, LOCAL_PATIENT_1),
        ({"subject": "1"}, LOCAL_PATIENT_1),
        ({"subject:Patient": "1"}, LOCAL_PATIENT_1),
        ({"subject:Patient": "Patient/1"}, LOCAL_PATIENT_1),
        # this server's base: the same as Patient/1
        ({"subject": f"{BASE}/Patient/1"}, LOCAL_PATIENT_1),
        ({"subject": "Patient/2"}, ["other-patient"]),
        ({"subject": "Patient/1,Patient/2"}, [*LOCAL_PATIENT_1, "other-patient"]),
        ({"subject": "Patient/3"}, []),
        # another server's URL: that exact URL only
        ({"subject": f"{OTHER}/Patient/1"}, ["foreign"]),
        ({"subject": f"{OTHER}/Patient/2"}, []),
        ({"subject": "http://other.example/Patient/1"}, []),
        # `patient` is the subject when it is a Patient
        ({"patient": "1"}, LOCAL_PATIENT_1),
        ({"patient": "Patient/1"}, LOCAL_PATIENT_1),
        ({"patient": f"{BASE}/Patient/1"}, LOCAL_PATIENT_1),
        ({"patient": "2"}, ["other-patient"]),
        # a plain reference follows no chain: ids are matched, not prefixes
        ({"subject": "Patient/11"}, []),
        ({"care-team": "CareTeam/team"}, ["relative"]),
        ({"care-team": "team"}, ["relative"]),
    ],
)
async def test_reference_forms(
    client: httpx.AsyncClient, params: dict[str, str], expected: list[str]
) -> None:
    assert sorted(await search(client, "/CarePlan", params)) == sorted(expected)


@pytest.mark.usefixtures("plans")
async def test_another_type_with_the_same_id_does_not_match(client: httpx.AsyncClient) -> None:
    assert "group" not in await search(client, "/CarePlan", {"subject": "Patient/1"})
    assert "group" not in await search(client, "/CarePlan", {"subject:Patient": "1"})
    assert "group" not in await search(client, "/CarePlan", {"patient": "1"})


@pytest.mark.usefixtures("plans")
async def test_a_foreign_url_is_not_a_local_reference(client: httpx.AsyncClient) -> None:
    # http://other.example/fhir/Patient/1 is not this server's Patient/1.
    for params in ({"subject": "Patient/1"}, {"subject": "1"}, {"patient": "1"}):
        assert "foreign" not in await search(client, "/CarePlan", params), params


@pytest.mark.usefixtures("plans")
@pytest.mark.parametrize(
    ("value", "expected"),
    [
        (f"{PERSONNUMMER_SYSTEM}|{TOLVAN_PERSONNUMMER}", ["logical"]),
        (TOLVAN_PERSONNUMMER, ["logical"]),
        (f"urn:test:patient|{TOLVAN_PERSONNUMMER}", []),
        (f"{PERSONNUMMER_SYSTEM}|", ["logical"]),
    ],
)
async def test_identifier_modifier_matches_reference_identifier_only(
    client: httpx.AsyncClient, value: str, expected: list[str]
) -> None:
    # Patient/1 has the same identifier, but `:identifier` looks at Reference.identifier only.
    assert await search(client, "/CarePlan", {"subject:identifier": value}) == expected


@pytest.mark.usefixtures("plans")
async def test_missing(client: httpx.AsyncClient) -> None:
    assert await search(client, "/CarePlan", {"care-team:missing": "false"}) == ["relative"]
    without_team = await search(client, "/CarePlan", {"care-team:missing": "true"})
    assert "relative" not in without_team
    assert len(without_team) == 7
    # A subject given by identifier only is still a subject.
    with_subject = await search(client, "/CarePlan", {"subject:missing": "false"})
    assert "logical" in with_subject
    assert "logical" not in await search(client, "/CarePlan", {"subject:missing": "true"})


@pytest.mark.usefixtures("plans")
@pytest.mark.parametrize(
    ("name", "value"),
    [
        ("subject", "Patient/"),
        ("subject", "/1"),
        ("subject", "Nonsense/1"),
        ("subject", "Patient/1/2"),
        ("subject", "not an id"),
        ("subject", "Patient/ä"),
        ("subject", "x" * 65),
        # the type modifier and the value must agree
        ("subject:Patient", "Organization/1"),
        ("subject:Nonsense", "1"),
        ("subject:missing", "yes"),
        ("subject:below", "Patient/1"),
        ("patient", "Patient/1 "),
    ],
)
async def test_malformed_reference_is_400(client: httpx.AsyncClient, name: str, value: str) -> None:
    assert_outcome(await client.get("/CarePlan", params={name: value}), 400)


# --- several target types ----------------------------------------------------------------------


@pytest.fixture
async def appointments(client: httpx.AsyncClient) -> None:
    def appointment(appointment_id: str, *actors: str) -> dict[str, Any]:
        return {
            "resourceType": "Appointment",
            "id": appointment_id,
            "status": "booked",
            "participant": [{"actor": {"reference": a}, "status": "accepted"} for a in actors],
        }

    await put(client, appointment("with-patient", "Patient/7"))
    await put(client, appointment("with-practitioner", "Practitioner/7"))
    await put(client, appointment("with-both", "Patient/7", "Practitioner/8"))
    await put(client, appointment("with-role", "PractitionerRole/7"))


@pytest.mark.usefixtures("appointments")
@pytest.mark.parametrize(
    ("params", "expected"),
    [
        # a bare id matches every type the parameter may point at
        ({"actor": "7"}, ["with-both", "with-patient", "with-practitioner", "with-role"]),
        ({"actor": "Patient/7"}, ["with-both", "with-patient"]),
        ({"actor:Practitioner": "7"}, ["with-practitioner"]),
        ({"actor:PractitionerRole": "7"}, ["with-role"]),
        ({"actor": "Practitioner/8"}, ["with-both"]),
        ({"actor": "8"}, ["with-both"]),
        ({"patient": "7"}, ["with-both", "with-patient"]),
        ({"practitioner": "7"}, ["with-practitioner"]),
        ({"practitioner": "Practitioner/8"}, ["with-both"]),
        # AND: both a patient and a practitioner
        ([("actor", "Patient/7"), ("actor", "Practitioner/8")], ["with-both"]),
        ([("actor", "Patient/7"), ("actor", "Practitioner/7")], []),
    ],
)
async def test_several_target_types(
    client: httpx.AsyncClient, params: Any, expected: list[str]
) -> None:
    assert sorted(await search(client, "/Appointment", params)) == expected


async def test_a_deleted_target_does_not_change_what_refers_to_it(
    client: httpx.AsyncClient,
) -> None:
    # A reference search looks at the referring resource only.
    await put(client, {"resourceType": "Patient", "id": "gone"})
    await put(client, care_plan("orphan", {"reference": "Patient/gone"}))
    assert (await client.delete("/Patient/gone")).status_code == 204
    assert await search(client, "/CarePlan", {"subject": "Patient/gone"}) == ["orphan"]


async def test_a_deleted_referrer_is_not_found(client: httpx.AsyncClient) -> None:
    await put(client, care_plan("kept", {"reference": "Patient/1"}))
    await put(client, care_plan("removed", {"reference": "Patient/1"}))
    assert (await client.delete("/CarePlan/removed")).status_code == 204
    assert await search(client, "/CarePlan", {"subject": "Patient/1"}) == ["kept"]


async def test_an_updated_reference_is_found_by_its_new_value_only(
    client: httpx.AsyncClient,
) -> None:
    await put(client, care_plan("moved", {"reference": "Patient/1"}))
    await put(client, care_plan("moved", {"reference": "Patient/2"}))
    assert await search(client, "/CarePlan", {"subject": "Patient/1"}) == []
    assert await search(client, "/CarePlan", {"subject": "Patient/2"}) == ["moved"]

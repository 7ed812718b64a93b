"""The rules push and pull share: identifiers that key resources, Bundle entries, references,
and how a transaction-response entry is counted."""

from __future__ import annotations

from typing import Any

import pytest

from patientkontrakt.contract.vocabulary import (
    HSA_ID,
    ORGANISATIONSNUMMER,
    PERSONNUMMER,
    SAMORDNINGSNUMMER,
)
from patientkontrakt.sync.pull import Record, import_bundle
from patientkontrakt.sync.push import own_identifier_system, push_bundle
from patientkontrakt.sync.resources import (
    Reference,
    business_identifier,
    entry_outcome,
    identifier_criteria,
    key_resources,
    parse_reference,
    patient_identifier,
)

BASE = "https://patientkontrakt.example/fhir"
SOURCE = "http://ehr.example/fhir"


def made(resource_type: str) -> str:
    return f"{BASE}/identifier/{resource_type}"


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("191212121212", (PERSONNUMMER, "191212121212")),
        ("19121212-1212", (PERSONNUMMER, "191212121212")),
        ("19121272-1219", (SAMORDNINGSNUMMER, "191212721219")),
        (f"{HSA_ID}|SE2321990000-P0001", (HSA_ID, "SE2321990000-P0001")),
        ("urn:x|a|b", ("urn:x", "a|b")),
    ],
)
def test_patient_identifier(text: str, expected: tuple[str, str]) -> None:
    assert patient_identifier(text) == expected


@pytest.mark.parametrize("text", ["tolvan", "1212121212", "|191212121212", "urn:x|"])
def test_patient_identifier_refuses(text: str) -> None:
    with pytest.raises(ValueError, match=r"system\|value"):
        patient_identifier(text)


def test_business_identifier_prefers_swedish_systems() -> None:
    organization = {
        "identifier": [
            {"system": "urn:local", "value": "7"},
            {"system": ORGANISATIONSNUMMER, "value": "2321990000"},
            {"system": HSA_ID, "value": "SE2321990000-REG1"},
        ]
    }
    assert business_identifier(organization) == (HSA_ID, "SE2321990000-REG1")
    assert business_identifier({"identifier": [{"system": "urn:local", "value": "7"}]}) == (
        "urn:local",
        "7",
    )
    assert business_identifier({"identifier": [{"value": "no system"}]}) is None
    assert business_identifier({}) is None


def test_identifier_criteria_escapes_and_encodes() -> None:
    assert identifier_criteria("urn:x", "a,b|c") == "identifier=urn%3Ax%7Ca%5C%2Cb%5C%7Cc"


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("Patient/p1", Reference(None, "Patient", "p1")),
        ("CarePlan/c.1/_history/3", Reference(None, "CarePlan", "c.1")),
        (f"{SOURCE}/Location/9", Reference(SOURCE, "Location", "9")),
        ("#contained", None),
        ("urn:uuid:6a1c5b1e-2f0e-4d3e-9d1e-1c2b3a4d5e6f", None),
        ("Patient?identifier=x|y", None),
    ],
)
def test_parse_reference(text: str, expected: Reference | None) -> None:
    assert parse_reference(text) == expected


def _staff() -> list[dict[str, Any]]:
    hsa = [{"system": HSA_ID, "value": "SE2321990000-P0001"}]
    return [
        {"resourceType": "Practitioner", "id": "doc", "identifier": hsa},
        {"resourceType": "PractitionerRole", "id": "role-a", "identifier": hsa},
        {"resourceType": "PractitionerRole", "id": "role-b", "identifier": hsa},
        {
            "resourceType": "CarePlan",
            "id": "plan",
            "meta": {
                "versionId": "4",
                "lastUpdated": "2026-03-11T10:00:00.000Z",
                "tag": [{"code": "HTEST"}],
            },
            "author": {"reference": "PractitionerRole/role-a"},
            "careTeam": [{"reference": "CareTeam/not-sent"}],
        },
    ]


def test_key_resources_makes_identifiers_where_none_is_usable() -> None:
    keyed = key_resources(_staff(), made)
    doctor, role_a, role_b, plan = keyed
    assert (doctor.system, doctor.value) == (HSA_ID, "SE2321990000-P0001")
    # Two roles with one HSA-id would match alike: each is keyed on its own made identifier.
    assert (role_a.system, role_a.value) == (made("PractitionerRole"), "role-a")
    assert role_b.body["identifier"][-1] == {"system": made("PractitionerRole"), "value": "role-b"}
    assert (plan.system, plan.value) == (made("CarePlan"), "plan")
    assert plan.body["identifier"] == [{"system": made("CarePlan"), "value": "plan"}]
    assert "id" not in plan.body
    assert plan.body["meta"] == {"tag": [{"code": "HTEST"}]}
    assert len({k.full_url for k in keyed}) == 4
    assert all(k.full_url.startswith("urn:uuid:") for k in keyed)


def test_entries_link_people_and_update_the_contract() -> None:
    doctor, _, _, plan = key_resources(_staff(), made)
    assert doctor.entry()["request"] == {
        "method": "POST",
        "url": "Practitioner",
        "ifNoneExist": identifier_criteria(HSA_ID, "SE2321990000-P0001"),
    }
    assert plan.entry()["request"] == {
        "method": "PUT",
        "url": "CarePlan?" + identifier_criteria(made("CarePlan"), "plan"),
    }
    plan.local_id = "plan"
    assert plan.entry()["request"] == {"method": "PUT", "url": "CarePlan/plan"}
    assert plan.entry()["resource"]["id"] == "plan"


def test_push_bundle_points_references_at_its_entries() -> None:
    bundle, keyed = push_bundle(_staff(), BASE)
    assert [e["request"]["method"] for e in bundle["entry"]] == ["POST", "POST", "POST", "PUT"]
    plan = bundle["entry"][3]["resource"]
    role_a = next(k for k in keyed if k.source_id == "role-a")
    assert plan["author"] == {"reference": role_a.full_url}
    assert plan["careTeam"] == [{"reference": "CareTeam/not-sent"}]  # not in the store: as is
    assert own_identifier_system(BASE + "/", "Goal") == f"{BASE}/identifier/Goal"


def test_import_bundle_takes_our_own_back_and_leaves_the_rest_at_the_source() -> None:
    record = Record(SOURCE, "p1")
    record.resources = {
        ("Patient", "p1"): {
            "resourceType": "Patient",
            "id": "p1",
            "identifier": [{"system": PERSONNUMMER, "value": "191212121212"}],
        },
        ("CarePlan", "77"): {
            "resourceType": "CarePlan",
            "id": "77",
            "identifier": [{"system": made("CarePlan"), "value": "demo-careplan-000001"}],
            "subject": {"reference": f"{SOURCE}/Patient/p1"},
            "careTeam": [{"reference": "CareTeam/gone"}],
            "note": [
                {"authorReference": {"reference": "https://other.example/fhir/Practitioner/x"}}
            ],
        },
        ("Goal", "g1"): {
            "resourceType": "Goal",
            "id": "g1",
            "subject": {"reference": "Patient/p1"},
        },
    }
    bundle, keyed = import_bundle(record, BASE)
    patient, plan, goal = bundle["entry"]
    assert patient["request"]["method"] == "POST"
    assert plan["request"] == {"method": "PUT", "url": "CarePlan/demo-careplan-000001"}
    assert "identifier" not in plan["resource"]  # it was ours: back under its id, as it was
    assert plan["resource"]["subject"] == {"reference": patient["fullUrl"]}
    assert plan["resource"]["careTeam"] == [{"reference": f"{SOURCE}/CareTeam/gone"}]
    assert plan["resource"]["note"][0]["authorReference"]["reference"] == (
        "https://other.example/fhir/Practitioner/x"
    )
    assert goal["request"]["url"] == "Goal?" + identifier_criteria(f"{SOURCE}/Goal", "g1")
    assert goal["resource"]["subject"] == {"reference": patient["fullUrl"]}
    assert [k.source_id for k in keyed] == ["p1", "77", "g1"]


def _response(status: str, code: str | None = None) -> dict[str, Any]:
    response: dict[str, Any] = {"status": status}
    if code is not None:
        response["outcome"] = {
            "resourceType": "OperationOutcome",
            "issue": [{"severity": "information", "details": {"coding": [{"code": code}]}}],
        }
    return {"response": response}


def test_entry_outcome() -> None:
    post = {"request": {"method": "POST"}}
    put = {"request": {"method": "PUT"}}
    assert entry_outcome(post, _response("201 Created")) == "created"
    assert entry_outcome(put, _response("201 Created")) == "created"
    assert entry_outcome(post, _response("200 OK")) == "unchanged"
    assert entry_outcome(put, _response("200 OK")) == "updated"
    assert entry_outcome(put, _response("200 OK", "SUCCESSFUL_UPDATE_WITH_CONDITIONAL_MATCH")) == (
        "updated"
    )
    no_change = "SUCCESSFUL_UPDATE_WITH_CONDITIONAL_MATCH_NO_CHANGE"
    assert entry_outcome(put, _response("200 OK", no_change)) == "unchanged"

"""AuditRecord → FHIR R4 AuditEvent JSON (security/audit.py)."""

from __future__ import annotations

import base64
import datetime as dt
from typing import Any

import pytest

from patientkontrakt.security.audit import (
    CLIENT_ID_SYSTEM,
    SCOPE_EXTENSION,
    SUBJECT_SYSTEM,
    AuditRecord,
    audit_event,
    compartment_patients,
)
from patientkontrakt.security.principal import Principal
from patientkontrakt.security.scopes import ScopeSet
from patientkontrakt.validation.base import validate_resource

WHEN = dt.datetime(2026, 11, 28, 9, 15, 0, 123000, tzinfo=dt.UTC)

CLINICIAN = Principal(
    subject="sub-anna",
    client_id="cosmic",
    scopes=ScopeSet.parse("user/CarePlan.rs user/Patient.r openid fhirUser"),
    fhir_user="PractitionerRole/pr-anna",
)
PATIENT = Principal(
    subject="sub-tolvan",
    client_id="portal",
    scopes=ScopeSet.parse("patient/*.rs launch/patient"),
    patient="tolvan",
)
SYSTEM = Principal(subject="svc-1", client_id="integration", scopes=ScopeSet.parse(""))


def record(principal: Principal = CLINICIAN, **kwargs: Any) -> AuditRecord:
    values: dict[str, Any] = {
        "interaction": "read",
        "resource_type": "CarePlan",
        "references": ("CarePlan/cp1",),
        "recorded": WHEN,
    }
    values.update(kwargs)
    return AuditRecord(principal=principal, **values)


def codes(concepts: list[dict[str, Any]]) -> list[str]:
    return [c["code"] for c in concepts]


def test_a_read_by_a_clinician() -> None:
    event = audit_event(record(address="10.1.2.3"), ["tolvan"])

    assert event["resourceType"] == "AuditEvent"
    assert event["type"] == {
        "system": "http://terminology.hl7.org/CodeSystem/audit-event-type",
        "code": "rest",
        "display": "RESTful Operation",
    }
    assert event["subtype"] == [
        {"system": "http://hl7.org/fhir/restful-interaction", "code": "read"}
    ]
    assert event["action"] == "R"
    assert event["recorded"] == "2026-11-28T09:15:00.123Z"
    assert (event["outcome"], event["outcomeDesc"]) == ("0", "200 OK")
    assert event["purposeOfEvent"] == [
        {
            "coding": [
                {
                    "system": "http://terminology.hl7.org/CodeSystem/v3-ActReason",
                    "code": "TREAT",
                    "display": "treatment",
                }
            ]
        }
    ]
    user, client = event["agent"]
    assert user["who"] == {"reference": "PractitionerRole/pr-anna"}
    assert user["altId"] == "sub-anna"
    assert user["requestor"] is True
    assert user["network"] == {"address": "10.1.2.3", "type": "2"}
    assert user["extension"] == [
        {"url": SCOPE_EXTENSION, "valueString": "user/CarePlan.rs user/Patient.r openid fhirUser"}
    ]
    assert client["who"] == {"identifier": {"system": CLIENT_ID_SYSTEM, "value": "cosmic"}}
    assert client["requestor"] is False
    assert event["source"]["observer"] == {"display": "patientkontrakt"}
    patient, careplan = event["entity"]
    assert patient["what"] == {"reference": "Patient/tolvan"}
    assert (patient["type"]["code"], patient["role"]["code"]) == ("1", "1")
    assert careplan["what"] == {"reference": "CarePlan/cp1"}
    assert (careplan["type"]["code"], careplan["role"]["code"]) == ("2", "4")
    validate_resource("AuditEvent", event)


def test_the_caller_in_patient_and_system_context() -> None:
    patient_event = audit_event(record(PATIENT), ["tolvan"])
    assert patient_event["agent"][0]["who"] == {"reference": "Patient/tolvan"}
    assert patient_event["agent"][1]["who"]["identifier"]["value"] == "portal"

    system_event = audit_event(record(SYSTEM), [])
    user = system_event["agent"][0]
    assert user["who"] == {"identifier": {"system": SUBJECT_SYSTEM, "value": "svc-1"}}
    assert "extension" not in user  # no scopes, no empty extension
    assert "network" not in user
    assert [e["what"]["reference"] for e in system_event["entity"]] == ["CarePlan/cp1"]
    validate_resource("AuditEvent", system_event)


@pytest.mark.parametrize(
    ("status", "code", "description"),
    [
        (200, "0", "200 OK"),
        (201, "0", "201 Created"),
        (304, "0", "304 Not Modified"),
        (403, "4", "403 Forbidden"),
        (404, "4", "404 Not Found"),
        (500, "8", "500 Internal Server Error"),
        (503, "8", "503 Service Unavailable"),
    ],
)
def test_outcome_codes(status: int, code: str, description: str) -> None:
    event = audit_event(record(outcome=status), ["tolvan"])
    assert (event["outcome"], event["outcomeDesc"]) == (code, description)
    validate_resource("AuditEvent", event)


def test_emergency_access_names_its_reason() -> None:
    emergency = Principal(
        subject="sub-anna",
        client_id="cosmic",
        scopes=ScopeSet.parse("user/*.rs"),
        fhir_user="PractitionerRole/pr-anna",
        purpose_of_use="ETREAT",
        emergency_reason="Medvetslös patient på akuten",
    )
    event = audit_event(record(emergency), ["tolvan"])
    assert event["purposeOfEvent"] == [
        {
            "coding": [
                {
                    "system": "http://terminology.hl7.org/CodeSystem/v3-ActReason",
                    "code": "ETREAT",
                    "display": "Emergency Treatment",
                }
            ],
            "text": "Medvetslös patient på akuten",
        }
    ]
    validate_resource("AuditEvent", event)


@pytest.mark.parametrize(
    ("interaction", "resource_type", "references", "subtype", "action"),
    [
        ("vread", "CarePlan", ("CarePlan/cp1/_history/2",), "vread", "R"),
        ("search", "CarePlan", ("CarePlan/a", "CarePlan/b"), "search-type", "E"),
        ("search", None, ("CarePlan/a",), "search-system", "E"),
        ("history", "CarePlan", ("CarePlan/a", "CarePlan/a"), "history-instance", "R"),
        ("history", "CarePlan", ("CarePlan/a", "CarePlan/b"), "history-type", "R"),
        ("history", None, ("CarePlan/a",), "history-system", "R"),
        ("history-type", "CarePlan", ("CarePlan/a",), "history-type", "R"),
        ("create", "CarePlan", ("CarePlan/a/_history/1",), "create", "C"),
        ("update", "CarePlan", ("CarePlan/a/_history/2",), "update", "U"),
        ("patch", "CarePlan", ("CarePlan/a/_history/3",), "patch", "U"),
        ("delete", "CarePlan", ("CarePlan/a/_history/4",), "delete", "D"),
        ("operation", "Patient", ("Patient/tolvan",), "operation", "E"),
    ],
)
def test_interactions(
    interaction: str,
    resource_type: str | None,
    references: tuple[str, ...],
    subtype: str,
    action: str,
) -> None:
    event = audit_event(
        record(interaction=interaction, resource_type=resource_type, references=references),
        ["tolvan"],
    )
    assert codes(event["subtype"]) == [subtype]
    assert event["action"] == action
    # Writers are authors; readers are recipients of the information.
    user_type = event["agent"][0]["type"]["coding"][0]["code"]
    assert user_type == ("AUT" if action in "CUD" else "IRCP")
    validate_resource("AuditEvent", event)


def test_a_search_records_its_query_in_base64() -> None:
    query = "subject=Patient/tolvan&status=active&_include=CarePlan:care-team"
    event = audit_event(
        record(
            interaction="search",
            references=("CarePlan/a", "CareTeam/t"),
            query=query,
            entry=3,
        ),
        ["tolvan"],
    )
    request = event["entity"][-1]
    assert "what" not in request
    assert request["role"]["code"] == "24"
    assert base64.b64decode(request["query"]).decode() == query
    assert request["description"] == "CarePlan"
    assert "name" not in request  # sev-1: a name or a query, never both
    assert request["detail"] == [{"type": "Bundle.entry", "valueString": "3"}]
    assert [e.get("what", {}).get("reference") for e in event["entity"]] == [
        "Patient/tolvan",
        "CarePlan/a",
        "CareTeam/t",
        None,
    ]
    validate_resource("AuditEvent", event)


def test_an_operation_is_named() -> None:
    event = audit_event(
        record(
            interaction="operation",
            resource_type="Patient",
            references=("Patient/tolvan", "CarePlan/cp1"),
            operation="$patient-contract",
        ),
        ["tolvan"],
    )
    assert codes(event["subtype"]) == ["operation"]
    # The patient read is the patient entity, not listed again as a resource.
    assert [e.get("what", {}).get("reference") for e in event["entity"]] == [
        "Patient/tolvan",
        "CarePlan/cp1",
        None,
    ]
    assert event["entity"][-1]["name"] == "$patient-contract"
    validate_resource("AuditEvent", event)


def test_every_patient_once_and_ids_or_references_alike() -> None:
    event = audit_event(
        record(references=("CareTeam/t",)), ["tolvan", "Patient/tolvan", "Patient/other"]
    )
    assert [e["what"]["reference"] for e in event["entity"]] == [
        "Patient/tolvan",
        "Patient/other",
        "CareTeam/t",
    ]


def test_a_denied_access_is_recorded_as_a_minor_failure() -> None:
    event = audit_event(record(outcome=403, references=("Patient/tolvan",)), ["tolvan"])
    assert event["outcome"] == "4"
    assert [e["what"]["reference"] for e in event["entity"]] == ["Patient/tolvan"]


def test_compartment_patients_from_a_body() -> None:
    careplan = {
        "resourceType": "CarePlan",
        "subject": {"reference": "Patient/tolvan"},
        "activity": [{"detail": {"performer": [{"reference": "Patient/tolvan"}]}}],
    }
    assert compartment_patients("CarePlan", careplan) == ["tolvan"]
    assert compartment_patients("Patient", {"resourceType": "Patient", "id": "x"}) == ["x"]
    assert compartment_patients("Organization", {"resourceType": "Organization"}) == []

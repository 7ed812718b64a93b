"""Provenance of writes and the X-Provenance header (security/provenance.py)."""

from __future__ import annotations

import datetime as dt
from typing import Any

import orjson
import pytest

from patientkontrakt.outcomes import FhirError
from patientkontrakt.security.audit import SUBJECT_SYSTEM
from patientkontrakt.security.principal import Principal
from patientkontrakt.security.provenance import parse_x_provenance, provenance
from patientkontrakt.security.scopes import ScopeSet
from patientkontrakt.store.repository import StoredVersion
from patientkontrakt.validation.base import validate_resource

WHEN = dt.datetime(2026, 11, 28, 9, 15, tzinfo=dt.UTC)
CLINICIAN = Principal(
    subject="sub-anna",
    client_id="cosmic",
    scopes=ScopeSet.parse("user/CarePlan.cruds"),
    fhir_user="PractitionerRole/pr-anna",
)
INTEGRATION = Principal(subject="svc", client_id="cosmic-sync", scopes=ScopeSet.parse(""))
PATIENT = Principal(
    subject="sub-tolvan", client_id="portal", scopes=ScopeSet.parse(""), patient="tolvan"
)
DATA_OPERATION = "http://terminology.hl7.org/CodeSystem/v3-DataOperation"
PARTICIPANT = "http://terminology.hl7.org/CodeSystem/provenance-participant-type"


def stored(reference: str, version: int) -> StoredVersion:
    resource_type, resource_id = reference.split("/")
    return StoredVersion(resource_type, resource_id, version, WHEN, False, b"{}")


def agent_codes(body: dict[str, Any]) -> list[tuple[str, Any]]:
    return [(a["type"]["coding"][0]["code"], a["who"]) for a in body["agent"]]


def test_a_clinicians_update() -> None:
    body = provenance([stored("CarePlan/cp1", 3)], CLINICIAN, "UPDATE", WHEN)

    assert body["resourceType"] == "Provenance"
    assert body["target"] == [{"reference": "CarePlan/cp1/_history/3"}]
    assert body["recorded"] == "2026-11-28T09:15:00.000Z"
    assert body["activity"]["coding"] == [
        {"system": DATA_OPERATION, "code": "UPDATE", "display": "revise"}
    ]
    assert body["agent"] == [
        {
            "type": {"coding": [{"system": PARTICIPANT, "code": "author", "display": "Author"}]},
            "who": {"reference": "PractitionerRole/pr-anna"},
        }
    ]
    assert body["reason"][0]["coding"][0]["code"] == "TREAT"
    validate_resource("Provenance", body)


def test_targets_given_as_reference_and_version() -> None:
    body = provenance(
        [("CarePlan/cp1", 1), ("CareTeam/t", 1), stored("Patient/tolvan", 4)],
        PATIENT,
        "CREATE",
        WHEN,
    )
    assert [t["reference"] for t in body["target"]] == [
        "CarePlan/cp1/_history/1",
        "CareTeam/t/_history/1",
        "Patient/tolvan/_history/4",
    ]
    assert agent_codes(body) == [("author", {"reference": "Patient/tolvan"})]
    assert body["activity"]["coding"][0]["code"] == "CREATE"
    validate_resource("Provenance", body)


def test_a_system_caller_is_its_identifier_and_may_act_on_behalf_of() -> None:
    body = provenance(
        [("CarePlan/cp1", 5)], INTEGRATION, "DELETE", WHEN, on_behalf_of="Organization/vc"
    )
    (agent,) = body["agent"]
    assert agent["who"]["identifier"]["value"] == "svc"
    assert agent["onBehalfOf"] == {"reference": "Organization/vc"}
    assert body["activity"]["coding"][0]["code"] == "DELETE"
    validate_resource("Provenance", body)


def test_emergency_reason() -> None:
    emergency = Principal(
        subject="sub-anna",
        client_id="cosmic",
        scopes=ScopeSet.parse(""),
        fhir_user="PractitionerRole/pr-anna",
        purpose_of_use="ETREAT",
        emergency_reason="Akut",
    )
    body = provenance([("CarePlan/cp1", 2)], emergency, "UPDATE", WHEN)
    assert body["reason"][0]["coding"][0]["code"] == "ETREAT"
    assert body["reason"][0]["text"] == "Akut"


HEADER = {
    "resourceType": "Provenance",
    "id": "client-chosen",
    "meta": {"versionId": "9"},
    "target": [{"reference": "Patient/someone-else"}],
    "recorded": "2001-01-01T00:00:00Z",
    "occurredDateTime": "2026-11-27T15:00:00+01:00",
    "reason": [{"text": "Uppföljning efter vårdplanering"}],
    "activity": {"coding": [{"system": DATA_OPERATION, "code": "APPEND"}]},
    "agent": [
        {
            "type": {"coding": [{"system": PARTICIPANT, "code": "author"}]},
            "who": {"reference": "PractitionerRole/pr-bertil"},
            "onBehalfOf": {"reference": "Organization/vc"},
        }
    ],
    "entity": [{"role": "source", "what": {"reference": "DocumentReference/x"}}],
}


def test_the_header_is_kept_but_target_and_recorded_are_the_servers() -> None:
    header = parse_x_provenance(orjson.dumps(HEADER).decode())
    assert header is not None

    body = provenance([("CarePlan/cp1", 2)], INTEGRATION, "UPDATE", WHEN, header)

    assert body["target"] == [{"reference": "CarePlan/cp1/_history/2"}]
    assert body["recorded"] == "2026-11-28T09:15:00.000Z"
    assert "id" not in body
    assert "meta" not in body
    assert body["occurredDateTime"] == HEADER["occurredDateTime"]
    assert body["reason"] == HEADER["reason"]
    assert body["activity"] == HEADER["activity"]
    assert body["entity"] == HEADER["entity"]
    # The header's author stays; the integration that entered it is added as enterer.
    assert agent_codes(body) == [
        ("author", {"reference": "PractitionerRole/pr-bertil"}),
        ("enterer", {"identifier": {"system": SUBJECT_SYSTEM, "value": "svc"}}),
    ]
    validate_resource("Provenance", body)


def test_the_caller_named_in_the_header_is_not_added_twice() -> None:
    header = {
        "resourceType": "Provenance",
        "agent": [{"who": {"reference": "PractitionerRole/pr-anna"}}],
    }
    body = provenance([("CarePlan/cp1", 2)], CLINICIAN, "UPDATE", WHEN, header)
    assert body["agent"] == [{"who": {"reference": "PractitionerRole/pr-anna"}}]
    assert body["activity"]["coding"][0]["code"] == "UPDATE"


def test_an_invalid_header_gives_422() -> None:
    header = {"resourceType": "Provenance", "reason": "not a CodeableConcept"}
    with pytest.raises(FhirError) as caught:
        provenance([("CarePlan/cp1", 2)], CLINICIAN, "UPDATE", WHEN, header)
    assert caught.value.status == 422

    with pytest.raises(FhirError) as caught:
        provenance(
            [("CarePlan/cp1", 2)],
            CLINICIAN,
            "UPDATE",
            WHEN,
            {"resourceType": "Provenance", "agent": {"who": {"reference": "Practitioner/x"}}},
        )
    assert caught.value.status == 422


def test_without_targets_or_with_another_activity_there_is_no_provenance() -> None:
    with pytest.raises(ValueError, match="target"):
        provenance([], CLINICIAN, "UPDATE", WHEN)
    with pytest.raises(ValueError, match="activity"):
        provenance([("CarePlan/cp1", 1)], CLINICIAN, "APPEND", WHEN)


@pytest.mark.parametrize("value", [None, "", "   "])
def test_no_header(value: str | None) -> None:
    assert parse_x_provenance(value) is None


@pytest.mark.parametrize(
    "value",
    [
        "{not json",
        "[]",
        '"Provenance"',
        '{"resourceType": "AuditEvent"}',
        '{"agent": []}',
    ],
)
def test_a_header_that_is_not_a_provenance_gives_400(value: str) -> None:
    with pytest.raises(FhirError) as caught:
        parse_x_provenance(value)
    assert caught.value.status == 400
    assert "X-Provenance" in str(caught.value)

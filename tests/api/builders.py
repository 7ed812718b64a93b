"""Minimal valid resources for API tests, as plain JSON dicts (a new dict on every call).

Only the test personnummer 191212121212 (Tolvan Tolvansson) is ever used.
"""

from __future__ import annotations

from typing import Any

PERSONNUMMER_SYSTEM = "http://electronichealth.se/identifier/personnummer"
TOLVAN_PERSONNUMMER = "191212121212"
HSA_SYSTEM = "urn:oid:1.2.752.29.4.19"

FHIR_JSON = {"Content-Type": "application/fhir+json"}
"""Request headers for a FHIR JSON body."""


def patient() -> dict[str, Any]:
    """Tolvan Tolvansson, with the well-known test personnummer."""
    return {
        "resourceType": "Patient",
        "identifier": [{"system": PERSONNUMMER_SYSTEM, "value": TOLVAN_PERSONNUMMER}],
        "name": [{"family": "Tolvansson", "given": ["Tolvan"]}],
        "gender": "male",
        "birthDate": "1912-12-12",
    }


def care_plan(patient_ref: str) -> dict[str, Any]:
    """A CarePlan (patientkontrakt) for `patient_ref` such as `Patient/123`."""
    return {
        "resourceType": "CarePlan",
        "status": "active",
        "intent": "plan",
        "title": "Patientkontrakt",
        "subject": {"reference": patient_ref},
    }


def care_team(patient_ref: str) -> dict[str, Any]:
    """A CareTeam around `patient_ref`."""
    return {
        "resourceType": "CareTeam",
        "status": "active",
        "name": "Fast vårdkontakt",
        "subject": {"reference": patient_ref},
    }


def appointment(patient_ref: str) -> dict[str, Any]:
    """A booked Appointment (överenskommen tid) with `patient_ref` taking part."""
    return {
        "resourceType": "Appointment",
        "status": "booked",
        "start": "2026-11-28T09:15:00+01:00",
        "end": "2026-11-28T09:45:00+01:00",
        "participant": [{"actor": {"reference": patient_ref}, "status": "accepted"}],
    }


def organization() -> dict[str, Any]:
    """A care unit with a (made-up) HSA id."""
    return {
        "resourceType": "Organization",
        "identifier": [{"system": HSA_SYSTEM, "value": "SE0000000000-TEST1"}],
        "active": True,
        "name": "Vårdcentralen Test",
    }

"""Synthetic contract data for benchmarks, as transaction Bundles.

Patients carry a bench-only identifier system (never a personnummer) and the test-data tag.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

BENCH_SYSTEM = "urn:patientkontrakt:bench:patient"
TEST_TAG = {"system": "http://terminology.hl7.org/CodeSystem/v3-ActReason", "code": "HTEST"}


def contract_entries(n: int) -> list[dict[str, Any]]:
    """Patient n with a care team, a contract CarePlan and an agreed Appointment."""
    patient_url = f"urn:uuid:00000000-0000-4000-8000-{n:012d}"
    team_url = f"urn:uuid:00000000-0000-4000-9000-{n:012d}"
    patient = {
        "resourceType": "Patient",
        "meta": {"tag": [TEST_TAG]},
        "identifier": [{"system": BENCH_SYSTEM, "value": f"p{n}"}],
        "name": [{"family": f"Testsson{n}", "given": ["Bench"]}],
    }
    team = {
        "resourceType": "CareTeam",
        "meta": {"tag": [TEST_TAG]},
        "status": "active",
        "subject": {"reference": patient_url},
        "name": "Fast vårdkontakt",
    }
    plan = {
        "resourceType": "CarePlan",
        "meta": {"tag": [TEST_TAG]},
        "status": "active",
        "intent": "plan",
        "subject": {"reference": patient_url},
        "careTeam": [{"reference": team_url}],
        "title": "Sammanhållen planering",
        "activity": [{"detail": {"status": "scheduled", "description": "Promenad 30 min/dag"}}],
    }
    appointment = {
        "resourceType": "Appointment",
        "meta": {"tag": [TEST_TAG]},
        "status": "booked",
        "start": "2026-12-01T09:00:00+01:00",
        "end": "2026-12-01T09:30:00+01:00",
        "participant": [{"actor": {"reference": patient_url}, "status": "accepted"}],
    }
    return [
        _post(patient_url, patient),
        _post(team_url, team),
        _post(None, plan),
        _post(None, appointment),
    ]


def _post(full_url: str | None, resource: dict[str, Any]) -> dict[str, Any]:
    entry: dict[str, Any] = {
        "resource": resource,
        "request": {"method": "POST", "url": resource["resourceType"]},
    }
    if full_url:
        entry["fullUrl"] = full_url
    return entry


def transaction_bundles(patients: int, per_bundle: int) -> Iterator[dict[str, Any]]:
    """Transaction Bundles holding the contracts of `per_bundle` patients each."""
    for first in range(0, patients, per_bundle):
        entries: list[dict[str, Any]] = []
        for n in range(first, min(patients, first + per_bundle)):
            entries.extend(contract_entries(n))
        yield {"resourceType": "Bundle", "type": "transaction", "entry": entries}

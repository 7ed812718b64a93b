"""Synthetic contract data for benchmarks: 15 resources per patient, with fixed ids.

Patients carry a bench-only identifier system (never a personnummer) and the test-data tag.
Shared organisations and practitioners are made once per 1,000 patients.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

BENCH_SYSTEM = "urn:patientkontrakt:bench:patient"
TEST_TAG = {"system": "http://terminology.hl7.org/CodeSystem/v3-ActReason", "code": "HTEST"}
PER_PATIENT = 15
STAFF_EVERY = 1000


def _tagged(resource: dict[str, Any]) -> dict[str, Any]:
    resource["meta"] = {"tag": [TEST_TAG]}
    return resource


def staff(group: int) -> list[dict[str, Any]]:
    """A health centre and three practitioners with roles, shared by 1,000 patients."""
    org = f"org-{group}"
    out = [
        _tagged({"resourceType": "Organization", "id": org, "name": f"Vårdcentral {group}"}),
    ]
    for n, title in enumerate(("Läkare", "Sjuksköterska", "Psykolog")):
        out.append(
            _tagged(
                {
                    "resourceType": "Practitioner",
                    "id": f"pr-{group}-{n}",
                    "name": [{"family": f"Testsson{group}", "given": [title]}],
                }
            )
        )
        out.append(
            _tagged(
                {
                    "resourceType": "PractitionerRole",
                    "id": f"role-{group}-{n}",
                    "practitioner": {"reference": f"Practitioner/pr-{group}-{n}"},
                    "organization": {"reference": f"Organization/{org}"},
                    "code": [{"text": title}],
                }
            )
        )
    return out


def patient_resources(n: int) -> list[dict[str, Any]]:
    """Patient n with two care teams, two plans, five appointments, goals and conditions."""
    pid = f"p-{n}"
    group = n // STAFF_EVERY
    subject = {"reference": f"Patient/{pid}"}
    role = {"reference": f"PractitionerRole/role-{group}-{n % 3}"}
    org = {"reference": f"Organization/org-{group}"}
    day = 1 + n % 28
    out: list[dict[str, Any]] = [
        {
            "resourceType": "Patient",
            "id": pid,
            "identifier": [{"system": BENCH_SYSTEM, "value": str(n)}],
            "name": [{"family": f"Testsson{n}", "given": ["Bench"]}],
            "birthDate": f"{1930 + n % 80}-{1 + n % 12:02d}-{day:02d}",
        }
    ]
    for status, suffix in (("active", "a"), ("inactive", "i")):
        out.append(
            {
                "resourceType": "CareTeam",
                "id": f"ct-{n}-{suffix}",
                "status": status,
                "subject": subject,
                "managingOrganization": [org],
                "participant": [{"member": role}],
            }
        )
    for status, suffix in (("active", "a"), ("completed", "c")):
        out.append(
            {
                "resourceType": "CarePlan",
                "id": f"cp-{n}-{suffix}",
                "status": status,
                "intent": "plan",
                "subject": subject,
                "careTeam": [{"reference": f"CareTeam/ct-{n}-a"}],
                "title": "Sammanhållen planering",
                "period": {"start": f"2026-{1 + n % 11:02d}-{day:02d}"},
                "activity": [
                    {"detail": {"status": "scheduled", "description": "Promenad 30 minuter"}}
                ],
            }
        )
    for k in range(5):
        month = 1 + (n + k) % 12
        out.append(
            {
                "resourceType": "Appointment",
                "id": f"ap-{n}-{k}",
                "status": "booked" if k % 4 else "proposed",
                "start": f"2026-{month:02d}-{day:02d}T{8 + k:02d}:00:00+01:00",
                "end": f"2026-{month:02d}-{day:02d}T{8 + k:02d}:30:00+01:00",
                "participant": [
                    {"actor": subject, "status": "accepted"},
                    {"actor": role, "status": "accepted"},
                ],
            }
        )
    for k in range(2):
        out.append(
            {
                "resourceType": "Goal",
                "id": f"goal-{n}-{k}",
                "lifecycleStatus": "active",
                "description": {"text": "Sova bättre" if k else "Gå till jobbet"},
                "subject": subject,
            }
        )
    for k, code in enumerate(("F32.1", "F41.1")):
        out.append(
            {
                "resourceType": "Condition",
                "id": f"cond-{n}-{k}",
                "code": {"coding": [{"system": "https://www.icd10.se/", "code": code}]},
                "subject": subject,
            }
        )
    out.append(
        {
            "resourceType": "ServiceRequest",
            "id": f"sr-{n}",
            "status": "active",
            "intent": "order",
            "subject": subject,
            "requester": role,
        }
    )
    assert len(out) == PER_PATIENT
    return [_tagged(r) for r in out]


def resources(patients: int) -> Iterator[dict[str, Any]]:
    """Every resource for `patients` patients, staff first."""
    for group in range(0, (patients + STAFF_EVERY - 1) // STAFF_EVERY):
        yield from staff(group)
    for n in range(patients):
        yield from patient_resources(n)


def transaction_bundles(patients: int, per_bundle: int) -> Iterator[dict[str, Any]]:
    """Transaction Bundles (PUT by id) holding the resources of `per_bundle` patients each."""
    batch: list[dict[str, Any]] = []
    for resource in resources(patients):
        batch.append(
            {
                "resource": resource,
                "request": {"method": "PUT", "url": f"{resource['resourceType']}/{resource['id']}"},
            }
        )
        if len(batch) >= per_bundle * PER_PATIENT:
            yield {"resourceType": "Bundle", "type": "transaction", "entry": batch}
            batch = []
    if batch:
        yield {"resourceType": "Bundle", "type": "transaction", "entry": batch}

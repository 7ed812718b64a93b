"""The shared dataset of the access-control tests, written with one transaction Bundle.

Two patients and three care units:

- P1: Tolvan Tolvansson (the test personnummer 191212121212). His active contract CarePlan has
  an activity performed by O2 (psykiatri) and a self-care activity (performer P1, not-started);
  his active CareTeam has R1 (O1, vårdcentral) as fast läkarkontakt; he has a proposed
  Appointment (his answer needs-action), a booked and accepted one, a Goal, and a Condition
  whose information holder is O2.
- P2: a made-up patient (identifier `urn:test:patient|annan-patient`, no personnummer), with a
  CarePlan (performer O3), a CareTeam with R3 (O3, kommun), an Appointment and a Goal.

So R1 has a care relation with P1 through the care team, R2 (O2) through the plan's
performer, and R3 (O3) only with P2. The spärr Consent (P1 blocks O2's information) is written
only by the tests that need it (`add_sparr`).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import httpx

from patientkontrakt.contract.vocabulary import (
    CATEGORY_PATIENTKONTRAKT,
    CATEGORY_SPARR,
    HSA_ID,
    PERSONNUMMER,
    ROLE_FAST_LAKARKONTAKT,
    Canonicals,
)
from tests.api.builders import FHIR_JSON, TOLVAN_PERSONNUMMER

CANONICALS = Canonicals()
P2_IDENTIFIER_SYSTEM = "urn:test:patient"
P2_IDENTIFIER_VALUE = "annan-patient"
P2_IDENTIFIER = f"{P2_IDENTIFIER_SYSTEM}|{P2_IDENTIFIER_VALUE}"

_KEYS = [
    *("O1", "O2", "O3", "PR1", "PR2", "PR3", "R1", "R2", "R3", "P1", "P2"),
    *("P1_PLAN", "P1_TEAM", "P1_PROPOSED", "P1_BOOKED", "P1_GOAL", "P1_CONDITION"),
    *("P2_PLAN", "P2_TEAM", "P2_APPOINTMENT", "P2_GOAL"),
]


def _urn(key: str) -> str:
    return f"urn:uuid:00000000-0000-4000-8000-{_KEYS.index(key):012d}"


def _ref(key: str) -> dict[str, str]:
    return {"reference": _urn(key)}


@dataclass(frozen=True)
class Dataset:
    """The ids the transaction assigned (`ids[key]`), with the references tests use most."""

    ids: dict[str, str]

    def __getattr__(self, key: str) -> str:
        try:
            return self.ids[key]
        except KeyError:
            raise AttributeError(key) from None

    def ref(self, key: str) -> str:
        """`Type/id` of a dataset resource, e.g. `ref("P1_PLAN")` is `CarePlan/<id>`."""
        return f"{_TYPES[key]}/{self.ids[key]}"


_TYPES: dict[str, str] = {}


def _organization(name: str, hsa: str) -> dict[str, Any]:
    return {
        "resourceType": "Organization",
        "identifier": [{"system": HSA_ID, "value": hsa}],
        "active": True,
        "name": name,
    }


def _practitioner(name: str, hsa: str) -> dict[str, Any]:
    family, given = name.split(" ", 1)[1], name.split(" ", 1)[0]
    return {
        "resourceType": "Practitioner",
        "identifier": [{"system": HSA_ID, "value": hsa}],
        "name": [{"family": family, "given": [given]}],
    }


def _role(practitioner: str, organization: str, hsa: str, text: str) -> dict[str, Any]:
    return {
        "resourceType": "PractitionerRole",
        "identifier": [{"system": HSA_ID, "value": hsa}],
        "active": True,
        "practitioner": _ref(practitioner),
        "organization": _ref(organization),
        "code": [{"text": text}],
    }


def _activity(text: str, status: str, performer: str) -> dict[str, Any]:
    return {"detail": {"code": {"text": text}, "status": status, "performer": [_ref(performer)]}}


def _plan(patient: str, activities: list[dict[str, Any]], title: str) -> dict[str, Any]:
    return {
        "resourceType": "CarePlan",
        "status": "active",
        "intent": "plan",
        "category": [
            {"coding": [{"system": CANONICALS.contract_category, "code": CATEGORY_PATIENTKONTRAKT}]}
        ],
        "title": title,
        "subject": _ref(patient),
        "period": {"start": "2026-11-02"},
        "activity": activities,
    }


def _team(patient: str, member: str, organization: str, name: str) -> dict[str, Any]:
    return {
        "resourceType": "CareTeam",
        "status": "active",
        "name": name,
        "subject": _ref(patient),
        "period": {"start": "2026-11-02"},
        "participant": [
            {
                "role": [
                    {
                        "coding": [
                            {"system": CANONICALS.care_team_role, "code": ROLE_FAST_LAKARKONTAKT}
                        ]
                    }
                ],
                "member": _ref(member),
                "period": {"start": "2026-11-02"},
            }
        ],
        "managingOrganization": [_ref(organization)],
    }


def _goal(patient: str, text: str) -> dict[str, Any]:
    return {
        "resourceType": "Goal",
        "lifecycleStatus": "active",
        "description": {"text": text},
        "subject": _ref(patient),
    }


def _resources() -> dict[str, dict[str, Any]]:
    return {
        "O1": _organization("Vårdcentral Testby", "SE0000000000-SEC01"),
        "O2": _organization("Psykiatrimottagning Testby", "SE0000000000-SEC02"),
        "O3": _organization("Testby kommun", "SE0000000000-SEC03"),
        "PR1": _practitioner("Lena Testläkare", "SE0000000000-SEC1P"),
        "PR2": _practitioner("Sam Testsköterska", "SE0000000000-SEC2P"),
        "PR3": _practitioner("Kim Testhandläggare", "SE0000000000-SEC3P"),
        "R1": _role("PR1", "O1", "SE0000000000-SEC11", "Läkare, vårdcentral"),
        "R2": _role("PR2", "O2", "SE0000000000-SEC12", "Sjuksköterska, psykiatri"),
        "R3": _role("PR3", "O3", "SE0000000000-SEC13", "Biståndshandläggare, kommun"),
        "P1": {
            "resourceType": "Patient",
            "identifier": [{"system": PERSONNUMMER, "value": TOLVAN_PERSONNUMMER}],
            "name": [{"family": "Tolvansson", "given": ["Tolvan"]}],
            "gender": "male",
            "birthDate": "1912-12-12",
        },
        "P2": {
            "resourceType": "Patient",
            "identifier": [{"system": P2_IDENTIFIER_SYSTEM, "value": P2_IDENTIFIER_VALUE}],
            "name": [{"family": "Testsson", "given": ["Annan"]}],
        },
        "P1_PLAN": _plan(
            "P1",
            [
                _activity("Bedömning på psykiatrimottagningen", "scheduled", "O2"),
                _activity("Promenera 30 minuter varje dag", "not-started", "P1"),
            ],
            "Patientkontrakt för Tolvan",
        ),
        "P1_TEAM": _team("P1", "R1", "O1", "Tolvans vårdteam"),
        "P1_PROPOSED": {
            "resourceType": "Appointment",
            "status": "proposed",
            "description": "Bedömningssamtal",
            "requestedPeriod": [{"start": "2027-01-11", "end": "2027-01-22"}],
            "participant": [
                {"actor": _ref("P1"), "required": "required", "status": "needs-action"},
                {"actor": _ref("R2"), "required": "required", "status": "accepted"},
            ],
        },
        "P1_BOOKED": {
            "resourceType": "Appointment",
            "status": "booked",
            "description": "Uppföljning hos fast läkarkontakt",
            "start": "2026-12-10T09:00:00+01:00",
            "end": "2026-12-10T09:30:00+01:00",
            "participant": [
                {"actor": _ref("P1"), "status": "accepted"},
                {"actor": _ref("R1"), "status": "accepted"},
            ],
        },
        "P1_GOAL": _goal("P1", "Orka träffa barnbarnen varje vecka"),
        "P1_CONDITION": {
            "resourceType": "Condition",
            "extension": [{"url": CANONICALS.information_holder, "valueReference": _ref("O2")}],
            "clinicalStatus": {
                "coding": [
                    {
                        "system": "http://terminology.hl7.org/CodeSystem/condition-clinical",
                        "code": "active",
                    }
                ]
            },
            "code": {"text": "Medelsvår depression"},
            "subject": _ref("P1"),
        },
        "P2_PLAN": _plan(
            "P2",
            [_activity("Boendestöd tisdagar och fredagar", "scheduled", "O3")],
            "Patientkontrakt för Annan",
        ),
        "P2_TEAM": _team("P2", "R3", "O3", "Annans vårdteam"),
        "P2_APPOINTMENT": {
            "resourceType": "Appointment",
            "status": "booked",
            "description": "Hembesök",
            "start": "2026-12-11T10:00:00+01:00",
            "end": "2026-12-11T11:00:00+01:00",
            "participant": [
                {"actor": _ref("P2"), "status": "accepted"},
                {"actor": _ref("R3"), "status": "accepted"},
            ],
        },
        "P2_GOAL": _goal("P2", "Klara vardagen hemma"),
    }


for _key, _resource in _resources().items():
    _TYPES[_key] = _resource["resourceType"]


def transaction() -> dict[str, Any]:
    """The dataset as a transaction Bundle (new dicts on every call)."""
    return {
        "resourceType": "Bundle",
        "type": "transaction",
        "entry": [
            {
                "fullUrl": _urn(key),
                "resource": resource,
                "request": {"method": "POST", "url": resource["resourceType"]},
            }
            for key, resource in _resources().items()
        ],
    }


async def build(client: httpx.AsyncClient) -> Dataset:
    """Write the dataset through `client` (a system token); the ids it got."""
    bundle = transaction()
    response = await client.post("", json=bundle, headers=FHIR_JSON)
    assert response.status_code == 200, response.text
    ids: dict[str, str] = {}
    for key, entry in zip(_resources(), response.json()["entry"], strict=True):
        location = entry["response"]["location"]  # Type/id/_history/1
        resource_type, resource_id = location.split("/")[:2]
        assert resource_type == _TYPES[key], (key, location)
        ids[key] = resource_id
    return Dataset(ids)


def sparr_consent(data: Dataset, *, status: str = "active") -> dict[str, Any]:
    """P1's spärr: O2's information about him is blocked from other care providers."""
    return {
        "resourceType": "Consent",
        "status": status,
        "scope": {
            "coding": [
                {
                    "system": "http://terminology.hl7.org/CodeSystem/consentscope",
                    "code": "patient-privacy",
                }
            ]
        },
        "category": [
            {"coding": [{"system": CANONICALS.contract_category, "code": CATEGORY_SPARR}]}
        ],
        "patient": {"reference": data.ref("P1")},
        "dateTime": "2026-11-20T10:00:00+01:00",
        "organization": [{"reference": data.ref("O2")}],
        "policyRule": {
            "coding": [
                {"system": "http://terminology.hl7.org/CodeSystem/v3-ActCode", "code": "OPTOUT"}
            ]
        },
    }


async def add_sparr(client: httpx.AsyncClient, data: Dataset) -> str:
    """Store P1's active spärr Consent through `client` (a system token); its id."""
    response = await client.post("/Consent", json=sparr_consent(data), headers=FHIR_JSON)
    assert response.status_code == 201, response.text
    return str(response.json()["id"])

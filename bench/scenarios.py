"""The five scenarios of issue 7, as requests given the county.

A scenario is either a list of GET paths (`paths`: one random path per request, run under wrk,
the same paths for every server) or a unit of several steps (`unit`: run by the httpx driver,
built once per server so that state such as the transaction pool carries across concurrencies).
"""

from __future__ import annotations

import random
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any
from urllib.parse import quote

import orjson

from bench.client import Connection
from bench.data import County
from bench.driver import Unit
from bench.servers import Server
from patientkontrakt.contract.vocabulary import (
    CATEGORY_PATIENTKONTRAKT,
    PERSONNUMMER,
    ROLE_FAST_LAKARKONTAKT,
    Canonicals,
)

FHIR_JSON = "application/fhir+json"
TEST_TAG = {"system": "http://terminology.hl7.org/CodeSystem/v3-ActReason", "code": "HTEST"}


@dataclass(frozen=True)
class Scenario:
    """One row group of the report: a name, what one unit is, and how to make requests."""

    key: str
    title: str
    unit_name: str
    paths: Callable[[County], list[str]] | None = None
    unit: Callable[[Server, County], Unit] | None = None
    writes: bool = False
    """Run after the scenarios that only read, so that no write backlog lies under them."""


# --- 2. the CRUD cycle ---------------------------------------------------------------------------

CRUD_TYPES = (
    "Patient",
    "Organization",
    "PractitionerRole",
    "CareTeam",
    "Goal",
    "Appointment",
    "CarePlan",
)
"""Created in this order, so that every reference points at a resource made before it (HAPI
enforces referential integrity on delete), and deleted in the reverse order."""


def _ref(refs: dict[str, str], kind: str) -> dict[str, str]:
    return {"reference": refs[kind]}


def crud_resource(kind: str, refs: dict[str, str], county: County) -> dict[str, Any]:
    """The body of one create of the cycle; `refs` holds `Type/id` of those made before it."""
    day = county.today.isoformat()
    canonicals = Canonicals()
    made: dict[str, Any]
    if kind == "Patient":
        made = {
            "identifier": [{"system": PERSONNUMMER, "value": "191212121212"}],
            "active": True,
            "name": [{"use": "official", "family": "Tolvansson", "given": ["Tolvan"]}],
            "telecom": [{"system": "phone", "value": "070-123 45 67", "use": "mobile"}],
            "gender": "male",
            "birthDate": "1912-12-12",
        }
    elif kind == "Organization":
        made = {
            "identifier": [{"system": "urn:oid:1.2.752.29.4.19", "value": "SE2321990000-BNCH"}],
            "active": True,
            "name": "Vårdcentralen Bänkby",
            "telecom": [{"system": "phone", "value": "0771-11 22 33", "use": "work"}],
        }
    elif kind == "PractitionerRole":
        made = {
            "active": True,
            "practitioner": {"reference": f"Practitioner/{county.practitioner}"},
            "organization": _ref(refs, "Organization"),
            "code": [{"coding": [{"system": "http://snomed.info/sct", "code": "158965000"}]}],
        }
    elif kind == "CareTeam":
        role = {
            "coding": [
                {"system": canonicals.care_team_role, "code": ROLE_FAST_LAKARKONTAKT},
            ]
        }
        made = {
            "status": "active",
            "name": "Fast läkarkontakt, Vårdcentralen Bänkby",
            "subject": _ref(refs, "Patient"),
            "period": {"start": day},
            "participant": [{"role": [role], "member": _ref(refs, "PractitionerRole")}],
            "managingOrganization": [_ref(refs, "Organization")],
        }
    elif kind == "Goal":
        made = {
            "lifecycleStatus": "active",
            "description": {"text": "Gå en promenad varje dag"},
            "subject": _ref(refs, "Patient"),
            "expressedBy": _ref(refs, "Patient"),
        }
    elif kind == "Appointment":
        made = {
            "status": "booked",
            "description": "Läkarbesök: uppföljning",
            "start": f"{day}T10:15:00+00:00",
            "end": f"{day}T10:45:00+00:00",
            "participant": [
                {"actor": _ref(refs, "Patient"), "status": "accepted"},
                {"actor": _ref(refs, "PractitionerRole"), "status": "accepted"},
            ],
        }
    else:
        made = {
            "status": "active",
            "intent": "plan",
            "category": [
                {
                    "coding": [
                        {
                            "system": canonicals.contract_category,
                            "code": CATEGORY_PATIENTKONTRAKT,
                        }
                    ]
                }
            ],
            "title": "Sammanhållen planering",
            "subject": _ref(refs, "Patient"),
            "period": {"start": day},
            "careTeam": [_ref(refs, "CareTeam")],
            "goal": [_ref(refs, "Goal")],
            "activity": [
                {"reference": _ref(refs, "Appointment")},
                {
                    "detail": {
                        "status": "in-progress",
                        "description": "Promenad 30 minuter om dagen",
                        "performer": [_ref(refs, "Patient")],
                    }
                },
            ],
        }
    return {"resourceType": kind, "meta": {"tag": [TEST_TAG]}, **made}


def crud_change(resource: dict[str, Any], cycle: int) -> None:
    """What the update of the cycle changes, in place (as crud.js: one element per type)."""
    kind = resource["resourceType"]
    if kind == "Patient":
        resource["gender"] = "female" if resource["gender"] == "male" else "male"
    elif kind == "Organization":
        resource["name"] = f"Vårdcentralen Bänkby {cycle}"
    elif kind == "PractitionerRole":
        resource["active"] = not resource["active"]
    elif kind == "CareTeam":
        resource["name"] = f"Fast läkarkontakt {cycle}"
    elif kind == "Goal":
        resource["description"] = {"text": f"Gå {cycle % 60 + 10} minuter varje dag"}
    elif kind == "Appointment":
        resource["comment"] = f"Flyttad {cycle}"
    else:
        resource["description"] = f"Reviderad {cycle}"


def _crud(_server: Server, county: County) -> Unit:
    """Create, read, update and delete one resource of each contract type: Health Samurai's
    crud.js (fhir-server-performance-benchmark) with the contract's types; 28 requests."""
    cycles = 0
    headers = {"Content-Type": FHIR_JSON}

    async def unit(connection: Connection, _rng: random.Random) -> int:
        nonlocal cycles
        cycles += 1
        refs: dict[str, str] = {}
        bodies: dict[str, dict[str, Any]] = {}
        for kind in CRUD_TYPES:
            body = crud_resource(kind, refs, county)
            made = await connection.request(
                "POST", f"/{kind}", body=orjson.dumps(body), headers=headers, expect=(201,)
            )
            # Location: [base]/Type/id/_history/n on both servers.
            location = made.headers[b"location"].decode()
            resource_id = location.split(f"/{kind}/")[1].split("/")[0]
            refs[kind] = f"{kind}/{resource_id}"
            bodies[kind] = {**body, "id": resource_id}
        for kind in CRUD_TYPES:
            await connection.request("GET", f"/{refs[kind]}", expect=(200,))
        for kind in CRUD_TYPES:
            crud_change(bodies[kind], cycles)
            content = orjson.dumps(bodies[kind])
            await connection.request(
                "PUT", f"/{refs[kind]}", body=content, headers=headers, expect=(200,)
            )
        for kind in reversed(CRUD_TYPES):
            await connection.request("DELETE", f"/{refs[kind]}", expect=(200, 204))
        return 4 * len(CRUD_TYPES)

    return unit


# --- 4. the transaction --------------------------------------------------------------------------


def _transaction(_server: Server, county: County) -> Unit:
    """POST a transaction Bundle of 100 PUTs of new resources (the next of the pool)."""
    pool = county.transaction_pool()
    headers = {"Content-Type": FHIR_JSON, "Prefer": "return=minimal"}

    async def unit(connection: Connection, _rng: random.Random) -> int:
        await connection.request("POST", "", body=pool.take(), headers=headers, expect=(200,))
        return 1

    return unit


# --- 5. the patient's contract for a portal ------------------------------------------------------


def portal_searches(county: County, patient_id: str, personnummer: str) -> list[str]:
    """What a portal on a plain FHIR server asks for one patient's contract (HAPI's side)."""
    identifier = quote(f"{PERSONNUMMER}|{personnummer}", safe="")
    day = county.today.isoformat()
    return [
        f"/Patient?identifier={identifier}",
        f"/CarePlan?patient={patient_id}&status=active&_include=CarePlan:care-team"
        "&_include=CarePlan:goal&_include=CarePlan:activity-reference",
        f"/CareTeam?patient={patient_id}&status=active&_include=CareTeam:participant",
        f"/Appointment?patient={patient_id}&date=ge{day}&_sort=date&_include=Appointment:actor",
        f"/Goal?patient={patient_id}",
    ]


def _portal(server: Server, county: County) -> Unit:
    """Ours: one `$patient-contract`. HAPI: the searches a portal needs instead, one by one."""

    async def ours(connection: Connection, rng: random.Random) -> int:
        person = rng.choice(county.people)
        await connection.request("GET", f"/Patient/{person.id}/$patient-contract", expect=(200,))
        return 1

    async def searches(connection: Connection, rng: random.Random) -> int:
        person = rng.choice(county.people)
        paths = portal_searches(county, person.id, person.personnummer)
        for path in paths:
            await connection.request("GET", path, expect=(200,))
        return len(paths)

    return ours if server.ours else searches


SCENARIOS = (
    Scenario(
        "read",
        "1. read CarePlan by id",
        "request",
        paths=lambda c: [f"/fhir/CarePlan/{p.care_plan}" for p in c.people],
    ),
    Scenario(
        "crud", "2. CRUD cycle, 7 contract types", "cycle of 28 requests", unit=_crud, writes=True
    ),
    Scenario(
        "careplan-search",
        "3a. CarePlan?patient=X&status=active",
        "request",
        paths=lambda c: [f"/fhir/CarePlan?patient={p.id}&status=active" for p in c.people],
    ),
    Scenario(
        "careteam-search",
        "3b. CareTeam?patient=X&status=active",
        "request",
        paths=lambda c: [f"/fhir/CareTeam?patient={p.id}&status=active" for p in c.people],
    ),
    Scenario(
        "appointment-search",
        "3c. Appointment?patient=X&date=ge…&_sort=date",
        "request",
        paths=lambda c: [
            f"/fhir/Appointment?patient={p.id}&date=ge{c.today.isoformat()}&_sort=date"
            for p in c.people
        ],
    ),
    Scenario(
        "transaction", "4. transaction Bundle, 100 PUTs", "Bundle", unit=_transaction, writes=True
    ),
    Scenario(
        "portal",
        "5. a patient's contract (ours: $patient-contract; HAPI: 5 searches)",
        "view",
        unit=_portal,
    ),
)
"""In the order of the report; `run` takes those that write last."""

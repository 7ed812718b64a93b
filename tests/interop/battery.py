"""The searches the differential suite runs against both servers, and what each compares.

Every search is paged to the end on both servers. The matches are compared as a set; for a
search with `_sort`, also the sequence of sort keys, so that resources with equal keys may come
in either order (the spec leaves ties open) while everything else must be in the same order.
Included resources are compared as a set. A search that finds nothing on our server fails
unless it says `empty=True`, so that no comparison is of two empty answers by accident.

`docs/interop.md` lists the battery; `test_interop_doc.py` keeps the list equal to this file.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

PNR = "http://electronichealth.se/identifier/personnummer"
HSA = "urn:oid:1.2.752.29.4.19"
PK = "https://patientkontrakt.se/fhir"
TOLVAN = "demo-patient-000001"
DOCTOR = "PractitionerRole/demo-role-vc-norrby-lakare-2"
NURSE = "PractitionerRole/demo-role-vc-norrby-sjukskoterska-1"

SortKey = Callable[[dict[str, Any]], Any]


@dataclass(frozen=True)
class Search:
    """One search: its name, the query (type and parameters), what kind of parameter it tests,
    and for `_sort` searches the key that orders its matches."""

    name: str
    query: str
    kind: str
    sort_key: SortKey | None = None
    empty: bool = False


def _start(resource: dict[str, Any]) -> Any:
    return resource.get("start", "")


def _birth_date(resource: dict[str, Any]) -> Any:
    return resource.get("birthDate", "")


def _due_date(resource: dict[str, Any]) -> Any:
    return min((t.get("dueDate", "") for t in resource.get("target", [])), default="")


def _family(resource: dict[str, Any]) -> Any:
    return min((n.get("family", "") for n in resource.get("name", [])), default="")


def _period_start(resource: dict[str, Any]) -> Any:
    return resource.get("period", {}).get("start", "")


BATTERY: tuple[Search, ...] = (
    # token
    Search("careplan-status", "CarePlan?status=active", "token"),
    Search("careplan-status-or", "CarePlan?status=completed,draft", "token"),
    Search("careplan-status-not", "CarePlan?status:not=active", "token :not"),
    Search("careplan-category", f"CarePlan?category={PK}/CodeSystem/care-plan-type|SIP", "token"),
    Search("careplan-category-code", "CarePlan?category=patientkontrakt", "token"),
    Search("careplan-category-no-system", "CarePlan?category=|SIP", "token", empty=True),
    Search("careplan-intent", "CarePlan?intent=proposal,order", "token"),
    Search("careteam-status", "CareTeam?status=active", "token"),
    Search("careteam-category", "CareTeam?category=http://loinc.org|LA28865-6", "token"),
    Search("appointment-status", "Appointment?status=booked,proposed", "token"),
    Search("appointment-status-not", "Appointment?status:not=booked", "token :not"),
    Search("goal-lifecycle", "Goal?lifecycle-status=active", "token"),
    Search("goal-achievement", "Goal?achievement-status=in-progress", "token"),
    Search("patient-identifier", f"Patient?identifier={PNR}|191212121212", "token"),
    Search("patient-identifier-code", "Patient?identifier=191212121212", "token"),
    Search("patient-identifier-system", f"Patient?identifier={PNR}|", "token"),
    Search("patient-gender", "Patient?gender=female", "token"),
    Search("practitioner-identifier", f"Practitioner?identifier={HSA}|SE2321990000-P0001", "token"),
    Search("role-code", "PractitionerRole?role=http://snomed.info/sct|158965000", "token"),
    Search("condition-code", "Condition?code=https://www.icd10.se/|I50.9", "token"),
    Search(
        "patient-tag",
        "Patient?_tag=http://terminology.hl7.org/CodeSystem/v3-ActReason|HTEST",
        "_tag",
    ),
    Search(
        "careplan-profile", f"CarePlan?_profile={PK}/StructureDefinition/pk-careplan", "_profile"
    ),
    Search("appointment-type", "Appointment?appointment-type=ROUTINE", "token"),
    # string
    Search("patient-name-prefix", "Patient?name=tolv", "string"),
    Search("patient-family", "Patient?family=Tolvansson", "string"),
    Search("patient-given-exact", "Patient?given:exact=Tolvan", "string :exact"),
    Search("patient-name-contains", "Patient?name:contains=sson", "string :contains"),
    Search("patient-city", "Patient?address-city=Sjövik", "string"),
    Search("patient-city-unaccented", "Patient?address-city=sjovik", "string", empty=True),
    Search("organization-name", "Organization?name=vårdcentralen", "string"),
    Search("practitioner-name", "Practitioner?name=eriksson", "string"),
    Search("patient-address", "Patient?address=Storgatan", "string"),
    Search("organization-city", "Organization?address-city=Sjövik", "string"),
    # reference
    Search("careplan-subject", f"CarePlan?subject=Patient/{TOLVAN}", "reference"),
    Search("careplan-patient-id", f"CarePlan?patient={TOLVAN}", "reference"),
    Search("careplan-subject-typed", f"CarePlan?subject:Patient={TOLVAN}", "reference :Type"),
    Search("careteam-patient", "CareTeam?patient=Patient/demo-patient-000002", "reference"),
    Search("careteam-participant", f"CareTeam?participant={NURSE}", "reference"),
    Search("appointment-actor", f"Appointment?actor={DOCTOR}", "reference"),
    Search("appointment-patient", "Appointment?patient=Patient/demo-patient-000003", "reference"),
    Search("careplan-care-team", "CarePlan?care-team=CareTeam/demo-careteam-000001", "reference"),
    Search("careplan-goal", "CarePlan?goal=Goal/demo-goal-000001-1", "reference"),
    Search(
        "careplan-activity-reference",
        "CarePlan?activity-reference=Appointment/demo-appointment-000001-1",
        "reference",
    ),
    Search("goal-subject-example", "Goal?subject=Patient/example", "reference"),
    Search("role-organization", "PractitionerRole?organization=demo-org-vc-norrby", "reference"),
    Search("condition-subject", "Condition?subject=Patient/f201", "reference"),
    Search(
        "careplan-subject-or", f"CarePlan?subject=Patient/{TOLVAN},Patient/example", "reference"
    ),
    # date
    Search("appointment-day", "Appointment?date=2026-11-04", "date"),
    Search("appointment-month", "Appointment?date=ge2026-11-01&date=lt2026-12-01", "date"),
    Search("appointment-after-instant", "Appointment?date=gt2026-11-04T10:15:00Z", "date"),
    Search("appointment-before", "Appointment?date=lt2026-10-01", "date"),
    Search("appointment-starts-after", "Appointment?date=sa2026-11-15", "date :sa"),
    Search("careplan-period-from", "CarePlan?date=ge2026-01-01", "date (Period)"),
    Search("careplan-period-old", "CarePlan?date=le2013", "date (Period)"),
    Search("goal-target-date", "Goal?target-date=lt2027-06", "date"),
    Search("patient-birthdate", "Patient?birthdate=1912-12-12", "date"),
    Search("patient-born-after", "Patient?birthdate=ge1990", "date"),
    Search("condition-onset", "Condition?onset-date=ge2026-07", "date"),
    Search("goal-start-date", "Goal?start-date=ge2026", "date"),
    # quantity and id
    Search("observation-quantity", "Observation?value-quantity=gt38", "quantity"),
    Search("careplan-id", "CarePlan?_id=demo-careplan-000001,f001", "_id"),
    # chains
    Search(
        "careplan-chain-identifier",
        f"CarePlan?subject:Patient.identifier={PNR}|191212121212",
        "chain",
    ),
    Search("careplan-chain-name", "CarePlan?patient.name=Tolvansson", "chain"),
    Search(
        "appointment-chain-organization",
        "Appointment?actor:PractitionerRole.organization=Organization/demo-org-vc-norrby",
        "chain",
    ),
    Search(
        "careteam-chain-two-levels",
        "CareTeam?participant:PractitionerRole.practitioner.name=Eriksson",
        "chain (2 levels)",
    ),
    Search("goal-chain-gender", "Goal?patient.gender=female", "chain"),
    # reverse chains
    Search("patient-has-careplan", "Patient?_has:CarePlan:subject:status=active", "_has"),
    Search(
        "patient-has-careteam-member", f"Patient?_has:CareTeam:patient:participant={DOCTOR}", "_has"
    ),
    Search("patient-has-proposed-time", "Patient?_has:Appointment:patient:status=proposed", "_has"),
    # One page: HAPI FHIR 8.8.0 pages this search wrongly (docs/interop.md, "Paging of _has").
    Search(
        "role-has-careteam",
        "PractitionerRole?_has:CareTeam:participant:status=active&_count=100",
        "_has",
    ),
    Search(
        "patient-has-nested",
        "Patient?_has:CareTeam:subject:_has:CarePlan:care-team:status=active",
        "_has (nested)",
    ),
    # include and revinclude
    Search("include-subject", f"CarePlan?patient={TOLVAN}&_include=CarePlan:subject", "_include"),
    Search(
        "include-team-and-goal",
        f"CarePlan?patient={TOLVAN}&_include=CarePlan:care-team&_include=CarePlan:goal",
        "_include",
    ),
    Search(
        "include-participants",
        f"CareTeam?patient={TOLVAN}&_include=CareTeam:participant",
        "_include",
    ),
    Search("revinclude-plans", f"Patient?_id={TOLVAN}&_revinclude=CarePlan:subject", "_revinclude"),
    Search(
        "revinclude-times", f"Patient?_id={TOLVAN}&_revinclude=Appointment:patient", "_revinclude"
    ),
    Search(
        "include-iterate",
        "CarePlan?_id=demo-careplan-000001&_include=CarePlan:care-team&_include:iterate=CareTeam:participant",
        "_include:iterate",
    ),
    Search(
        "include-typed",
        f"Appointment?patient={TOLVAN}&_include=Appointment:actor:PractitionerRole",
        "_include (typed)",
    ),
    # sort and paging
    Search("sort-appointment-date", f"Appointment?patient={TOLVAN}&_sort=date", "_sort", _start),
    Search("sort-appointment-date-desc", "Appointment?status=booked&_sort=-date", "_sort", _start),
    Search(
        "sort-patient-birthdate", "Patient?_sort=birthdate&_count=7", "_sort + paging", _birth_date
    ),
    Search("sort-patient-family", "Patient?_sort=family", "_sort (string)", _family),
    Search("sort-goal-target-date", "Goal?_sort=target-date", "_sort", _due_date),
    Search(
        "sort-careteam-date", "CareTeam?status=active&_sort=-date", "_sort (Period)", _period_start
    ),
    Search("paging-appointments", "Appointment?_count=9", "paging"),
    Search("paging-careplans", "CarePlan?_count=4", "paging"),
)

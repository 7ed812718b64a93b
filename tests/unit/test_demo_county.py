"""The demo county: reproducible, valid Swedish test data keeping the contract's rules."""

from __future__ import annotations

import copy
import datetime as dt
import re
from collections import Counter, defaultdict
from collections.abc import Iterator
from typing import Any

import pytest

from patientkontrakt.contract.demo import generate
from patientkontrakt.contract.vocabulary import (
    HSA_ID,
    ORGANISATIONSNUMMER,
    PERSONNUMMER,
    PLAN_TYPES,
    Canonicals,
)
from patientkontrakt.validation.base import validate_resource

CANONICALS = Canonicals()
TODAY = dt.date(2026, 3, 11)  # a Wednesday
NOW = dt.datetime(2026, 3, 11, 23, 0, tzinfo=dt.UTC)  # the end of that day in Sweden
PATIENTS = 60
SEED = 7
ICD10SE = "https://www.icd10.se/"
CONTRACT = (CANONICALS.contract_category, "patientkontrakt")
PROFILES = {
    "Patient": "pk-patient",
    "CarePlan": "pk-careplan",
    "CareTeam": "pk-careteam",
    "Appointment": "pk-appointment",
    "PractitionerRole": "pk-practitionerrole",
    "Organization": "pk-organization",
}

Resource = dict[str, Any]


@pytest.fixture(scope="module")
def county() -> list[Resource]:
    return list(generate(PATIENTS, SEED, CANONICALS, today=TODAY))


@pytest.fixture(scope="module")
def by_key(county: list[Resource]) -> dict[str, Resource]:
    return {f"{r['resourceType']}/{r['id']}": r for r in county}


def of_type(county: list[Resource], resource_type: str) -> list[Resource]:
    return [r for r in county if r["resourceType"] == resource_type]


def luhn_ok(ten_digits: str) -> bool:
    """Luhn check written out here, independently of the generator's own."""
    total = 0
    for position, digit in enumerate(int(c) for c in ten_digits):
        if position % 2 == 0:
            digit *= 2
            if digit > 9:
                digit -= 9
        total += digit
    return total % 10 == 0


def references(value: Any) -> Iterator[str]:
    if isinstance(value, dict):
        for key, item in value.items():
            if key == "reference" and isinstance(item, str):
                yield item
            else:
                yield from references(item)
    elif isinstance(value, list):
        for item in value:
            yield from references(item)


def instant(text: str) -> dt.datetime:
    return dt.datetime.fromisoformat(text)


def test_luhn_helper_itself() -> None:
    assert luhn_ok("1212121212")  # Tolvan
    assert not luhn_ok("1212121213")


def test_same_seed_same_county(county: list[Resource]) -> None:
    assert list(generate(PATIENTS, SEED, CANONICALS, today=TODAY)) == county


def test_another_seed_another_county(county: list[Resource]) -> None:
    other = list(generate(PATIENTS, SEED + 1, CANONICALS, today=TODAY))
    numbers = {r["identifier"][0]["value"] for r in of_type(county, "Patient")}
    other_numbers = {r["identifier"][0]["value"] for r in of_type(other, "Patient")}
    assert numbers & other_numbers == {"191212121212"}  # only Tolvan is the same


def test_a_smaller_county_is_the_start_of_a_larger_one(county: list[Resource]) -> None:
    small = list(generate(10, SEED, CANONICALS, today=TODAY))
    assert small == county[: len(small)]
    assert of_type(small, "Patient")[-1]["id"] == "demo-patient-000010"


def test_only_times_move_with_the_reference_date(county: list[Resource]) -> None:
    weeks = dt.timedelta(weeks=14)  # whole weeks: the same weekdays, so no weekend moves
    later = list(generate(PATIENTS, SEED, CANONICALS, today=TODAY + weeks))
    assert [(r["resourceType"], r["id"]) for r in later] == [
        (r["resourceType"], r["id"]) for r in county
    ]
    assert of_type(later, "Patient") == of_type(county, "Patient")
    moved = [
        (a["start"], b["start"])
        for a, b in zip(of_type(county, "Appointment"), of_type(later, "Appointment"), strict=True)
    ]
    # The same local time of day 14 weeks later; in UTC an hour apart across a DST change.
    assert all(abs(instant(b) - instant(a) - weeks) <= dt.timedelta(hours=1) for a, b in moved)
    assert any(instant(b) - instant(a) != weeks for a, b in moved)  # March to June: DST


def test_ids_are_fixed_readable_and_unique(county: list[Resource]) -> None:
    keys = [(r["resourceType"], r["id"]) for r in county]
    assert len(keys) == len(set(keys))
    assert all(re.fullmatch(r"demo-[a-z0-9-]+", i) and len(i) <= 64 for _, i in keys)
    patients = [r["id"] for r in of_type(county, "Patient")]
    assert patients == [f"demo-patient-{n:06d}" for n in range(1, PATIENTS + 1)]
    assert len(of_type(county, "CarePlan")) == PATIENTS


def test_tolvan_is_the_first_patient(county: list[Resource]) -> None:
    tolvan = of_type(county, "Patient")[0]
    assert tolvan["id"] == "demo-patient-000001"
    assert tolvan["identifier"] == [
        {"use": "official", "system": PERSONNUMMER, "value": "191212121212"}
    ]
    assert tolvan["name"][0]["family"] == "Tolvansson"
    assert tolvan["name"][0]["given"] == ["Tolvan"]
    assert tolvan["birthDate"] == "1912-12-12"
    assert tolvan["gender"] == "male"


def test_every_personnummer_is_valid_and_follows_the_demo_rule(county: list[Resource]) -> None:
    seen = set()
    for patient in of_type(county, "Patient"):
        (identifier,) = patient["identifier"]
        assert identifier["system"] == PERSONNUMMER
        number = identifier["value"]
        assert re.fullmatch(r"[0-9]{12}", number), number
        born = dt.date(int(number[:4]), int(number[4:6]), int(number[6:8]))  # a real date
        assert patient["birthDate"] == born.isoformat()
        assert luhn_ok(number[2:]), number
        birth_number = int(number[8:11])
        assert (birth_number % 2 == 1) == (patient["gender"] == "male")
        if number != "191212121212":
            assert 980 <= birth_number <= 999
        assert number not in seen
        seen.add(number)
    assert len(seen) == PATIENTS


def test_organisations_carry_hsa_id_and_organisationsnummer(county: list[Resource]) -> None:
    organizations = of_type(county, "Organization")
    assert len(organizations) >= 10
    for organization in organizations:
        systems = {i["system"]: i["value"] for i in organization["identifier"]}
        orgnr = systems[ORGANISATIONSNUMMER]
        assert re.fullmatch(r"[0-9]{10}", orgnr), orgnr
        assert luhn_ok(orgnr), orgnr
        hsa = re.fullmatch(r"SE([0-9]{10})-[A-Za-z0-9]+", systems[HSA_ID])
        assert hsa is not None
        assert len(systems[HSA_ID]) <= 31
        assert hsa.group(1) == orgnr
    names = " ".join(o["name"] for o in organizations)
    for kind in ("Vårdcentralen", "psykiatri", "sjukhus", "Socialtjänsten", "Hemtjänsten"):
        assert kind in names
    assert "Elevhälsan" in names


def test_practitioner_roles_have_hsa_id_telecom_availability_and_profession(
    county: list[Resource],
) -> None:
    professions = set()
    for role in of_type(county, "PractitionerRole"):
        (identifier,) = role["identifier"]
        assert identifier["system"] == HSA_ID
        assert re.fullmatch(r"SE[0-9]{10}-[A-Za-z0-9]+", identifier["value"])
        assert luhn_ok(identifier["value"][2:12])
        assert {t["system"] for t in role["telecom"]} == {"phone", "email"}
        assert role["availableTime"][0]["daysOfWeek"]
        professions.add(role["code"][0]["text"])
    assert professions == {
        "Läkare",
        "Sjuksköterska",
        "Psykolog",
        "Kurator",
        "Fysioterapeut",
        "Biståndshandläggare",
    }


def test_every_resource_is_tagged_as_test_data_and_names_its_profile(
    county: list[Resource],
) -> None:
    for resource in county:
        tag = {"system": "http://terminology.hl7.org/CodeSystem/v3-ActReason", "code": "HTEST"}
        assert tag in resource["meta"]["tag"], resource["id"]
        profile = PROFILES.get(resource["resourceType"])
        if profile is not None:
            assert resource["meta"]["profile"] == [CANONICALS.profile(profile)]


def test_every_reference_resolves_within_the_county(
    county: list[Resource], by_key: dict[str, Resource]
) -> None:
    found = [ref for resource in county for ref in references(resource)]
    assert len(found) > 10 * PATIENTS
    assert [ref for ref in found if ref not in by_key] == []


def fast_contacts(teams: list[Resource], code: str) -> list[tuple[str, str]]:
    return [
        (team["managingOrganization"][0]["reference"], participant["member"]["reference"])
        for team in teams
        for participant in team["participant"]
        if team["status"] == "active"
        and "end" not in participant.get("period", {})
        and any(c["code"] == code for r in participant["role"] for c in r["coding"])
    ]


def test_one_fast_lakarkontakt_and_one_fast_vardkontakt_per_unit(
    county: list[Resource], by_key: dict[str, Resource]
) -> None:
    teams: dict[str, list[Resource]] = defaultdict(list)
    for team in of_type(county, "CareTeam"):
        teams[team["subject"]["reference"]].append(team)
    assert len(teams) == PATIENTS
    several_units = 0
    for patient_ref, own in teams.items():
        doctors = fast_contacts(own, "fast-lakarkontakt")
        assert len(doctors) == 1, patient_ref
        contacts = fast_contacts(own, "fast-vardkontakt")
        units = [unit for unit, _ in contacts]
        assert len(units) == len(set(units)), patient_ref
        several_units += len(units) > 1
        # The fast läkarkontakt works at the health centre the patient is listed with.
        unit, doctor = doctors[0]
        patient = by_key[patient_ref]
        assert patient["generalPractitioner"][0]["reference"] == unit
        assert by_key[doctor]["organization"]["reference"] == unit
        for team in own:
            for participant in team["participant"]:
                assert participant["member"]["reference"].startswith("PractitionerRole/")
                assert participant["period"]["start"]
    assert several_units > 0


def test_contract_plans(county: list[Resource]) -> None:
    approved = Counter()
    types = Counter()
    for plan in of_type(county, "CarePlan"):
        assert (plan["status"], plan["intent"]) == ("active", "plan")
        codings = [(c["system"], c["code"]) for cat in plan["category"] for c in cat["coding"]]
        assert codings[0] == CONTRACT
        assert codings[1][0] == CANONICALS.plan_type
        assert codings[1][1] in PLAN_TYPES
        types[codings[1][1]] += 1
        (flag,) = [e for e in plan["extension"] if e["url"] == CANONICALS.approved_for_patient]
        approved[flag["valueBoolean"]] += 1
        assert plan["careTeam"]
        assert plan["goal"]
        assert plan["addresses"]
        assert plan["subject"]["reference"].startswith("Patient/")
    assert approved[True] > approved[False] > 0
    assert len(types) >= 3


def activity_performers(activity: Resource, by_key: dict[str, Resource]) -> list[str]:
    if "detail" in activity:
        assert "reference" not in activity  # R4 cpl-3
        return [p["reference"] for p in activity["detail"]["performer"]]
    target = by_key[activity["reference"]["reference"]]
    assert target["resourceType"] == "Appointment"
    return [
        p["actor"]["reference"]
        for p in target["participant"]
        if not p["actor"]["reference"].startswith("Patient/")
    ]


def test_every_activity_names_its_performer(
    county: list[Resource], by_key: dict[str, Resource]
) -> None:
    kinds: Counter[str] = Counter()
    for plan in of_type(county, "CarePlan"):
        plan_kinds = set()
        for activity in plan["activity"]:
            performers = activity_performers(activity, by_key)
            assert performers, plan["id"]
            for performer in performers:
                kind = performer.split("/")[0]
                if performer == plan["subject"]["reference"]:
                    kind = "the patient"
                plan_kinds.add(kind)
                kinds[kind] += 1
            if "reference" in activity:
                kinds["Appointment"] += 1
        assert "PractitionerRole" in plan_kinds
        assert "the patient" in plan_kinds  # self-care or health promotion
    assert set(kinds) == {"PractitionerRole", "Organization", "the patient", "Appointment"}
    municipal = {
        p["reference"]
        for plan in of_type(county, "CarePlan")
        for a in plan["activity"]
        for p in a.get("detail", {}).get("performer", [])
        if p["reference"].startswith("Organization/")
    }
    assert municipal <= {"Organization/demo-org-hemtjanst", "Organization/demo-org-socialtjanst"}
    assert len(municipal) == 2


def test_appointments_agreed_and_proposed(county: list[Resource]) -> None:
    statuses: Counter[str] = Counter()
    upcoming_per_patient: Counter[str] = Counter()
    for appointment in of_type(county, "Appointment"):
        start, end = instant(appointment["start"]), instant(appointment["end"])
        assert appointment["start"].endswith("+00:00")
        assert start.utcoffset() == dt.timedelta(0)
        assert start < end
        assert appointment["patientInstruction"]
        (patient,) = [
            p for p in appointment["participant"] if p["actor"]["reference"].startswith("Patient/")
        ]
        status = appointment["status"]
        statuses[status] += 1
        if status == "booked":
            assert patient["status"] == "accepted"
            assert start > NOW
            upcoming_per_patient[patient["actor"]["reference"]] += 1
        elif status == "fulfilled":
            assert patient["status"] == "accepted"
            assert start < NOW
        else:
            assert status == "proposed"
            assert patient["status"] == "needs-action"
            assert start > NOW
    assert set(statuses) == {"booked", "fulfilled", "proposed"}
    assert len(upcoming_per_patient) == PATIENTS  # everyone has an agreed, upcoming time


def test_goals_include_the_patients_own(county: list[Resource]) -> None:
    own = [g for g in of_type(county, "Goal") if g["expressedBy"] == g["subject"]]
    assert PATIENTS // 2 < len(own) <= PATIENTS
    assert all(g["category"][0]["text"] == "Det här är viktigt för mig" for g in own)


def test_mental_health_patients_have_icd10se_diagnoses(county: list[Resource]) -> None:
    codes = [c["code"]["coding"][0] for c in of_type(county, "Condition")]
    assert all(c["system"] == ICD10SE for c in codes)
    mental = {c["code"] for c in codes if c["code"].startswith("F")}
    assert {"F32", "F41"} <= {code[:3] for code in mental}


def test_every_resource_validates(county: list[Resource]) -> None:
    for resource in county:
        validate_resource(resource["resourceType"], copy.deepcopy(resource))

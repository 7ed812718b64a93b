"""The search engine's pure parts: FHIRPath expressions of the R4 SearchParameters compiled to
extractors (search/expressions.py), the string normal form (search/strings.py) and date ranges
(search/dates.py).
"""

from __future__ import annotations

import datetime as dt
import json
import re
import unicodedata
from pathlib import Path
from typing import Any

import pytest

from patientkontrakt.fhir.registry import RESOURCE_TYPES
from patientkontrakt.search.dates import parse_range
from patientkontrakt.search.expressions import UnsupportedExpressionError, compile_expression
from patientkontrakt.search.parameters import registry
from patientkontrakt.search.strings import normalise

BUNDLE = Path(__file__).resolve().parents[2] / "fhir_profiles" / "r4" / "search-parameters.json"
UTC = dt.UTC


def _definitions() -> list[dict[str, Any]]:
    bundle = json.loads(BUNDLE.read_text(encoding="utf-8"))
    return [entry["resource"] for entry in bundle["entry"]]


def _expression_cases() -> list[Any]:
    cases = []
    for definition in _definitions():
        expression = definition.get("expression")
        if not expression:
            continue
        for base in definition["base"]:
            bases = RESOURCE_TYPES if base in ("Resource", "DomainResource") else (base,)
            for resource_type in bases:
                cases.append(
                    pytest.param(
                        expression,
                        resource_type,
                        definition["type"],
                        id=f"{definition['code']}-{resource_type}",
                    )
                )
    return cases


# --- every expression compiles -------------------------------------------------------------------


@pytest.mark.parametrize(("expression", "resource_type", "kind"), _expression_cases())
def test_every_expression_compiles_for_every_base(
    expression: str, resource_type: str, kind: str
) -> None:
    extract = compile_expression(expression, resource_type)
    empty = {"resourceType": resource_type}
    if kind == "composite":
        # A composite's expression selects the resource or element its components apply to.
        assert extract(empty) in ([], [empty])
    else:
        # An empty resource has no values, and extraction never fails on one.
        assert extract(empty) in ([], [False])


@pytest.mark.parametrize(("expression", "resource_type", "kind"), _expression_cases())
def test_every_base_has_a_member_of_its_own(expression: str, resource_type: str, kind: str) -> None:
    # A union for several types keeps at least one member rooted at this one (or at Resource).
    roots = rf"(?:^|[|(]\s*|\s){re.escape(resource_type)}\b|(?:Domain)?Resource\."
    assert re.search(roots, expression), expression


def test_the_registry_builds_and_has_each_type() -> None:
    parameters = registry()
    for resource_type in RESOURCE_TYPES:
        codes = {p.code for p in parameters.for_type(resource_type)}
        assert {"_id", "_lastUpdated", "_tag", "_profile", "_security", "_source"} <= codes
    activity_date = parameters.get("CarePlan", "activity-date")
    assert activity_date is not None
    assert activity_date.type == "date"
    patient = parameters.get("CarePlan", "patient")
    assert patient is not None
    assert patient.targets == ("Patient",)
    # composite and special parameters have no index and are not registered
    assert parameters.get("Observation", "code-value-quantity") is None


@pytest.mark.parametrize(
    "expression",
    [
        "Patient.name.first()",
        "Patient.name[0]",
        "Patient.extension('http://example.org').value",
        "Patient.name.where(use = official)",
        "(Patient.name",
        "",
    ],
)
def test_expressions_outside_the_subset_are_refused(expression: str) -> None:
    with pytest.raises(UnsupportedExpressionError):
        compile_expression(expression, "Patient")


# --- extraction on hand-written resources ------------------------------------------------------


def test_choice_type_takes_every_variant() -> None:
    extract = compile_expression("CarePlan.activity.detail.scheduled", "CarePlan")
    timing = {"event": ["2026-11-28T09:00:00+01:00"]}
    period = {"start": "2026-11-01", "end": "2026-12-01"}
    plan = {
        "resourceType": "CarePlan",
        "activity": [
            {"detail": {"status": "scheduled", "scheduledTiming": timing}},
            {"detail": {"status": "scheduled", "scheduledPeriod": period}},
            {"detail": {"status": "scheduled", "scheduledString": "varje morgon"}},
            {"detail": {"status": "scheduled"}},
            {"reference": {"reference": "ServiceRequest/1"}},
        ],
    }
    assert extract(plan) == [timing, period, "varje morgon"]


def test_a_choice_is_not_confused_with_a_longer_element_name() -> None:
    # `Appointment.serviceType` is an element of its own, not a `service[x]` choice.
    extract = compile_expression("Appointment.service", "Appointment")
    assert extract({"resourceType": "Appointment", "serviceType": [{"text": "x"}]}) == []


def test_where_resolve_is_keeps_references_of_that_type() -> None:
    extract = compile_expression("CarePlan.subject.where(resolve() is Patient)", "CarePlan")

    def subject(value: dict[str, Any]) -> list[Any]:
        return extract({"resourceType": "CarePlan", "subject": value})

    assert subject({"reference": "Patient/1"}) == [{"reference": "Patient/1"}]
    assert subject({"reference": "Patient/1/_history/2"}) == [{"reference": "Patient/1/_history/2"}]
    absolute = {"reference": "http://other.example/fhir/Patient/1"}
    assert subject(absolute) == [absolute]
    assert subject({"reference": "Group/1"}) == []
    assert subject({"reference": "Patientx/1"}) == []
    assert subject({"identifier": {"system": "urn:test:patient", "value": "1"}}) == []
    assert subject({"display": "Tolvan Tolvansson"}) == []


def test_where_resolve_is_on_a_repeating_element() -> None:
    extract = compile_expression(
        "Appointment.participant.actor.where(resolve() is Patient)", "Appointment"
    )
    appointment = {
        "resourceType": "Appointment",
        "participant": [
            {"actor": {"reference": "Practitioner/7"}},
            {"actor": {"reference": "Patient/7"}},
            {"type": [{"text": "tolk"}]},
            {"actor": {"reference": "Patient/8"}},
        ],
    }
    assert extract(appointment) == [{"reference": "Patient/7"}, {"reference": "Patient/8"}]


def test_where_equals_filters_elements() -> None:
    extract = compile_expression(
        "Patient.telecom.where(system='email') | Person.telecom.where(system='email')", "Patient"
    )
    email = {"system": "email", "value": "tolvan@example.se"}
    patient = {
        "resourceType": "Patient",
        "telecom": [{"system": "phone", "value": "+46701234567"}, email, {"value": "x"}],
    }
    assert extract(patient) == [email]


def test_of_type_picks_one_variant() -> None:
    extract = compile_expression(
        "(Observation.value.ofType(Quantity)) | (Observation.value.ofType(SampledData))",
        "Observation",
    )
    quantity = {"value": 5.4, "unit": "mg"}
    assert extract({"resourceType": "Observation", "valueQuantity": quantity}) == [quantity]
    assert extract({"resourceType": "Observation", "valueString": "5.4 mg"}) == []
    assert extract({"resourceType": "Observation", "valueRange": {"low": quantity}}) == []
    onset = compile_expression(
        "Condition.onset.ofType(dateTime) | Condition.onset.ofType(Period)", "Condition"
    )
    assert onset({"resourceType": "Condition", "onsetDateTime": "2026-11"}) == ["2026-11"]
    assert onset({"resourceType": "Condition", "onsetString": "i våras"}) == []
    assert onset({"resourceType": "Condition", "onsetPeriod": {"start": "2026"}}) == [
        {"start": "2026"}
    ]
    start = compile_expression("(Goal.start.ofType(date))", "Goal")
    assert start({"resourceType": "Goal", "startDate": "2026-12-01"}) == ["2026-12-01"]
    assert start({"resourceType": "Goal", "startCodeableConcept": {"text": "x"}}) == []


def test_of_type_in_a_nested_path() -> None:
    extract = compile_expression("(Observation.component.value.ofType(Quantity))", "Observation")
    observation = {
        "resourceType": "Observation",
        "valueQuantity": {"value": 1},
        "component": [
            {"code": {"text": "sys"}, "valueQuantity": {"value": 120}},
            {"code": {"text": "note"}, "valueString": "x"},
            {"code": {"text": "dia"}, "valueQuantity": {"value": 80}},
        ],
    }
    assert extract(observation) == [{"value": 120}, {"value": 80}]


def test_parenthesised_member_then_a_path() -> None:
    extract = compile_expression(
        "(Observation.value.ofType(string)) | (Observation.value.ofType(CodeableConcept)).text",
        "Observation",
    )
    assert extract({"resourceType": "Observation", "valueString": "positiv"}) == ["positiv"]
    concept = {"coding": [{"code": "10828004"}], "text": "Positiv"}
    assert extract({"resourceType": "Observation", "valueCodeableConcept": concept}) == ["Positiv"]
    assert extract({"resourceType": "Observation", "valueCodeableConcept": {"coding": []}}) == []
    assert extract({"resourceType": "Observation", "valueBoolean": True}) == []


@pytest.mark.parametrize(
    ("fields", "expected"),
    [
        ({"deceasedBoolean": True}, [True]),
        ({"deceasedBoolean": False}, [False]),
        ({"deceasedDateTime": "2026-11-28"}, [True]),
        ({}, [False]),
    ],
)
def test_deceased(fields: dict[str, Any], expected: list[Any]) -> None:
    extract = compile_expression(
        "Patient.deceased.exists() and Patient.deceased != false", "Patient"
    )
    assert extract({"resourceType": "Patient", **fields}) == expected


def test_union_members_of_other_types_are_dropped() -> None:
    extract = compile_expression(
        "Patient.name.family | Practitioner.name.family | Person.name.family", "Patient"
    )
    patient = {
        "resourceType": "Patient",
        "name": [{"family": "Tolvansson"}, {"given": ["Tolvan"]}, {"family": "Ek"}],
    }
    assert extract(patient) == ["Tolvansson", "Ek"]
    both = "Patient.name.family | Practitioner.name.family"
    practitioner = compile_expression(both, "Practitioner")
    assert practitioner({"resourceType": "Practitioner", "name": [{"family": "Berg"}]}) == ["Berg"]


def test_resource_rooted_expressions_apply_to_every_type() -> None:
    tag = {"system": "urn:test:tag", "code": "pilot"}
    for resource_type in ("Patient", "CarePlan", "Task"):
        extract = compile_expression("Resource.meta.tag", resource_type)
        assert extract({"resourceType": resource_type, "meta": {"tag": [tag]}}) == [tag]


def test_arrays_are_flattened_at_every_step() -> None:
    extract = compile_expression("Patient.name.given", "Patient")
    patient = {
        "resourceType": "Patient",
        "name": [{"given": ["Tolvan", "Karl"]}, {"family": "X"}, {"given": ["Åsa"]}],
    }
    assert extract(patient) == ["Tolvan", "Karl", "Åsa"]


# --- strings.normalise -------------------------------------------------------------------------


def nfd(text: str) -> str:
    return unicodedata.normalize("NFD", text)


@pytest.mark.parametrize(
    ("a", "b"),
    [
        ("Tolvan", "TOLVAN"),
        ("Åsa", "åsa"),
        ("Åsa", "ÅSA"),
        ("Åsa", nfd("Åsa")),
        ("Åsa", nfd("ÅSA")),
        ("Östen", "ÖSTEN"),
        ("Östen", nfd("Östen")),
        ("Ärla", nfd("ärla")),
        ("René", "rene"),
        ("Émile", "EMILE"),
        ("Müller", "muller"),
        ("Žižek", "zizek"),
        ("Straße", "strasse"),
        ("Ærø", "Ärö"),
        ("Søren", "Sören"),
    ],
)
def test_normalise_equal(a: str, b: str) -> None:
    assert normalise(a) == normalise(b)


@pytest.mark.parametrize(
    ("a", "b"),
    [
        ("Åsa", "Asa"),
        ("Åke", "Ake"),
        ("Ärla", "Arla"),
        ("Östlund", "Ostlund"),
        ("Åsa", "Äsa"),
        ("Ärla", "Örla"),
    ],
)
def test_normalise_keeps_swedish_letters(a: str, b: str) -> None:
    assert normalise(a) != normalise(b)


def test_a_prefix_of_a_name_normalises_to_a_prefix_of_its_normal_form() -> None:
    # What prefix search relies on: typing the start of a name finds the name.
    for name in ("Åsa", "Östlund", "René", "Tolvansson", "Ærø", "Straße", "ÄRLA"):
        for end in range(1, len(name) + 1):
            assert normalise(name).startswith(normalise(name[:end])), (name, end)


def test_normalise_sorts_in_swedish_order() -> None:
    names = ["Östen", "Åke", "zlatan", "Ärla", "Adam", "Émile", "Oskar", "ÅSA", "Örjan", "Zäta"]
    assert sorted(names, key=normalise) == [
        "Adam",
        "Émile",
        "Oskar",
        "zlatan",
        "Zäta",
        "Åke",
        "ÅSA",
        "Ärla",
        "Örjan",
        "Östen",
    ]


# --- dates.parse_range -------------------------------------------------------------------------


def utc(*parts: int) -> dt.datetime:
    return dt.datetime(*parts, tzinfo=UTC)  # type: ignore[misc]


@pytest.mark.parametrize(
    ("text", "low", "high"),
    [
        # whole periods in Stockholm: UTC+1 in winter, UTC+2 in summer
        ("2026", utc(2025, 12, 31, 23), utc(2026, 12, 31, 23)),
        ("2026-11", utc(2026, 10, 31, 23), utc(2026, 11, 30, 23)),
        ("2026-12", utc(2026, 11, 30, 23), utc(2026, 12, 31, 23)),
        ("2026-07", utc(2026, 6, 30, 22), utc(2026, 7, 31, 22)),
        # March holds the change to summer time, October the change back
        ("2026-03", utc(2026, 2, 28, 23), utc(2026, 3, 31, 22)),
        ("2026-10", utc(2026, 9, 30, 22), utc(2026, 10, 31, 23)),
        ("2026-11-30", utc(2026, 11, 29, 23), utc(2026, 11, 30, 23)),
        ("1912-12-12", utc(1912, 12, 11, 23), utc(1912, 12, 12, 23)),
        # times: the unit of their precision
        ("2026-11-30T23:30:00Z", utc(2026, 11, 30, 23, 30), utc(2026, 11, 30, 23, 30, 1)),
        ("2026-11-30T23:30Z", utc(2026, 11, 30, 23, 30), utc(2026, 11, 30, 23, 31)),
        (
            "2026-12-01T00:30:00+01:00",
            utc(2026, 11, 30, 23, 30),
            utc(2026, 11, 30, 23, 30, 1),
        ),
        ("2026-12-01T05:00:00+05:30", utc(2026, 11, 30, 23, 30), utc(2026, 11, 30, 23, 30, 1)),
        ("2026-11-30T18:30:00-05:00", utc(2026, 11, 30, 23, 30), utc(2026, 11, 30, 23, 30, 1)),
        # no zone: Stockholm
        ("2026-12-01T00:30:00", utc(2026, 11, 30, 23, 30), utc(2026, 11, 30, 23, 30, 1)),
        ("2026-07-01T00:30:00", utc(2026, 6, 30, 22, 30), utc(2026, 6, 30, 22, 30, 1)),
        # fractions of a second
        (
            "2026-11-28T09:15:00.250Z",
            utc(2026, 11, 28, 9, 15, 0, 250000),
            utc(2026, 11, 28, 9, 15, 0, 251000),
        ),
        (
            "2026-11-28T09:15:00.25Z",
            utc(2026, 11, 28, 9, 15, 0, 250000),
            utc(2026, 11, 28, 9, 15, 0, 260000),
        ),
        (
            "2026-11-28T09:15:00.123456789Z",
            utc(2026, 11, 28, 9, 15, 0, 123456),
            utc(2026, 11, 28, 9, 15, 0, 123457),
        ),
    ],
)
def test_parse_range(text: str, low: dt.datetime, high: dt.datetime) -> None:
    assert parse_range(text) == (low, high)


@pytest.mark.parametrize(
    ("day", "hours"),
    [
        ("2026-03-28", 24),
        ("2026-03-29", 23),  # clocks go forward at 02:00
        ("2026-03-30", 24),
        ("2026-10-24", 24),
        ("2026-10-25", 25),  # clocks go back at 03:00
        ("2026-10-26", 24),
        ("2027-03-28", 23),
        ("2027-10-31", 25),
    ],
)
def test_a_stockholm_day_follows_summer_time(day: str, hours: int) -> None:
    low, high = parse_range(day)
    assert high - low == dt.timedelta(hours=hours)
    assert low.utcoffset() == dt.timedelta(0)


def test_consecutive_ranges_meet() -> None:
    # Each day ends where the next begins, across both changes of summer time.
    day = dt.date(2026, 1, 1)
    while day.year == 2026:
        following = day + dt.timedelta(days=1)
        assert parse_range(day.isoformat())[1] == parse_range(following.isoformat())[0]
        day = following
    assert parse_range("2026-12")[1] == parse_range("2027")[0]
    assert parse_range("2026-02")[1] == parse_range("2026-03-01")[0]


@pytest.mark.parametrize(
    "text",
    [
        "",
        "xx",
        "2026-13",
        "2026-00",
        "2026-02-29",
        "2026-11-31",
        "2026-1",
        "20261",
        "2026-11-30T24:00:00Z",
        "2026-11-30T23:60:00Z",
        "2026-11-30T23:30:60Z",
        "2026-11-30T23:30:00+25:00",
        "2026-11-30T23",
        "2026-11-30 23:30:00",
        "2026-11-30T23:30:00z",
        "2026-11-30T23:30:00.Z",
        "２０２６",
    ],
)
def test_parse_range_refuses_what_is_no_date(text: str) -> None:
    with pytest.raises(ValueError, match=r"."):
        parse_range(text)


@pytest.mark.parametrize("text", ["0001", "0001-01-01", "9999", "9999-12", "9999-12-31"])
def test_parse_range_at_the_ends_of_time(text: str) -> None:
    # Valid FHIR dates: never an error (9999-12 and 9999-12-31 used to overflow).
    low, high = parse_range(text)
    assert low.utcoffset() == dt.timedelta(0)
    assert high.utcoffset() == dt.timedelta(0)


def test_leap_day() -> None:
    low, high = parse_range("2028-02-29")
    assert (low, high) == (utc(2028, 2, 28, 23), utc(2028, 2, 29, 23))

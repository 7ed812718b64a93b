"""validation/base.py: base-model validation plus FHIR JSON's own rules (json.html)."""

from __future__ import annotations

import copy
from typing import Any

import pytest

from patientkontrakt.outcomes import FhirError
from patientkontrakt.validation.base import validate_resource

PERSONNUMMER = "http://electronichealth.se/identifier/personnummer"

TOLVAN: dict[str, Any] = {
    "resourceType": "Patient",
    "identifier": [{"system": PERSONNUMMER, "value": "191212121212"}],
    "active": True,
    "name": [{"family": "Tolvansson", "given": ["Tolvan"]}],
    "gender": "male",
    "birthDate": "1912-12-12",
    "address": [{"city": "Göteborg", "country": "SE"}],
}

CARE_PLAN: dict[str, Any] = {
    "resourceType": "CarePlan",
    "status": "active",
    "intent": "plan",
    "title": "Sammanhållen planering",
    "subject": {"reference": "Patient/tolvan"},
    "period": {"start": "2026-11-28T09:15:00+01:00"},
    "activity": [
        {
            "detail": {
                "kind": "Appointment",
                "status": "scheduled",
                "description": "Återbesök hos fast läkarkontakt",
                "performer": [{"reference": "PractitionerRole/fast-lakarkontakt"}],
            }
        },
        {
            "detail": {
                "status": "in-progress",
                "description": "Promenad 30 minuter om dagen",
                "performer": [{"reference": "Patient/tolvan"}],
            }
        },
    ],
}


def patient(**changes: Any) -> dict[str, Any]:
    body = copy.deepcopy(TOLVAN)
    body.update(changes)
    return body


def rejected(resource_type: str, body: dict[str, Any]) -> FhirError:
    with pytest.raises(FhirError) as caught:
        validate_resource(resource_type, body)
    assert caught.value.status == 422
    return caught.value


def expressions(exc: FhirError) -> list[tuple[str, ...]]:
    return [issue.expression for issue in exc.issues]


@pytest.mark.parametrize(
    ("resource_type", "body"),
    [
        ("Patient", TOLVAN),
        ("Patient", {"resourceType": "Patient"}),
        ("Patient", patient(birthDate="1912")),
        ("Patient", patient(birthDate="1912-12")),
        ("Patient", patient(deceasedDateTime="2026-11-28T09:15:00Z")),
        ("Patient", patient(multipleBirthInteger=2)),
        ("Patient", patient(meta={"versionId": "3", "lastUpdated": "2026-11-28T08:15:00.000Z"})),
        (
            "Patient",
            # A null holds the place of a primitive with only an extension (json.html#primitive).
            patient(
                name=[
                    {
                        "family": "Tolvansson",
                        "given": ["Tolvan", None],
                        "_given": [None, {"extension": [{"url": "urn:x", "valueString": "y"}]}],
                    }
                ]
            ),
        ),
        (
            "Patient",
            patient(
                contained=[{"resourceType": "Organization", "id": "vc", "name": "Vårdcentralen"}],
                managingOrganization={"reference": "#vc"},
            ),
        ),
        ("CarePlan", CARE_PLAN),
    ],
)
def test_valid_resources_pass(resource_type: str, body: dict[str, Any]) -> None:
    given = copy.deepcopy(body)
    validate_resource(resource_type, given)
    assert given == body  # validation never changes the client's JSON


@pytest.mark.parametrize(
    ("changes", "expression", "code"),
    [
        ({"active": "true"}, "Patient.active", "value"),
        ({"active": 1}, "Patient.active", "value"),
        ({"multipleBirthInteger": "2"}, "Patient.multipleBirthInteger", "value"),
        ({"gender": ""}, "Patient.gender", "value"),
        ({"gender": "   "}, "Patient.gender", "value"),
        ({"name": []}, "Patient.name", "value"),
        ({"maritalStatus": {}}, "Patient.maritalStatus", "value"),
        ({"birthDate": None}, "Patient.birthDate", "value"),
        ({"birthDate": "1912-13-12"}, "Patient.birthDate", "value"),
        ({"birthDate": "1912-02-30"}, "Patient.birthDate", "value"),
        ({"birthDate": "12/12/1912"}, "Patient.birthDate", "value"),
        ({"deceasedDateTime": "2026-11-28T09:15:00"}, "Patient.deceasedDateTime", "value"),
        ({"favouriteColour": "blue"}, "Patient.favouriteColour", "structure"),
        ({"id": "not valid"}, "Patient.id", "value"),
    ],
)
def test_invalid_element_is_a_422_naming_it(
    changes: dict[str, Any], expression: str, code: str
) -> None:
    exc = rejected("Patient", patient(**changes))
    assert expressions(exc) == [(expression,)]
    assert exc.issues[0].code == code
    assert exc.issues[0].severity == "error"
    assert exc.issues[0].diagnostics.startswith(expression + ":")


def test_nested_paths_use_fhirpath_indexes() -> None:
    exc = rejected("Patient", patient(name=[{"family": "Tolvansson", "given": [""]}]))
    assert expressions(exc) == [("Patient.name[0].given[0]",)]

    exc = rejected(
        "Patient", patient(identifier=[{"system": PERSONNUMMER, "value": "191212121212", "x": 1}])
    )
    assert expressions(exc) == [("Patient.identifier[0].x",)]
    assert exc.issues[0].code == "structure"


def test_contained_resources_are_checked_too() -> None:
    body = patient(contained=[{"resourceType": "Organization", "id": "vc", "active": "true"}])
    exc = rejected("Patient", body)
    assert expressions(exc) == [("Patient.contained[0].active",)]


def test_every_json_rule_problem_is_reported() -> None:
    exc = rejected("Patient", patient(gender="", name=[], birthDate=None))
    assert sorted(expressions(exc)) == [
        ("Patient.birthDate",),
        ("Patient.gender",),
        ("Patient.name",),
    ]


def test_missing_required_element_is_a_required_issue() -> None:
    body = {key: value for key, value in CARE_PLAN.items() if key != "status"}
    exc = rejected("CarePlan", body)
    assert expressions(exc) == [("CarePlan.status",)]
    assert exc.issues[0].code == "required"


def test_string_where_boolean_in_a_care_plan() -> None:
    body = copy.deepcopy(CARE_PLAN)
    body["activity"][1]["detail"]["doNotPerform"] = "false"
    exc = rejected("CarePlan", body)
    assert expressions(exc) == [("CarePlan.activity[1].detail.doNotPerform",)]


@pytest.mark.parametrize(
    ("body", "expression"),
    [
        ({"resourceType": "Patient", "gender": "robot"}, "Patient.gender"),
        ({"resourceType": "CareTeam", "status": "not-a-status"}, "CareTeam.status"),
        (
            {"resourceType": "Patient", "telecom": [{"system": "pigeon", "value": "1"}]},
            "Patient.telecom[0].system",
        ),
    ],
)
def test_codes_outside_a_required_value_set_are_refused(
    body: dict[str, Any], expression: str
) -> None:
    with pytest.raises(FhirError) as raised:
        validate_resource(body["resourceType"], body)
    assert raised.value.status == 422
    issue = raised.value.issues[0]
    assert issue.code == "code-invalid"
    assert issue.expression == (expression,)


def test_codes_of_a_required_value_set_pass() -> None:
    # administrative-gender and care-team-status (R4, binding strength required).
    validate_resource("Patient", {"resourceType": "Patient", "gender": "unknown"})
    validate_resource("CareTeam", {"resourceType": "CareTeam", "status": "proposed"})


def test_codes_of_a_hierarchical_code_system_are_not_cut_short() -> None:
    # observation-status: the models list "registered ... amended, +"; the official R4 example
    # Observation/f202 is entered-in-error, a code after the cut.
    observation = {
        "resourceType": "Observation",
        "status": "entered-in-error",
        "code": {"text": "Body temperature"},
    }
    validate_resource("Observation", observation)

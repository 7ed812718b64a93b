"""validation/identifiers.py: Swedish identifiers checked on every write.

Only the test personnummer 191212121212 (Tolvan Tolvansson) and numbers made here with a check
digit computed by this module's own Luhn are used; never a real person's number.
"""

from __future__ import annotations

import copy
from typing import Any

import pytest

from patientkontrakt.outcomes import FhirError
from patientkontrakt.validation.base import validate_resource
from patientkontrakt.validation.identifiers import (
    hsa_id_problem,
    identifier_issues,
    organisationsnummer_problem,
    personnummer_problem,
)

PERSONNUMMER = "http://electronichealth.se/identifier/personnummer"
PERSONNUMMER_RIVTA = "urn:oid:1.2.752.129.2.1.3.1"
SAMORDNINGSNUMMER = "http://electronichealth.se/identifier/samordningsnummer"
HSA = "urn:oid:1.2.752.29.4.19"
HSA_RIVTA = "urn:oid:1.2.752.129.2.1.4.1"
ORGNR = "urn:oid:2.5.4.97"
TOLVAN = "191212121212"


def luhn_valid(digits: str) -> bool:
    """The Luhn test as usually written: double every second digit from the right."""
    total = 0
    for position, char in enumerate(reversed(digits)):
        value = int(char) * (2 if position % 2 else 1)
        total += value - 9 if value > 9 else value
    return total % 10 == 0


def with_check_digit(body: str) -> str:
    """`body` (YYYYMMDDNNN or a 9-digit organisation prefix) with a correct last digit."""
    tail = body[2:] if len(body) == 11 else body
    digit = next(d for d in "0123456789" if luhn_valid(tail + d))
    return body + digit


def with_wrong_check_digit(body: str) -> str:
    right = with_check_digit(body)
    return right[:-1] + str((int(right[-1]) + 1) % 10)


ORG = with_check_digit("212345678")
"""A made-up organisationsnummer with a valid check digit (group 2: public bodies)."""


def test_the_test_helpers_agree_with_the_well_known_test_number() -> None:
    assert luhn_valid(TOLVAN[2:])
    assert with_check_digit(TOLVAN[:11]) == TOLVAN
    assert not luhn_valid(with_wrong_check_digit(TOLVAN[:11])[2:])


# --- personnummer -----------------------------------------------------------------------------


@pytest.mark.parametrize(
    "value",
    [
        TOLVAN,
        with_check_digit("20000229123"),  # leap day of a year divisible by 400
        with_check_digit("20240229456"),  # leap day of an ordinary leap year
        with_check_digit("19991231987"),
        with_check_digit("20240101001"),
    ],
)
def test_valid_personnummer(value: str) -> None:
    assert personnummer_problem(value) is None


@pytest.mark.parametrize(
    ("value", "english"),
    [
        (with_wrong_check_digit(TOLVAN[:11]), "check digit does not match"),
        (with_wrong_check_digit("20240229456"), "check digit does not match"),
        (with_check_digit("19000229123"), "not a real calendar date"),  # 1900 was no leap year
        (with_check_digit("20230229123"), "not a real calendar date"),
        (with_check_digit("20240230123"), "not a real calendar date"),
        (with_check_digit("20241301123"), "not a real calendar date"),
        (with_check_digit("20240100123"), "not a real calendar date"),
        (with_check_digit("20240431123"), "not a real calendar date"),
        ("19121212-1212", "12 digits"),
        ("1212121212", "12 digits"),
        ("1912121212120", "12 digits"),
        ("19121212121X", "12 digits"),
        (" 191212121212", "12 digits"),
        ("١٩١٢١٢١٢١٢١٢", "12 digits"),  # Arabic-Indic digits are digits to str.isdigit
    ],
)
def test_invalid_personnummer(value: str, english: str) -> None:
    problem = personnummer_problem(value)
    assert problem is not None
    assert english in problem.english


def test_a_samordningsnummer_is_not_a_personnummer() -> None:
    assert personnummer_problem(with_check_digit("19121272123")) is not None


# --- samordningsnummer ------------------------------------------------------------------------


@pytest.mark.parametrize(
    "body",
    [
        "19121272123",  # the 12th + 60
        "20240161001",  # the 1st + 60: the lowest day
        "20240191001",  # the 31st + 60: the highest day
        "20000289123",  # 29 February 2000 + 60
        "20240289123",  # 29 February 2024 + 60
    ],
)
def test_valid_samordningsnummer(body: str) -> None:
    assert personnummer_problem(with_check_digit(body), day_offset=60) is None


@pytest.mark.parametrize(
    ("value", "english"),
    [
        (with_check_digit("20240160001"), "birth day plus 60"),  # day 0 + 60
        (TOLVAN, "birth day plus 60"),  # a personnummer is not a samordningsnummer
        (with_check_digit("20240192001"), "not a real calendar date"),  # the 32nd
        (with_check_digit("19000289123"), "not a real calendar date"),  # 29 Feb 1900
        (with_check_digit("20230289123"), "not a real calendar date"),
        (with_check_digit("20240491001"), "not a real calendar date"),  # 31 April
        (with_wrong_check_digit("19121272123"), "check digit does not match"),
        ("19121272-1230", "12 digits"),
    ],
)
def test_invalid_samordningsnummer(value: str, english: str) -> None:
    problem = personnummer_problem(value, day_offset=60)
    assert problem is not None
    assert english in problem.english


# --- organisationsnummer and HSA-id -----------------------------------------------------------


@pytest.mark.parametrize("value", [ORG, with_check_digit("556677889"), "0000000000"])
def test_valid_organisationsnummer(value: str) -> None:
    assert organisationsnummer_problem(value) is None


@pytest.mark.parametrize(
    ("value", "english"),
    [
        (with_wrong_check_digit("212345678"), "check digit does not match"),
        (f"{ORG[:6]}-{ORG[6:]}", "10 digits"),
        (ORG[:9], "10 digits"),
        (f"16{ORG}", "10 digits"),
        (f"SE{ORG}", "10 digits"),
    ],
)
def test_invalid_organisationsnummer(value: str, english: str) -> None:
    problem = organisationsnummer_problem(value)
    assert problem is not None
    assert english in problem.english


@pytest.mark.parametrize(
    "value",
    [
        f"SE{ORG}-TEST1",
        f"SE{ORG}-a",
        f"SE16{ORG}-E12345",  # the 12-digit form 16 + organisationsnummer
        "SE0000000000-TEST1",
        f"SE{ORG}-" + "X" * (31 - 13),  # exactly 31 characters
    ],
)
def test_valid_hsa_id(value: str) -> None:
    assert hsa_id_problem(value) is None


@pytest.mark.parametrize(
    ("value", "english"),
    [
        (f"SE{ORG}", "a hyphen and at least one"),
        (f"SE{ORG}-", "a hyphen and at least one"),
        (f"se{ORG}-TEST1", "must be SE"),
        (f"{ORG}-TEST1", "must be SE"),
        (f"SE{ORG[:9]}-TEST1", "must be SE"),
        (f"SE{ORG}-TESTÅ", "A-Z, a-z, 0-9"),
        (f"SE{ORG}-test@1", "A-Z, a-z, 0-9"),
        (f"SE{ORG}-TEST 1", "A-Z, a-z, 0-9"),
        (f"SE{ORG}-" + "X" * (32 - 13), "at most 31 characters"),
        (f"SE{with_wrong_check_digit('212345678')}-TEST1", "wrong check digit"),
    ],
)
def test_invalid_hsa_id(value: str, english: str) -> None:
    problem = hsa_id_problem(value)
    assert problem is not None
    assert english in problem.english


# --- identifiers inside resources -------------------------------------------------------------


def patient(*identifiers: dict[str, Any], **changes: Any) -> dict[str, Any]:
    body: dict[str, Any] = {"resourceType": "Patient", "name": [{"family": "Tolvansson"}]}
    if identifiers:
        body["identifier"] = list(identifiers)
    body.update(changes)
    return body


def rejected(resource_type: str, body: dict[str, Any]) -> FhirError:
    with pytest.raises(FhirError) as caught:
        validate_resource(resource_type, body)
    assert caught.value.status == 422
    return caught.value


def test_valid_identifiers_pass_validation_unchanged() -> None:
    body = patient(
        {"system": PERSONNUMMER, "value": TOLVAN},
        {"system": SAMORDNINGSNUMMER, "value": with_check_digit("19121272123")},
        {"system": "urn:example:local", "value": "anything at all"},
        managingOrganization={"identifier": {"system": HSA, "value": f"SE{ORG}-VC1"}},
    )
    given = copy.deepcopy(body)
    validate_resource("Patient", given)
    assert given == body


def test_a_wrong_check_digit_is_a_422_naming_the_element_but_not_the_number() -> None:
    wrong = with_wrong_check_digit(TOLVAN[:11])
    exc = rejected("Patient", patient({"system": PERSONNUMMER, "value": wrong}))
    assert [i.expression for i in exc.issues] == [("Patient.identifier[0].value",)]
    issue = exc.issues[0]
    assert (issue.code, issue.severity) == ("value", "error")
    assert issue.diagnostics == (
        "Patient.identifier[0].value: Ogiltigt personnummer: kontrollsiffran stämmer inte / "
        "invalid personnummer: check digit does not match"
    )
    assert wrong not in str(exc)
    assert wrong[:8] not in str(exc)


def test_one_issue_per_bad_identifier_wherever_it_is() -> None:
    body = patient(
        {"system": PERSONNUMMER, "value": TOLVAN},
        {"system": PERSONNUMMER_RIVTA, "value": "19121212-1212"},
        {"system": SAMORDNINGSNUMMER, "value": TOLVAN},
        generalPractitioner=[
            {"identifier": {"system": HSA_RIVTA, "value": "SE123-X"}},
            {"identifier": {"system": HSA, "value": f"SE{ORG}-OK1"}},
        ],
        contained=[
            {
                "resourceType": "Organization",
                "id": "vc",
                "identifier": [{"system": ORGNR, "value": with_wrong_check_digit("212345678")}],
            }
        ],
        managingOrganization={"reference": "#vc"},
    )
    exc = rejected("Patient", body)
    assert sorted(i.expression[0] for i in exc.issues) == [
        "Patient.contained[0].identifier[0].value",
        "Patient.generalPractitioner[0].identifier.value",
        "Patient.identifier[1].value",
        "Patient.identifier[2].value",
    ]
    kinds = {i.expression[0]: i.diagnostics for i in exc.issues}
    assert "Ogiltigt organisationsnummer" in kinds["Patient.contained[0].identifier[0].value"]
    assert "invalid HSA-id" in kinds["Patient.generalPractitioner[0].identifier.value"]
    assert "Ogiltigt samordningsnummer" in kinds["Patient.identifier[2].value"]
    assert "invalid personnummer: must be 12 digits" in kinds["Patient.identifier[1].value"]


def test_identifiers_of_any_resource_type_are_checked() -> None:
    body = {
        "resourceType": "CarePlan",
        "status": "active",
        "intent": "plan",
        "subject": {"identifier": {"system": PERSONNUMMER, "value": "191212121213"}},
    }
    exc = rejected("CarePlan", body)
    assert [i.expression for i in exc.issues] == [("CarePlan.subject.identifier.value",)]


def test_other_systems_and_values_without_a_string_are_not_checked() -> None:
    body = patient(
        {"system": "urn:example:personnummer", "value": "not a number"},
        {"system": PERSONNUMMER},
        {"value": "191212121213"},
    )
    assert identifier_issues("Patient", body) == []
    validate_resource("Patient", body)


def test_base_validation_comes_first() -> None:
    # A personnummer sent as a JSON number is a kind error; the identifier rules never see it.
    exc = rejected("Patient", patient({"system": PERSONNUMMER, "value": 191212121213}))
    assert [i.expression for i in exc.issues] == [("Patient.identifier[0].value",)]
    assert "Ogiltigt" not in exc.issues[0].diagnostics

"""Checks of Swedish identifiers: personnummer, samordningsnummer, HSA-id, organisationsnummer.

Every `identifier` element of a resource (`Patient.identifier`, `Reference.identifier`, those of
contained resources, ...) whose `system` is one of the systems below has its `value` checked.
Messages name the element and the rule, never the number: an identifier is personal data.

The rules:

- **personnummer** (`http://electronichealth.se/identifier/personnummer`, RIV-TA
  `urn:oid:1.2.752.129.2.1.3.1`): 12 digits `YYYYMMDDNNNC` without separator; `YYYYMMDD` a real
  calendar date; `C` the Luhn check digit of the nine digits `YYMMDDNNN` (Skatteverket, SKV 704).
- **samordningsnummer** (`.../samordningsnummer`, RIV-TA `urn:oid:1.2.752.129.2.1.3.3`): as a
  personnummer, with 60 added to the day (`DD` is 61-91); the date with 60 taken off is real.
- **organisationsnummer** (`urn:oid:2.5.4.97`): 10 digits, the last the Luhn check digit over
  the first nine (SKV 709).
- **HSA-id** (`urn:oid:1.2.752.29.4.19`, RIV-TA `urn:oid:1.2.752.129.2.1.4.1`): Inera's HSA
  catalogue builds an HSA-id as `SE` + the organisationsnummer of the catalogue owner (10 digits,
  no hyphen; Inera's own validator also takes the 12-digit form `16` + 10 digits) + `-` + at
  least one of `A-Z a-z 0-9` (å, ä, ö and `@` are not allowed), at most 31 characters in all;
  the organisationsnummer inside carries a valid Luhn check digit.
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

from patientkontrakt.contract.vocabulary import (
    HSA_ID,
    HSA_ID_RIVTA,
    ORGANISATIONSNUMMER,
    PERSONNUMMER,
    SAMORDNINGSNUMMER,
)
from patientkontrakt.outcomes import Issue

PERSONNUMMER_RIVTA = "urn:oid:1.2.752.129.2.1.3.1"
SAMORDNINGSNUMMER_RIVTA = "urn:oid:1.2.752.129.2.1.3.3"

_DIGITS_12 = re.compile(r"[0-9]{12}")
_DIGITS_10 = re.compile(r"[0-9]{10}")
_HSA_ID = re.compile(r"SE(?:16)?([0-9]{10})-[A-Za-z0-9]+")
HSA_ID_MAX_LENGTH = 31


@dataclass(frozen=True)
class Problem:
    """Why a value is not a valid identifier, in Swedish and English."""

    swedish: str
    english: str


_CHECK_DIGIT = Problem("kontrollsiffran stämmer inte", "check digit does not match")


def luhn_check_digit(digits: str) -> int:
    """The Luhn (modulus 10) check digit for `digits`, weights 2, 1, 2, ... from the left.

    This is how Skatteverket computes the last digit of a personnummer over its nine digits
    `YYMMDDNNN`, and of an organisationsnummer over its first nine.
    """
    total = 0
    for index, char in enumerate(digits):
        product = int(char) * (2 if index % 2 == 0 else 1)
        total += product // 10 + product % 10
    return (10 - total % 10) % 10


def _luhn_ok(ten_digits: str) -> bool:
    return luhn_check_digit(ten_digits[:9]) == int(ten_digits[9])


def _real_date(year: int, month: int, day: int) -> bool:
    try:
        dt.date(year, month, day)
    except ValueError:
        return False
    return True


def personnummer_problem(value: str, *, day_offset: int = 0) -> Problem | None:
    """Why `value` is not a personnummer (`day_offset=60`: a samordningsnummer), or None."""
    if not _DIGITS_12.fullmatch(value):
        return Problem(
            "ska vara 12 siffror ÅÅÅÅMMDDNNNK utan bindestreck",
            "must be 12 digits YYYYMMDDNNNC without a hyphen",
        )
    year, month, day = int(value[:4]), int(value[4:6]), int(value[6:8])
    if day_offset and day <= day_offset:
        return Problem(
            "dagen ska vara födelsedagen plus 60 (61-91)", "the day must be the birth day plus 60"
        )
    if not _real_date(year, month, day - day_offset):
        return Problem("datumet finns inte i kalendern", "the date is not a real calendar date")
    if not _luhn_ok(value[2:]):
        return _CHECK_DIGIT
    return None


def organisationsnummer_problem(value: str) -> Problem | None:
    """Why `value` is not an organisationsnummer (10 digits, Luhn), or None."""
    if not _DIGITS_10.fullmatch(value):
        return Problem("ska vara 10 siffror utan bindestreck", "must be 10 digits without a hyphen")
    return None if _luhn_ok(value) else _CHECK_DIGIT


def hsa_id_problem(value: str) -> Problem | None:
    """Why `value` is not an HSA-id (see the module docstring for the rule), or None."""
    match = _HSA_ID.fullmatch(value)
    if match is None:
        return Problem(
            "ska vara SE, organisationsnummer (10 siffror), bindestreck och minst ett tecken "
            "A-Z, a-z eller 0-9",
            "must be SE, an organisationsnummer (10 digits), a hyphen and at least one of "
            "A-Z, a-z, 0-9",
        )
    if len(value) > HSA_ID_MAX_LENGTH:
        return Problem(
            f"får vara högst {HSA_ID_MAX_LENGTH} tecken",
            f"must be at most {HSA_ID_MAX_LENGTH} characters",
        )
    if not _luhn_ok(match.group(1)):
        return Problem(
            "organisationsnumret i HSA-id:t har fel kontrollsiffra",
            "the organisationsnummer inside has a wrong check digit",
        )
    return None


def _samordningsnummer_problem(value: str) -> Problem | None:
    return personnummer_problem(value, day_offset=60)


_RULES = {
    PERSONNUMMER: ("personnummer", personnummer_problem),
    PERSONNUMMER_RIVTA: ("personnummer", personnummer_problem),
    SAMORDNINGSNUMMER: ("samordningsnummer", _samordningsnummer_problem),
    SAMORDNINGSNUMMER_RIVTA: ("samordningsnummer", _samordningsnummer_problem),
    ORGANISATIONSNUMMER: ("organisationsnummer", organisationsnummer_problem),
    HSA_ID: ("HSA-id", hsa_id_problem),
    HSA_ID_RIVTA: ("HSA-id", hsa_id_problem),
}
CHECKED_SYSTEMS = frozenset(_RULES)
"""The identifier systems whose values are checked."""


def identifier_issues(resource_type: str, body: dict[str, Any]) -> list[Issue]:
    """One issue per identifier in `body` with a checked system and an invalid value."""
    issues: list[Issue] = []
    for path, identifier in _identifiers(body, resource_type):
        system = identifier.get("system")
        rule = _RULES.get(system) if isinstance(system, str) else None
        value = identifier.get("value")
        if rule is None or not isinstance(value, str):
            continue
        name, check = rule
        problem = check(value)
        if problem is not None:
            where = f"{path}.value"
            issues.append(
                Issue(
                    "value",
                    f"{where}: Ogiltigt {name}: {problem.swedish} / "
                    f"invalid {name}: {problem.english}",
                    expression=(where,),
                )
            )
    return issues


def _identifiers(value: Any, path: str) -> Iterator[tuple[str, dict[str, Any]]]:
    """Every Identifier object under `value` (the JSON of a resource), with its location."""
    if isinstance(value, dict):
        for key, item in value.items():
            child = f"{path}.{key}"
            if key == "identifier":
                if isinstance(item, dict):
                    yield child, item
                elif isinstance(item, list):
                    for index, entry in enumerate(item):
                        if isinstance(entry, dict):
                            yield f"{child}[{index}]", entry
            if isinstance(item, dict | list):
                yield from _identifiers(item, child)
    elif isinstance(value, list):
        for index, item in enumerate(value):
            if isinstance(item, dict | list):
                yield from _identifiers(item, f"{path}[{index}]")

"""Small readers of FHIR JSON shared by the contract's write rules: references, codings,
periods, and the 422 a broken rule gives.

The rules read plain dicts (the validated body of a write, or stored JSON), never models.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from typing import Any

from patientkontrakt.contract.vocabulary import CATEGORY_PATIENTKONTRAKT, Canonicals
from patientkontrakt.outcomes import FhirError, Issue
from patientkontrakt.search.dates import MAX_INSTANT, MIN_INSTANT, parse_range
from patientkontrakt.search.references import reference_key

Interval = tuple[dt.datetime, dt.datetime]
"""A half-open UTC interval [low, high)."""


def broken(diagnostics: str, expression: str) -> Issue:
    """One broken domain rule (IssueType `business-rule`) at the element `expression`."""
    return Issue("business-rule", diagnostics, expression=(expression,))


def refuse(issues: list[Issue]) -> None:
    """Raise 422 with every broken rule at once, if there is any."""
    if issues:
        raise FhirError(422, issues)


def items(value: Any) -> Iterator[tuple[int, dict[str, Any]]]:
    """(index, element) of each object in a FHIR array; anything else is skipped."""
    if isinstance(value, list):
        for index, element in enumerate(value):
            if isinstance(element, dict):
                yield index, element


def reference_type(value: Any) -> str | None:
    """The type a Reference points to: from `reference`, else from `type` (logical ones)."""
    key = reference_key(value)
    if key is not None:
        return key[0]
    if isinstance(value, dict) and isinstance(value.get("type"), str):
        return str(value["type"])
    return None


def names_someone(value: Any) -> bool:
    """True for a Reference that identifies its target (a literal reference or an identifier),
    not only a display text."""
    if not isinstance(value, dict):
        return False
    return isinstance(value.get("reference"), str) or isinstance(value.get("identifier"), dict)


def has_coding(concepts: Any, system: str, code: str) -> bool:
    """True when one of the CodeableConcepts `concepts` (an array) holds system|code."""
    for _, concept in items(concepts):
        for _, coding in items(concept.get("coding")):
            if coding.get("system") == system and coding.get("code") == code:
                return True
    return False


def is_contract_plan(plan: dict[str, Any], canonicals: Canonicals) -> bool:
    """The patient's contract CarePlan: category contract-category|patientkontrakt."""
    return has_coding(plan.get("category"), canonicals.contract_category, CATEGORY_PATIENTKONTRAKT)


def subject_patient(content: dict[str, Any]) -> str | None:
    """The id of the Patient that `subject` references, or None."""
    key = reference_key(content.get("subject"))
    return key[1] if key is not None and key[0] == "Patient" else None


def period_interval(period: Any) -> Interval:
    """The interval a Period covers; a missing (or unreadable) start or end is open.

    `end` includes all of its precision, as Period.end does: `2026-12-31` lasts the whole day
    (datatypes.html#Period).
    """
    if not isinstance(period, dict):
        return MIN_INSTANT, MAX_INSTANT
    return _bound(period.get("start"), 0, MIN_INSTANT), _bound(period.get("end"), 1, MAX_INSTANT)


def _bound(value: Any, side: int, default: dt.datetime) -> dt.datetime:
    if not isinstance(value, str):
        return default
    try:
        return parse_range(value)[side]
    except ValueError:
        return default


def overlap(first: Interval, second: Interval) -> bool:
    """True when the two intervals share a moment."""
    return first[0] < second[1] and second[0] < first[1]


def intersect(first: Interval, second: Interval) -> Interval:
    """The common part of two intervals (empty when low >= high)."""
    return max(first[0], second[0]), min(first[1], second[1])

"""The searches on which our server and HAPI FHIR answer differently, and why.

Each entry names the search, what differs (a word that must appear in the difference found, so
that an entry does not hide a new, other difference) and the specification text that decides
it. docs/interop.md lists the same entries.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class KnownDifference:
    """Why the two servers differ on one search, and which part of the answer differs."""

    differs_in: str
    reason: str

    def shows_in(self, found: list[str]) -> bool:
        """True if the differences found are (only) in the part this entry names."""
        return all(line.startswith(f"{self.differs_in}:") for line in found)


SEARCH = "http://hl7.org/fhir/R4/search.html"
_GE_ON_DATES = KnownDifference(
    "matches",
    f"{SEARCH}#prefix, ge: 'the range above the search value intersects (i.e. "
    "overlaps) with the range of the target value, or the range of the search value fully "
    "contains the range of the target value'. A day inside the searched year or month is fully "
    "contained, so it matches; HAPI FHIR 8.8.0 leaves out date-only values (Goal.startDate, "
    "Condition.onsetDateTime written as a date) that lie inside the searched range.",
)
KNOWN_DIFFERENCES: dict[str, KnownDifference] = {
    "patient-city-unaccented": KnownDifference(
        "matches",
        f"{SEARCH}#string: values match 'after both have been normalized by case "
        "and accent'. We keep å, ä and ö as letters of their own, as Swedish readers do (sjovik "
        "is not Sjövik; docs/search.md, Swedish text); HAPI FHIR strips them to a and o.",
    ),
    "careplan-period-old": KnownDifference(
        "matches",
        f"{SEARCH}#prefix, le: 'the range below the search value intersects (i.e. "
        "overlaps) with the range of the target value or the range of the search value fully "
        "contains the range of the target value'. Plans whose whole period lies in 2013 (f003, "
        "f201, f203) are fully contained in le2013 and match on our server only; CarePlan/gpvisit "
        "starts in 2013 with no end, lies neither below 2013 nor inside it, and matches on HAPI "
        "FHIR only.",
    ),
    "condition-onset": _GE_ON_DATES,
    "goal-start-date": _GE_ON_DATES,
    "sort-patient-family": KnownDifference(
        "order",
        f"{SEARCH}#_sort names no collation for strings. We sort in Swedish order, "
        "where Ö comes after Z (Östlund after Wallin); HAPI FHIR sorts Ö as O.",
    ),
}

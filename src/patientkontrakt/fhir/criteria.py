"""Parsing of conditional-interaction criteria (If-None-Exist, `PUT /Type?...`, references).

Until the search engine lands these accept `_id` and `identifier` only, and say so.
"""

from __future__ import annotations

from urllib.parse import parse_qsl

from patientkontrakt.fhir.registry import has_element, is_valid_id
from patientkontrakt.outcomes import bad_request, not_supported
from patientkontrakt.store.criteria import Criteria, TokenValue

IGNORED = frozenset({"_format", "_pretty"})
MAX_VALUE_LENGTH = 4096


def parse_token(value: str) -> TokenValue:
    """`system|code`, `|code`, `system|` or `code`."""
    if "|" not in value:
        return TokenValue(None, value or None, has_system=False)
    system, _, code = value.partition("|")
    return TokenValue(system or None, code or None, has_system=True)


def parse_criteria(resource_type: str, query: str | list[tuple[str, str]]) -> Criteria:
    """Criteria from a query string (`identifier=s|v&_id=x`) or its pairs."""
    pairs = parse_qsl(query, keep_blank_values=True) if isinstance(query, str) else query
    criteria = Criteria(resource_type)
    for name, raw in pairs:
        if name in IGNORED:
            continue
        if not raw:
            raise bad_request(f"Search parameter '{name}' has no value")
        if "\x00" in raw or len(raw) > MAX_VALUE_LENGTH:
            raise bad_request(f"Search parameter '{name}' has a value no resource can hold")
        values = raw.split(",")
        if name == "_id":
            bad = [v for v in values if not is_valid_id(v)]
            if bad:
                raise bad_request(f"_id value {bad[0]!r} is not a valid FHIR id")
            criteria.ids.append(values)
        elif name == "identifier" and has_element(resource_type, "identifier"):
            tokens = [parse_token(v) for v in values]
            if any(t.code is None and t.system is None for t in tokens):
                raise bad_request(
                    "identifier needs a value: system|value, |value, system| or value"
                )
            criteria.tokens.append(("identifier", tokens))
        else:
            raise not_supported(
                f"Criterion '{name}' is not supported on {resource_type}: this server accepts "
                "only _id and identifier in searches and conditional interactions for now"
            )
    return criteria

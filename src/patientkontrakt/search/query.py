"""Parsing a search's parameters into a SearchQuery (search.html), before any SQL.

Unknown or unsupported parameters become warnings (`Prefer: handling=lenient`, the default)
or a 400 (`handling=strict`); malformed values are always a 400.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

from patientkontrakt.fhir.paging import count_value
from patientkontrakt.fhir.registry import is_resource_type
from patientkontrakt.outcomes import Issue, bad_request, not_supported
from patientkontrakt.search.parameters import RESULT_PARAMETERS, SearchParameter, registry
from patientkontrakt.search.values import ESCAPED_PIPE, Criterion

Handling = Literal["strict", "lenient"]
SUMMARY_VALUES = ("true", "false", "count", "text", "data")
TOTAL_VALUES = ("none", "estimate", "accurate")
MAX_VALUE_LENGTH = 4096


@dataclass(frozen=True)
class IdFilter:
    """`_id=a,b`."""

    ids: tuple[str, ...]
    negate: bool = False


@dataclass(frozen=True)
class LastUpdatedFilter:
    """`_lastUpdated=ge2026-11-01`."""

    criterion: Criterion


@dataclass(frozen=True)
class ChainFilter:
    """`subject:Patient.name=x`: a reference followed to resources matching `rest`."""

    parameter: SearchParameter
    targets: tuple[tuple[str, Filter], ...]


@dataclass(frozen=True)
class HasFilter:
    """`_has:Observation:patient:code=x`: referred to by resources matching `rest`."""

    source_type: str
    parameter: SearchParameter
    rest: Filter


@dataclass(frozen=True)
class PerTypeFilter:
    """A common parameter (`_tag`) in a search over several types: each type's own criterion."""

    by_type: tuple[tuple[str, Filter], ...]


Filter = Criterion | IdFilter | LastUpdatedFilter | ChainFilter | HasFilter | PerTypeFilter


@dataclass(frozen=True)
class Include:
    """`_include=CarePlan:care-team[:CareTeam]` or `_revinclude=Provenance:target`."""

    source_type: str
    parameter: SearchParameter | None  # None: the `*` wildcard
    target_type: str | None
    iterate: bool
    reverse: bool


@dataclass(frozen=True)
class SortKey:
    """One `_sort` key: a parameter code (or `_id`, `_lastUpdated`), descending with `-`."""

    code: str
    parameter: SearchParameter | None
    descending: bool


@dataclass
class SearchQuery:
    """A parsed search over one or more resource types."""

    resource_types: tuple[str, ...]
    filters: list[Filter] = field(default_factory=list)
    sort: list[SortKey] = field(default_factory=list)
    count: int = 20
    includes: list[Include] = field(default_factory=list)
    summary: str | None = None
    elements: tuple[str, ...] = ()
    total: str = "none"
    page: str | None = None
    warnings: list[Issue] = field(default_factory=list)
    ignored: list[tuple[str, str]] = field(default_factory=list)
    """Parameters ignored (with a warning): the self link leaves them out (search.html#errors)."""


class _Parser:
    def __init__(self, handling: Handling, default_count: int, max_count: int) -> None:
        self.handling = handling
        self.default_count = default_count
        self.max_count = max_count
        self.warnings: list[Issue] = []

    def unsupported(self, message: str) -> None:
        if self.handling == "strict":
            raise not_supported(message)
        self.warnings.append(Issue("not-supported", message, "warning"))

    def filter_for(self, resource_type: str, name: str, values: tuple[str, ...]) -> Filter | None:
        if name == "_has" or name.startswith("_has:"):
            return self.has_filter(resource_type, name, values)
        head, dot, rest = name.partition(".")
        code, _, modifier = head.partition(":")
        if code == "_id":
            if modifier not in ("", "not"):
                raise not_supported(f"_id does not take :{modifier}")
            ids = tuple(v.replace(ESCAPED_PIPE, "|") for v in values)
            return IdFilter(ids, negate=modifier == "not")
        parameter = registry().get(resource_type, code)
        if parameter is None:
            self.unsupported(f"Unknown search parameter '{code}' for {resource_type}")
            return None
        if dot:
            return self.chain_filter(parameter, modifier or None, rest, values)
        if parameter.type != "token" and modifier != "identifier":
            # Only a token splits on `|` (tokens.py); elsewhere `\|` is just a pipe.
            values = tuple(v.replace(ESCAPED_PIPE, "|") for v in values)
        criterion = Criterion(parameter, modifier or None, values)
        if code == "_lastUpdated":
            return LastUpdatedFilter(criterion)
        return criterion

    def chain_filter(
        self, parameter: SearchParameter, modifier: str | None, rest: str, values: tuple[str, ...]
    ) -> Filter | None:
        if parameter.type != "reference":
            raise bad_request(f"'{parameter.code}' is not a reference and cannot be chained")
        if modifier is not None and not is_resource_type(modifier):
            raise bad_request(f"Chain {parameter.code}:{modifier} names no resource type")
        candidates = (modifier,) if modifier else parameter.targets
        code = rest.partition(".")[0].partition(":")[0]
        targets: list[tuple[str, Filter]] = []
        for target in candidates:
            if code in ("_id", "_lastUpdated") or registry().get(target, code) is not None:
                inner = self.filter_for(target, rest, values)
                if inner is not None:
                    targets.append((target, inner))
        if not targets:
            self.unsupported(f"No target of '{parameter.code}' has a parameter '{code}'")
            return None
        return ChainFilter(parameter, tuple(targets))

    def has_filter(self, resource_type: str, name: str, values: tuple[str, ...]) -> Filter | None:
        parts = name.split(":", 3)
        if len(parts) != 4 or not parts[3]:
            raise bad_request(f"{name} must be _has:Type:reference:parameter")
        _, source_type, code, rest = parts
        if not is_resource_type(source_type):
            raise bad_request(f"{name}: unknown resource type {source_type}")
        parameter = registry().get(source_type, code)
        if parameter is None or parameter.type != "reference":
            raise bad_request(f"{name}: {source_type} has no reference parameter '{code}'")
        if parameter.targets and resource_type not in parameter.targets:
            raise bad_request(f"{name}: {source_type}.{code} never refers to {resource_type}")
        inner = self.filter_for(source_type, rest, values)
        return HasFilter(source_type, parameter, inner) if inner is not None else None

    def include(self, value: str, *, reverse: bool, iterate: bool) -> Include | None:
        parts = value.split(":")
        if len(parts) not in (2, 3) or not is_resource_type(parts[0]):
            raise bad_request(f"_include value {value!r} must be Type:parameter[:targetType]")
        source_type, code = parts[0], parts[1]
        target_type = parts[2] if len(parts) == 3 else None
        if target_type is not None and not is_resource_type(target_type):
            raise bad_request(f"_include value {value!r} names an unknown target type")
        if code == "*":
            return Include(source_type, None, target_type, iterate, reverse)
        parameter = registry().get(source_type, code)
        if parameter is None or parameter.type != "reference":
            self.unsupported(f"{source_type} has no reference parameter '{code}' to include by")
            return None
        return Include(source_type, parameter, target_type, iterate, reverse)

    def sort_keys(self, resource_type: str | None, value: str) -> list[SortKey]:
        keys: list[SortKey] = []
        for item in value.split(","):
            descending = item.startswith("-")
            code = item.lstrip("-")
            if code in ("_id", "_lastUpdated"):
                keys.append(SortKey(code, None, descending))
                continue
            parameter = registry().get(resource_type, code) if resource_type else None
            if parameter is None or parameter.type == "composite":
                self.unsupported(f"Cannot sort by '{code}'")
                continue
            keys.append(SortKey(code, parameter, descending))
        return keys

    def count(self, value: str) -> int:
        return count_value(value, self.max_count)


def parse(
    resource_types: tuple[str, ...],
    pairs: list[tuple[str, str]],
    *,
    handling: Handling = "lenient",
    default_count: int = 20,
    max_count: int = 1000,
) -> SearchQuery:
    """Parse `pairs` (repeated names AND, commas OR) into a SearchQuery over `resource_types`."""
    parser = _Parser(handling, default_count, max_count)
    query = SearchQuery(resource_types, count=default_count)
    single = resource_types[0] if len(resource_types) == 1 else None
    for name, raw in pairs:
        if "\x00" in raw or len(raw) > MAX_VALUE_LENGTH:
            raise bad_request(f"Search parameter '{name}' has a value no resource can hold")
        base = name.partition(":")[0]
        if base in RESULT_PARAMETERS or name in ("_include:iterate", "_revinclude:iterate"):
            _result_parameter(parser, query, single, name, raw)
            continue
        if raw == "":
            raise bad_request(f"Search parameter '{name}' has no value")
        if single is None:
            filter_ = _common_filter(parser, resource_types, name, tuple(_split_values(raw)))
        else:
            filter_ = parser.filter_for(single, name, tuple(_split_values(raw)))
        if filter_ is not None:
            query.filters.append(filter_)
        else:
            query.ignored.append((name, raw))
    query.warnings = parser.warnings
    return query


def _split_values(raw: str) -> list[str]:
    # A comma separates OR values; `\,` is a literal comma (search.html#escaping). `\|` stays
    # marked (ESCAPED_PIPE) until the parameter's type is known: a token splits on `|`.
    values: list[str] = []
    current = ""
    escaped = False
    for ch in raw:
        if escaped:
            current += ESCAPED_PIPE if ch == "|" else ch
            escaped = False
        elif ch == "\\":
            escaped = True
        elif ch == ",":
            values.append(current)
            current = ""
        else:
            current += ch
    values.append(current)
    return values


def _common_filter(
    parser: _Parser, resource_types: tuple[str, ...], name: str, values: tuple[str, ...]
) -> Filter | None:
    """System-level search takes only the parameters every resource has."""
    code = name.partition(":")[0]
    if code not in ("_id", "_lastUpdated", "_tag", "_profile", "_security", "_source"):
        parser.unsupported(f"'{name}' cannot be used across several resource types")
        return None
    if code in ("_id", "_lastUpdated"):  # columns of the resource row, the same for every type
        return parser.filter_for(resource_types[0], name, values)
    # Index rows are per type: a criterion of one type must not match another type's ids.
    by_type = [(t, parser.filter_for(t, name, values)) for t in resource_types]
    kept = tuple((t, f) for t, f in by_type if f is not None)
    return PerTypeFilter(kept) if kept else None


def _result_parameter(
    parser: _Parser, query: SearchQuery, single: str | None, name: str, raw: str
) -> None:
    if name in ("_format", "_pretty", "_type"):
        return
    if name == "_page":
        query.page = raw
    elif name == "_count":
        query.count = parser.count(raw)
    elif name == "_sort":
        query.sort = parser.sort_keys(single, raw)
    elif name == "_summary":
        if raw not in SUMMARY_VALUES:
            raise bad_request(f"_summary must be one of {', '.join(SUMMARY_VALUES)}")
        query.summary = None if raw == "false" else raw
    elif name == "_elements":
        query.elements = tuple(e.strip() for e in raw.split(",") if e.strip())
    elif name == "_total":
        if raw not in TOTAL_VALUES:
            raise bad_request(f"_total must be one of {', '.join(TOTAL_VALUES)}")
        query.total = raw
    elif name.startswith(("_include", "_revinclude")):
        base, _, modifier = name.partition(":")
        if modifier not in ("", "iterate", "recurse"):
            raise bad_request(f"{name} is not a known include form")
        include = parser.include(raw, reverse=base == "_revinclude", iterate=bool(modifier))
        if include is not None:
            query.includes.append(include)
        else:
            query.ignored.append((name, raw))
    else:
        parser.unsupported(f"Result parameter {name} is not supported")

"""What the per-type search modules share: parsed values and the row/predicate contract."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from sqlalchemy import ColumnElement, FromClause, Select, Table, select

from patientkontrakt.outcomes import FhirError, bad_request, not_supported
from patientkontrakt.search.parameters import SearchParameter

Row = tuple[Table, dict[str, Any]]
"""An index row and the table it goes into (the indexer adds type, id and param)."""

MAX_TEXT = 512

ESCAPED_PIPE = "\x00"
"""A `\\|` of a search value (a literal pipe, search.html#escaping) until a token is split on its
unescaped `|`; NUL never reaches here from a request (query.py refuses it)."""


@dataclass(frozen=True)
class Criterion:
    """One parameter of a search as written: `code[:modifier]=v1,v2` (values ORed)."""

    parameter: SearchParameter
    modifier: str | None
    values: tuple[str, ...]


def clip(text: str) -> str:
    """Index text at most MAX_TEXT characters (longer values are matched on their start)."""
    return text[:MAX_TEXT]


def matching_ids(
    table: Table, parameter: SearchParameter, condition: ColumnElement[bool]
) -> Select[tuple[str]]:
    """`SELECT resource_id FROM table WHERE type, param and condition` (an indexed subquery)."""
    # correlate(None): these subqueries nest inside each other (chains, _has) and must never
    # borrow a FROM of the enclosing query.
    return (
        select(table.c.resource_id)
        .where(
            table.c.resource_type == parameter.resource_type,
            table.c.param == parameter.code,
            condition,
        )
        .correlate(None)
    )


def having_param(table: Table, parameter: SearchParameter) -> Select[tuple[str]]:
    """Ids of resources with any value for the parameter (for :missing)."""
    return (
        select(table.c.resource_id)
        .where(table.c.resource_type == parameter.resource_type, table.c.param == parameter.code)
        .correlate(None)
    )


def unsupported_modifier(criterion: Criterion) -> FhirError:
    """400 for a modifier this parameter type does not take (search.html#modifiers)."""
    return not_supported(
        f"Modifier :{criterion.modifier} is not supported for {criterion.parameter.type} "
        f"parameter '{criterion.parameter.code}'"
    )


def missing_flag(criterion: Criterion) -> bool:
    """The boolean of `:missing=true|false`; 400 for anything else."""
    if len(criterion.values) != 1 or criterion.values[0] not in ("true", "false"):
        raise bad_request(f"{criterion.parameter.code}:missing takes true or false")
    return criterion.values[0] == "true"


def missing_predicate(criterion: Criterion, table: Table, rows: FromClause) -> ColumnElement[bool]:
    """`:missing=true` (no value for the parameter) or `:missing=false` (some value)."""
    present = rows.c.resource_id.in_(having_param(table, criterion.parameter))
    return ~present if missing_flag(criterion) else present

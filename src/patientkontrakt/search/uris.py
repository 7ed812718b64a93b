"""URI search: exact by default, `:below` (prefix) and `:above` (the value's ancestors)."""

from __future__ import annotations

from typing import Any

from sqlalchemy import ColumnElement, FromClause, or_

from patientkontrakt.search.values import (
    Criterion,
    Row,
    matching_ids,
    unsupported_modifier,
)
from patientkontrakt.store.tables import uri_index

_TOP = "\U0010ffff"


def index_rows(values: list[Any]) -> list[Row]:
    """One row per URI; canonicals are kept with and without their `|version`."""
    rows: list[Row] = []
    seen: set[str] = set()
    for value in values:
        if not isinstance(value, str) or len(value) > 1024:
            continue
        for form in {value, value.split("|", 1)[0]}:
            if form not in seen:
                seen.add(form)
                rows.append((uri_index, {"value": form}))
    return rows


def _ancestors(uri: str) -> list[str]:
    parts = uri.split("/")
    return ["/".join(parts[:n]) for n in range(len(parts), 2, -1)]


def predicate(criterion: Criterion, rows: FromClause) -> ColumnElement[bool]:
    """The WHERE clause on `resource` for a uri criterion."""
    parameter = criterion.parameter
    column = uri_index.c.value
    conditions: list[ColumnElement[bool]] = []
    for raw in criterion.values:
        if criterion.modifier is None:
            conditions.append(column == raw)
        elif criterion.modifier == "below":
            conditions.append((column >= raw) & (column < raw + _TOP))
        elif criterion.modifier == "above":
            conditions.append(column.in_(_ancestors(raw)))
        else:
            raise unsupported_modifier(criterion)
    return rows.c.resource_id.in_(matching_ids(uri_index, parameter, or_(*conditions)))

"""SearchQuery to SQLAlchemy Core: WHERE clauses, sort keys and keyset conditions.

Every filter becomes `resource_id IN (indexed subquery)` on one alias of the `resource` table;
all values are bound parameters. One module per parameter type owns its SQL (`tokens.py`,
`strings.py`, `references.py`, `dates.py`, `numbers.py`, `uris.py`).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from sqlalchemy import (
    ColumnElement,
    FromClause,
    Table,
    and_,
    false,
    func,
    literal,
    or_,
    select,
)

from patientkontrakt.search import dates, numbers, references, strings, tokens, uris
from patientkontrakt.search.query import (
    ChainFilter,
    Filter,
    HasFilter,
    IdFilter,
    LastUpdatedFilter,
    PerTypeFilter,
    SearchQuery,
    SortKey,
)
from patientkontrakt.search.values import Criterion, missing_predicate
from patientkontrakt.store.tables import (
    RowFilter,
    date_index,
    number_index,
    reference_index,
    resource,
    string_index,
    token_index,
    uri_index,
)

_TABLES: dict[str, Table] = {
    "token": token_index,
    "string": string_index,
    "reference": reference_index,
    "date": date_index,
    "number": number_index,
    "quantity": number_index,
    "uri": uri_index,
}
_PREDICATES: dict[str, Callable[[Criterion, FromClause], ColumnElement[bool]]] = {
    "token": tokens.predicate,
    "string": strings.predicate,
    "date": dates.predicate,
    "number": numbers.predicate,
    "quantity": numbers.predicate,
    "uri": uris.predicate,
}


def _visible_rows(visible: RowFilter | None, rows: FromClause) -> list[ColumnElement[bool]]:
    return [] if visible is None else [visible(rows)]


def compile_filter(
    filter_: Filter, rows: FromClause, base_url: str, visible: RowFilter | None = None
) -> ColumnElement[bool]:
    """The WHERE clause of one filter on `rows` (an alias of `resource`).

    `visible` limits the resources that chains and `_has` look through to those the caller
    may see, so criteria on hidden resources cannot reveal anything about them.
    """
    if isinstance(filter_, IdFilter):
        clause = rows.c.resource_id.in_(filter_.ids)
        return ~clause if filter_.negate else clause
    if isinstance(filter_, LastUpdatedFilter):
        return dates.last_updated_predicate(filter_.criterion, rows)
    if isinstance(filter_, ChainFilter):
        options = []
        for target_type, inner in filter_.targets:
            targets = resource.alias()
            matching = (
                select(targets.c.resource_id)
                .where(
                    targets.c.resource_type == target_type,
                    targets.c.deleted.is_(False),
                    compile_filter(inner, targets, base_url, visible),
                    *_visible_rows(visible, targets),
                )
                .correlate(None)
            )
            options.append(
                references.chain_predicate(filter_.parameter, target_type, matching, rows, base_url)
            )
        return or_(*options)
    if isinstance(filter_, PerTypeFilter):
        return or_(
            false(),
            *(
                and_(rows.c.resource_type == t, compile_filter(f, rows, base_url, visible))
                for t, f in filter_.by_type
            ),
        )
    if isinstance(filter_, HasFilter):
        sources = resource.alias()
        matching = (
            select(sources.c.resource_id)
            .where(
                sources.c.resource_type == filter_.source_type,
                sources.c.deleted.is_(False),
                compile_filter(filter_.rest, sources, base_url, visible),
                *_visible_rows(visible, sources),
            )
            .correlate(None)
        )
        return rows.c.resource_id.in_(
            references.referrers(filter_.source_type, filter_.parameter, matching, rows, base_url)
        )
    if filter_.modifier == "missing" and filter_.parameter.type == "reference":
        return references.missing_predicate(filter_, rows)
    if filter_.modifier == "missing":
        return missing_predicate(filter_, _TABLES[filter_.parameter.type], rows)
    if filter_.parameter.type == "reference":
        return references.predicate(filter_, rows, base_url)
    return _PREDICATES[filter_.parameter.type](filter_, rows)


def where_clauses(
    query: SearchQuery,
    rows: FromClause,
    base_url: str,
    extra: RowFilter | None = None,
    visible: RowFilter | None = None,
) -> list[ColumnElement[bool]]:
    """Every condition of the search on `rows`; `visible` the rows the caller may see."""
    clauses: list[ColumnElement[bool]] = [
        rows.c.resource_type.in_(query.resource_types)
        if len(query.resource_types) > 1
        else rows.c.resource_type == query.resource_types[0],
        rows.c.deleted.is_(False),
    ]
    clauses += [compile_filter(f, rows, base_url, visible) for f in query.filters]
    if extra is not None:
        clauses.append(extra(rows))
    return clauses + _visible_rows(visible, rows)


@dataclass(frozen=True)
class SortColumn:
    """One ORDER BY key, its direction, and how its cursor value is (de)serialised."""

    expression: ColumnElement[Any]
    descending: bool
    kind: str  # "text", "instant", "number"


_SENTINELS: dict[str, tuple[Any, Any]] = {
    # (value for a missing key ascending, descending): missing values sort last either way.
    "text": ("\U0010ffff", ""),
    "instant": (dates.MAX_INSTANT, dates.MIN_INSTANT),
    "number": (1e308, -1e308),
}

_SORT_SOURCES: dict[str, tuple[Any, str, str]] = {
    # parameter type: (index table, column, kind)
    "string": (string_index, "value", "text"),
    "token": (token_index, "code", "text"),
    "uri": (uri_index, "value", "text"),
    "reference": (reference_index, "target_id", "text"),
    "number": (number_index, "value", "number"),
    "quantity": (number_index, "value", "number"),
}


def sort_columns(sort: list[SortKey], rows: FromClause) -> list[SortColumn]:
    """ORDER BY keys for `_sort`, ending in (type, id) so the order is total and stable."""
    columns: list[SortColumn] = []
    for key in sort:
        if key.code == "_id":
            columns.append(SortColumn(rows.c.resource_id, key.descending, "text"))
            continue
        if key.code == "_lastUpdated":
            columns.append(SortColumn(rows.c.last_updated, key.descending, "instant"))
            continue
        assert key.parameter is not None
        if key.parameter.type == "date":
            # By when it starts, both ways: an open-ended period would otherwise sort as if it
            # ended in year 9999.
            table, column_name, kind = date_index, "low", "instant"
        else:
            table, column_name, kind = _SORT_SOURCES[key.parameter.type]
        column = table.c[column_name]
        aggregate = func.max(column) if key.descending else func.min(column)
        value = (
            select(aggregate)
            .where(
                table.c.resource_type == rows.c.resource_type,
                table.c.resource_id == rows.c.resource_id,
                table.c.param == key.parameter.code,
            )
            .correlate(rows)
            .scalar_subquery()
        )
        missing = _SENTINELS[kind][1 if key.descending else 0]
        columns.append(
            SortColumn(func.coalesce(value, literal(missing, column.type)), key.descending, kind)
        )
    columns.append(SortColumn(rows.c.resource_type, False, "text"))
    columns.append(SortColumn(rows.c.resource_id, False, "text"))
    return columns


def order_by(columns: list[SortColumn], *, reverse: bool = False) -> list[ColumnElement[Any]]:
    """ORDER BY expressions, optionally reversed (to page backwards)."""
    return [c.expression.desc() if c.descending != reverse else c.expression.asc() for c in columns]


def after(
    columns: list[SortColumn], values: list[Any], *, reverse: bool = False
) -> ColumnElement[bool]:
    """Rows strictly after (or, reversed, before) the row whose keys are `values`."""
    options: list[ColumnElement[bool]] = []
    for index, column in enumerate(columns):
        equal = [columns[i].expression == values[i] for i in range(index)]
        forward = column.descending == reverse
        step = column.expression > values[index] if forward else column.expression < values[index]
        options.append(and_(*equal, step))
    return or_(*options) if options else false()


def encode_key(kind: str, value: Any) -> Any:
    """A sort key value as JSON for a paging cursor."""
    if kind == "instant":
        assert isinstance(value, dt.datetime)
        return value.astimezone(dt.UTC).isoformat()
    return value


def decode_key(kind: str, value: Any) -> Any:
    """A sort key value back from a paging cursor; ValueError if it is not one."""
    if kind == "instant":
        return dt.datetime.fromisoformat(str(value)).astimezone(dt.UTC)
    if kind == "number":
        return float(value)
    if not isinstance(value, str):
        raise ValueError("not a text key")
    return value

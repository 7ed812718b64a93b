"""Runs a SearchQuery: one SQL statement for the page, its `_include`s and `_revinclude`s
(plus one per `:iterate` round), assembled into a searchset Bundle from stored bytes.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any
from urllib.parse import parse_qsl, urlencode

import orjson
from sqlalchemy import (
    ColumnElement,
    FromClause,
    Select,
    and_,
    func,
    literal,
    null,
    or_,
    select,
    tuple_,
    union_all,
)

from patientkontrakt.fhir.bundles import bundle
from patientkontrakt.fhir.listing import Paging
from patientkontrakt.fhir.paging import page_url, query_key
from patientkontrakt.outcomes import bad_request, not_found, operation_outcome
from patientkontrakt.search import references
from patientkontrakt.search.compiler import (
    SortColumn,
    after,
    decode_key,
    encode_key,
    order_by,
    sort_columns,
    where_clauses,
)
from patientkontrakt.search.parameters import patient_compartment, registry
from patientkontrakt.search.query import (
    ChainFilter,
    Handling,
    HasFilter,
    Include,
    PerTypeFilter,
    SearchQuery,
    parse,
)
from patientkontrakt.search.summary import subset
from patientkontrakt.search.values import Criterion
from patientkontrakt.store.repository import Repository
from patientkontrakt.store.tables import RowFilter, reference_index, resource

MAX_ITERATE_ROUNDS = 3

Extra = Callable[[FromClause], ColumnElement[bool]]


@dataclass(frozen=True)
class SearchRequest:
    """A parsed search with where it was asked: its path, parameters and paging context."""

    query: SearchQuery
    path: str
    pairs: list[tuple[str, str]]
    paging: Paging
    extra: Extra | None = None
    visible: RowFilter | None = None

    def where(self, rows: FromClause) -> list[ColumnElement[bool]]:
        """Every condition of this search on `rows`, the caller's visibility included."""
        return where_clauses(self.query, rows, self.paging.base, self.extra, self.visible)


def _query_key(request: SearchRequest) -> str:
    return query_key(request.path, request.pairs)


def _position(request: SearchRequest, columns: list[SortColumn]) -> tuple[bool, list[Any] | None]:
    """(backwards?, key values) from the `_page` cursor, or (False, None) on the first page."""
    if request.query.page is None:
        return False, None
    position = request.paging.signer.verify(_query_key(request), request.query.page)
    keys = position.get("k")
    if not isinstance(keys, list) or len(keys) != len(columns):
        raise bad_request("The _page link is not valid for this query")
    try:
        values = [decode_key(c.kind, v) for c, v in zip(columns, keys, strict=True)]
    except (ValueError, TypeError) as exc:
        raise bad_request("The _page link is not valid for this query") from exc
    return position.get("d") == "b", values


def _link(request: SearchRequest, direction: str, row: Any, columns: list[SortColumn]) -> str:
    keys = [encode_key(c.kind, row._mapping[f"k{i}"]) for i, c in enumerate(columns)]
    token = request.paging.signer.sign(_query_key(request), {"d": direction, "k": keys})
    return page_url(request.paging.base, request.path, request.pairs, token)


def _include_params(include: Include) -> list[str]:
    if include.parameter is not None:
        return [include.parameter.code]
    return [p.code for p in registry().for_type(include.source_type) if p.type == "reference"]


def _included(
    include: Include,
    page: FromClause,
    count: int,
    width: int,
    total: bool,
    base: str,
    visible: RowFilter | None,
) -> Select[Any]:
    ref = reference_index.alias()
    found = resource.alias()
    params = _include_params(include)
    if include.reverse:
        joined = ref.join(
            page,
            and_(ref.c.target_type == page.c.resource_type, ref.c.target_id == page.c.resource_id),
        )
        sources = (
            select(ref.c.resource_id)
            .select_from(joined)
            .where(
                page.c.rn <= count,
                ref.c.resource_type == include.source_type,
                ref.c.param.in_(params),
                references.local_target(base, ref),
            )
        )
        condition = and_(
            found.c.resource_type == include.source_type, found.c.resource_id.in_(sources)
        )
    else:
        joined = ref.join(
            page,
            and_(
                ref.c.resource_type == page.c.resource_type, ref.c.resource_id == page.c.resource_id
            ),
        )
        targets = (
            select(ref.c.target_type, ref.c.target_id)
            .select_from(joined)
            .where(
                page.c.rn <= count,
                ref.c.resource_type == include.source_type,
                ref.c.param.in_(params),
                ref.c.target_id.is_not(None),
                references.local_target(base, ref),
            )
        )
        if include.target_type is not None:
            targets = targets.where(ref.c.target_type == include.target_type)
        condition = tuple_(found.c.resource_type, found.c.resource_id).in_(targets)
    return select(
        literal(1).label("kind"),
        null().label("rn"),
        found.c.resource_type,
        found.c.resource_id,
        found.c.content,
        *[null().label(f"k{i}") for i in range(width)],
        *([null().label("total")] if total else []),
    ).where(found.c.deleted.is_(False), condition, *([visible(found)] if visible else []))


def _statement(request: SearchRequest, backwards: bool, position: list[Any] | None) -> Select[Any]:
    query = request.query
    base = request.paging.base
    rows = resource.alias("r")
    columns = sort_columns(query.sort, rows)
    clauses = request.where(rows)
    if position is not None:
        clauses.append(after(columns, position, reverse=backwards))
    ordering = order_by(columns, reverse=backwards)
    total = query.total != "none"
    selected: list[Any] = [
        rows.c.resource_type,
        rows.c.resource_id,
        rows.c.content,
        *[c.expression.label(f"k{i}") for i, c in enumerate(columns)],
    ]
    if total:
        counted = resource.alias("t")
        selected.append(
            select(func.count())
            .where(*request.where(counted))
            .correlate(None)
            .scalar_subquery()
            .label("total")
        )
    if not query.includes:
        return (
            select(literal(0).label("kind"), literal(0).label("rn"), *selected)
            .where(*clauses)
            .order_by(*ordering)
            .limit(query.count + 1)
        )
    page = (
        select(*selected, func.row_number().over(order_by=ordering).label("rn"))
        .where(*clauses)
        .order_by(*ordering)
        .limit(query.count + 1)
        .cte("page")
    )
    matched = select(
        literal(0).label("kind"),
        page.c.rn,
        page.c.resource_type,
        page.c.resource_id,
        page.c.content,
        *[page.c[f"k{i}"] for i in range(len(columns))],
        *([page.c.total] if total else []),
    )
    parts = [matched] + [
        _included(i, page, query.count, len(columns), total, base, request.visible)
        for i in query.includes
    ]
    combined = union_all(*parts).subquery("combined")
    return select(combined).order_by(combined.c.kind, combined.c.rn)


async def _iterate(
    repo: Repository,
    request: SearchRequest,
    start: set[tuple[str, str]],
    seen: set[tuple[str, str]],
) -> list[Any]:
    """`:iterate` includes: follow them from what the last round added, a few rounds deep."""
    base = request.paging.base
    iterating = [i for i in request.query.includes if i.iterate]
    found: list[Any] = []
    frontier = start
    for _ in range(MAX_ITERATE_ROUNDS):
        if not iterating or not frontier:
            break
        ref = reference_index.alias()
        target = resource.alias()
        conditions = []
        for include in iterating:
            params = _include_params(include)
            if include.reverse:
                sources = select(ref.c.resource_id).where(
                    ref.c.resource_type == include.source_type,
                    ref.c.param.in_(params),
                    tuple_(ref.c.target_type, ref.c.target_id).in_(list(frontier)),
                    references.local_target(base, ref),
                )
                conditions.append(
                    and_(
                        target.c.resource_type == include.source_type,
                        target.c.resource_id.in_(sources),
                    )
                )
            else:
                targets = select(ref.c.target_type, ref.c.target_id).where(
                    ref.c.resource_type == include.source_type,
                    ref.c.param.in_(params),
                    ref.c.target_id.is_not(None),
                    tuple_(ref.c.resource_type, ref.c.resource_id).in_(list(frontier)),
                    references.local_target(base, ref),
                )
                conditions.append(tuple_(target.c.resource_type, target.c.resource_id).in_(targets))
        # One SELECT per include, united: an OR of IN-lists makes PostgreSQL scan the table.
        parts = [
            select(target.c.resource_type, target.c.resource_id, target.c.content).where(
                target.c.deleted.is_(False),
                condition,
                *([request.visible(target)] if request.visible else []),
            )
            for condition in conditions
        ]
        rows = await repo.fetch(parts[0] if len(parts) == 1 else union_all(*parts))
        frontier = set()
        for row in rows:
            key = (row.resource_type, row.resource_id)
            if key not in seen:
                seen.add(key)
                frontier.add(key)
                found.append(row)
    return found


def _entry(base: str, row: Any, mode: str, query: SearchQuery) -> dict[str, Any]:
    content = subset(row.content, query.summary, query.elements)
    return {
        "fullUrl": f"{base}/{row.resource_type}/{row.resource_id}",
        "resource": orjson.Fragment(content),
        "search": {"mode": mode},
    }


async def run(repo: Repository, request: SearchRequest) -> dict[str, Any]:
    """The searchset Bundle of `request`."""
    query = request.query
    base = request.paging.base
    # The self link names the parameters used, not those ignored (search.html#errors).
    used = [pair for pair in request.pairs if pair not in query.ignored]
    self_url = f"{base}/{request.path}" + (f"?{urlencode(used)}" if used else "")
    # search.html#count: `_count=0` is treated as `_summary=count`.
    if query.summary == "count" or query.count == 0:
        counted = resource.alias("t")
        statement = select(func.count()).where(*request.where(counted))
        total = (await repo.fetch(statement))[0][0]
        result = bundle("searchset", _outcome_entries(query), {"self": self_url})
        result["total"] = total
        return result
    # The statement builds its own columns on its own alias; these only give the cursor's kinds.
    columns = sort_columns(query.sort, resource.alias("r"))
    backwards, position = _position(request, columns)
    rows = await repo.fetch(_statement(request, backwards, position))
    matches = [r for r in rows if r.kind == 0]
    more = len(matches) > query.count
    matches = matches[: query.count]
    if backwards:
        matches.reverse()
    seen = {(r.resource_type, r.resource_id) for r in matches}
    includes = []
    for row in rows:
        key = (row.resource_type, row.resource_id)
        if row.kind == 1 and key not in seen:
            seen.add(key)
            includes.append(row)
    includes += await _iterate(repo, request, set(seen), seen)
    links = {"self": self_url}
    if matches and ((more and not backwards) or backwards):
        links["next"] = _link(request, "a", matches[-1], columns)
    if matches and ((more and backwards) or (position is not None and not backwards)):
        links["previous"] = _link(request, "b", matches[0], columns)
    entries = [_entry(base, r, "match", query) for r in matches]
    entries += [_entry(base, r, "include", query) for r in includes]
    entries += _outcome_entries(query)
    result = bundle("searchset", entries, links)
    if query.total != "none":
        result["total"] = await _total(repo, request, rows)
    return result


async def _total(repo: Repository, request: SearchRequest, rows: Sequence[Any]) -> int:
    for row in rows:
        if row.kind == 0:
            return int(row.total)
    counted = resource.alias("t")
    statement = select(func.count()).where(*request.where(counted))
    return int((await repo.fetch(statement))[0][0])


def _outcome_entries(query: SearchQuery) -> list[dict[str, Any]]:
    if not query.warnings:
        return []
    return [{"resource": operation_outcome(query.warnings), "search": {"mode": "outcome"}}]


async def matching_ids(
    repo: Repository,
    resource_type: str,
    criteria: str,
    *,
    limit: int,
    base_url: str = "",
    visible: RowFilter | None = None,
) -> list[str]:
    """Ids matching a conditional interaction's criteria (`identifier=...&status=...`).

    Criteria are parsed strictly: a parameter the server does not know is a 400, never ignored,
    since ignoring it would widen what a conditional update or delete touches.
    """
    query = parse((resource_type,), parse_qsl(criteria, keep_blank_values=True), handling="strict")
    if not query.filters:
        raise bad_request("Conditional interactions need search criteria")
    rows = resource.alias("r")
    statement = (
        select(rows.c.resource_id)
        .where(*where_clauses(query, rows, base_url, visible=visible))
        .order_by(rows.c.resource_id)
        .limit(limit)
    )
    # Criteria on the type's own index rows read nothing of other types.
    own_rows = visible is None and not any(
        isinstance(f, ChainFilter | HasFilter | PerTypeFilter) for f in query.filters
    )
    reads = frozenset({resource_type}) if own_rows else None
    return [row.resource_id for row in await repo.fetch(statement, reads=reads)]


async def search_bundle(
    repo: Repository,
    resource_types: tuple[str, ...],
    path: str,
    pairs: list[tuple[str, str]],
    paging: Paging,
    *,
    handling: Handling = "lenient",
    extra: Extra | None = None,
    visible: RowFilter | None = None,
) -> dict[str, Any]:
    """Parse and run a search; the searchset Bundle. `visible`: the rows the caller may see."""
    query = parse(
        resource_types,
        pairs,
        handling=handling,
        default_count=paging.default_count,
        max_count=paging.max_count,
    )
    return await run(repo, SearchRequest(query, path, pairs, paging, extra, visible))


def compartment_filter(
    compartment_type: str, owner_id: str, resource_type: str, base: str
) -> Extra:
    """Membership of the Patient compartment (compartmentdefinition-patient.html)."""
    params = patient_compartment().get(resource_type)
    if not params:
        raise not_found(f"{resource_type} is not in the {compartment_type} compartment")
    criteria = []
    for code in params:
        parameter = registry().get(resource_type, code)
        if parameter is not None:
            criteria.append(Criterion(parameter, None, (f"{compartment_type}/{owner_id}",)))

    def member(rows: FromClause) -> ColumnElement[bool]:
        return or_(*(references.predicate(c, rows, base) for c in criteria))

    return member

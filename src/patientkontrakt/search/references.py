"""Reference search (search.html#reference): `Type/id`, `id`, absolute URLs, `:[type]`,
`:identifier`, `:missing`, and the index rows that chains, `_has` and includes follow.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import ColumnElement, FromClause, Select, and_, or_, select

from patientkontrakt.fhir.registry import is_resource_type, is_valid_id
from patientkontrakt.outcomes import bad_request
from patientkontrakt.search import tokens
from patientkontrakt.search.parameters import SearchParameter
from patientkontrakt.search.values import (
    Criterion,
    Row,
    having_param,
    matching_ids,
    missing_flag,
)
from patientkontrakt.store.tables import reference_index, token_index


def split_reference(text: str) -> tuple[str | None, str | None]:
    """(`Patient`, `123`) from `Patient/123`, `.../Patient/123` or `.../Patient/123/_history/2`."""
    parts = text.split("?")[0].split("/")
    if "_history" in parts:
        parts = parts[: parts.index("_history")]
    if len(parts) >= 2 and is_resource_type(parts[-2]) and is_valid_id(parts[-1]):
        return parts[-2], parts[-1]
    return None, None


def reference_key(value: Any) -> tuple[str, str] | None:
    """(`Patient`, `123`) of a Reference to `Patient/123` (relative or absolute, any
    `_history`); None for a logical, contained or unparseable reference."""
    if not isinstance(value, dict):
        return None
    text = value.get("reference")
    if not isinstance(text, str) or text.startswith(("#", "urn:")):
        return None
    resource_type, resource_id = split_reference(text)
    if resource_type is None or resource_id is None:
        return None
    return resource_type, resource_id


def identifier_parameter(parameter: SearchParameter) -> SearchParameter:
    """The token parameter holding a reference parameter's `Reference.identifier` values."""
    return SearchParameter(
        code=f"{parameter.code}:identifier",
        type="token",
        resource_type=parameter.resource_type,
        expression=parameter.expression,
        url=parameter.url,
        description=parameter.description,
    )


def index_rows(values: list[Any], parameter: SearchParameter) -> list[Row]:
    """Rows for references and canonicals; Reference.identifier goes to the token index."""
    rows: list[Row] = []
    seen: set[tuple[Any, ...]] = set()
    for value in values:
        text = value.get("reference") if isinstance(value, dict) else value
        if isinstance(value, dict) and isinstance(value.get("identifier"), dict):
            for table, row in tokens.index_rows([value["identifier"]]):
                rows.append((table, {**row, "param": f"{parameter.code}:identifier"}))
        if not isinstance(text, str) or text.startswith("#") or len(text) > 1024:
            continue
        target_type, target_id = split_reference(text)
        local = target_type is not None and not text.startswith(("http:", "https:"))
        row = {
            "target_type": target_type,
            "target_id": target_id,
            "target_url": None if local else text.split("|", 1)[0],
        }
        key = tuple(row.values())
        if key not in seen:
            seen.add(key)
            rows.append((reference_index, row))
    return rows


def _value_condition(
    parameter: SearchParameter, raw: str, type_modifier: str | None, base_url: str
) -> ColumnElement[bool]:
    column = reference_index.c
    if raw.startswith(("http:", "https:", "urn:")):
        if raw.startswith(base_url + "/"):
            raw = raw[len(base_url) + 1 :]
        else:
            return column.target_url == raw
    target_type, target_id = split_reference(raw) if "/" in raw else (type_modifier, raw)
    if target_type is None and len(parameter.targets) == 1:
        target_type = parameter.targets[0]  # `patient=123` can only mean Patient/123
    if type_modifier is not None and target_type != type_modifier:
        raise bad_request(f"{parameter.code}:{type_modifier}={raw} names another type")
    if target_id is None or not is_valid_id(target_id):
        raise bad_request(f"{parameter.code}={raw!r} is not a reference")
    clause = and_(column.target_id == target_id, local_target(base_url))
    if target_type is not None:
        clause = and_(column.target_type == target_type, clause)
    return clause


def local_target(base_url: str, table: FromClause = reference_index) -> ColumnElement[bool]:
    """Index rows of references to this server: relative, or absolute under `base_url`.

    An absolute reference is indexed with the type and id its URL ends in, so another server's
    `.../Patient/1` must not count as this server's Patient/1 (search.html#reference).
    """
    column = table.c
    if not base_url:
        return column.target_url.is_(None)
    return or_(
        column.target_url.is_(None), column.target_url.startswith(base_url + "/", autoescape=True)
    )


def missing_predicate(criterion: Criterion, rows: FromClause) -> ColumnElement[bool]:
    """`:missing` of a reference: a logical reference (Reference.identifier only) is a value."""
    parameter = criterion.parameter
    present = or_(
        rows.c.resource_id.in_(having_param(reference_index, parameter)),
        rows.c.resource_id.in_(having_param(token_index, identifier_parameter(parameter))),
    )
    return ~present if missing_flag(criterion) else present


def predicate(criterion: Criterion, rows: FromClause, base_url: str) -> ColumnElement[bool]:
    """The WHERE clause on `rows` for a reference criterion (no chain)."""
    parameter = criterion.parameter
    modifier = criterion.modifier
    if modifier == "identifier":
        token_criterion = Criterion(identifier_parameter(parameter), None, criterion.values)
        return tokens.predicate(token_criterion, rows)
    if modifier is not None and not is_resource_type(modifier):
        raise bad_request(f"Modifier :{modifier} is not supported for reference '{parameter.code}'")
    condition = or_(*(_value_condition(parameter, v, modifier, base_url) for v in criterion.values))
    return rows.c.resource_id.in_(matching_ids(reference_index, parameter, condition))


def chain_predicate(
    parameter: SearchParameter,
    target_type: str,
    targets: Select[tuple[str]],
    rows: FromClause,
    base_url: str,
) -> ColumnElement[bool]:
    """Resources whose `parameter` points at one of `targets` (ids of `target_type`) here."""
    condition = and_(
        reference_index.c.target_type == target_type,
        reference_index.c.target_id.in_(targets),
        local_target(base_url),
    )
    return rows.c.resource_id.in_(matching_ids(reference_index, parameter, condition))


def referrers(
    source_type: str,
    parameter: SearchParameter,
    sources: Select[tuple[str]],
    rows: FromClause,
    base_url: str,
) -> Select[tuple[str]]:
    """Ids that `sources` (of `source_type`) point at by `parameter`, of the row's own type.

    Correlated on the row's type only, so `_has` works in system-level searches too.
    """
    column = reference_index.c
    return (
        select(column.target_id)
        .where(
            column.resource_type == source_type,
            column.param == parameter.code,
            column.target_type == rows.c.resource_type,
            column.resource_id.in_(sources),
            local_target(base_url),
        )
        .correlate(rows)
    )

"""Index rows of a resource, computed at write time from the SearchParameter registry.

The repository writes them in the same transaction as the version they describe. `_id` and
`_lastUpdated` need no rows: they are columns of the resource row itself.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from sqlalchemy import Table

from patientkontrakt.outcomes import FhirError, Issue
from patientkontrakt.search import dates, numbers, references, strings, tokens, uris
from patientkontrakt.search.parameters import SearchParameter, registry
from patientkontrakt.search.values import MAX_TEXT, Row

_ROWS: dict[str, Callable[[list[Any]], list[Row]]] = {
    "token": tokens.index_rows,
    "string": strings.index_rows,
    "date": dates.index_rows,
    "number": numbers.index_rows,
    "quantity": numbers.index_rows,
    "uri": uris.index_rows,
}
_ON_THE_ROW = frozenset({"_id", "_lastUpdated"})


def _rows_for(parameter: SearchParameter, body: dict[str, Any]) -> list[Row]:
    values = parameter.extract(body)
    if not values:
        return []
    if parameter.type == "reference":
        return references.index_rows(values, parameter)
    return _ROWS[parameter.type](values)


def index_rows(
    resource_type: str, resource_id: str, body: dict[str, Any]
) -> dict[Table, list[dict[str, Any]]]:
    """Every index row of `body`, grouped by table."""
    grouped: dict[Table, list[dict[str, Any]]] = {}
    for parameter in registry().for_type(resource_type):
        if parameter.code in _ON_THE_ROW:
            continue
        for table, row in _rows_for(parameter, body):
            _check_identifier_length(resource_type, parameter, row)
            row = {
                "resource_type": resource_type,
                "resource_id": resource_id,
                "param": parameter.code,
                **row,
            }
            grouped.setdefault(table, []).append(row)
    return grouped


def _check_identifier_length(
    resource_type: str, parameter: SearchParameter, row: dict[str, Any]
) -> None:
    # Identifiers are matched exactly: one too long for the index is refused, never cut short.
    if parameter.code != "identifier":
        return
    if any(isinstance(row.get(k), str) and len(row[k]) >= MAX_TEXT for k in ("system", "code")):
        where = f"{resource_type}.identifier"
        raise FhirError(
            422,
            [
                Issue(
                    "too-long",
                    f"{where}: system and value may hold at most {MAX_TEXT - 1} characters",
                    expression=(where,),
                )
            ],
        )

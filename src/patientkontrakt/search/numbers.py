"""Number and quantity search (search.html#number, #quantity) with prefixes.

Without a prefix, `5.4` means the interval its precision implies, [5.35, 5.45). A quantity
value may name `|system|code`; the code also matches the unit as written.
"""

from __future__ import annotations

from decimal import Decimal, InvalidOperation
from typing import Any

from sqlalchemy import ColumnElement, FromClause, and_, not_, or_

from patientkontrakt.outcomes import bad_request
from patientkontrakt.search.dates import split_prefix
from patientkontrakt.search.values import (
    Criterion,
    Row,
    clip,
    matching_ids,
    unsupported_modifier,
)
from patientkontrakt.store.tables import number_index


def _number(value: Any) -> float | None:
    if isinstance(value, bool):
        return None
    if isinstance(value, int | float):
        return float(value)
    return None


def index_rows(values: list[Any]) -> list[Row]:
    """One row per number, or per quantity with its unit."""
    rows: list[Row] = []
    for value in values:
        if isinstance(value, dict):  # Quantity, Age, Duration, Money, ...
            number = _number(value.get("value"))
            if number is None:
                continue
            rows.append(
                (
                    number_index,
                    {
                        "value": number,
                        "system": _text(value.get("system")),
                        "code": _text(value.get("code") or value.get("currency")),
                        "unit": _text(value.get("unit")),
                    },
                )
            )
        elif (number := _number(value)) is not None:
            rows.append(
                (number_index, {"value": number, "system": None, "code": None, "unit": None})
            )
    return rows


def _text(value: Any) -> str | None:
    return clip(value) if isinstance(value, str) else None


def _bounds(text: str, code: str) -> tuple[float, float, float]:
    try:
        number = Decimal(text)
    except InvalidOperation as exc:
        raise bad_request(f"{code}: {text!r} is not a number") from exc
    if not number.is_finite():
        raise bad_request(f"{code}: {text!r} is not a number")
    exponent = number.as_tuple().exponent
    half = Decimal(5).scaleb(int(exponent) - 1) if isinstance(exponent, int) else Decimal(0)
    return float(number), float(number - half), float(number + half)


def condition(prefix: str, text: str, code: str) -> ColumnElement[bool]:
    """The condition on number_index rows for a prefixed number."""
    value, low, high = _bounds(text, code)
    column = number_index.c.value
    equal = and_(column >= low, column < high)
    conditions = {
        "eq": equal,
        "ne": not_(equal),
        "gt": column > value,
        "lt": column < value,
        "ge": column >= value,
        "le": column <= value,
        "sa": column > value,
        "eb": column < value,
    }
    if prefix in conditions:
        return conditions[prefix]
    slack = abs(value) / 10
    return and_(column >= value - slack, column <= value + slack)  # ap: within 10%


def predicate(criterion: Criterion, rows: FromClause) -> ColumnElement[bool]:
    """The WHERE clause on `resource` for a number or quantity criterion."""
    parameter = criterion.parameter
    if criterion.modifier is not None:
        raise unsupported_modifier(criterion)
    conditions = []
    for raw in criterion.values:
        number_part, *unit = raw.split("|", 2) if parameter.type == "quantity" else (raw,)
        prefix, text = split_prefix(number_part)
        clause = condition(prefix, text, parameter.code)
        if len(unit) == 2:
            system, code = unit
            column = number_index.c
            if system:
                clause = and_(clause, column.system == system)
            if code:
                clause = and_(clause, or_(column.code == code, column.unit == code))
        conditions.append(clause)
    return rows.c.resource_id.in_(matching_ids(number_index, parameter, or_(*conditions)))

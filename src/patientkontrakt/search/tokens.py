"""Token search: `[system]|[code]`, `:not`, `:text`, `:missing` (search.html#token).

Codings, CodeableConcepts, Identifiers, ContactPoints, codes, ids, booleans and uris are
tokens; identifiers inside References are kept here too, under `<param>:identifier`.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from sqlalchemy import ColumnElement, FromClause, and_, or_

from patientkontrakt.search.strings import normalise
from patientkontrakt.search.values import (
    ESCAPED_PIPE,
    Criterion,
    Row,
    clip,
    matching_ids,
    unsupported_modifier,
)
from patientkontrakt.store.tables import token_index

_TOP = "\U0010ffff"
_CONTACT_SYSTEMS = frozenset({"phone", "fax", "email", "pager", "url", "sms", "other"})


@dataclass(frozen=True)
class TokenValue:
    """`system|code`, `|code` (no system), `system|` (any code) or `code` (any system)."""

    system: str | None
    code: str | None
    has_system: bool

    @classmethod
    def parse(cls, raw: str) -> TokenValue:
        """Parse one token search value (an escaped pipe is part of system or code)."""
        if "|" not in raw:
            return cls(None, _unescape(raw) or None, has_system=False)
        system, _, code = raw.partition("|")
        return cls(_unescape(system) or None, _unescape(code) or None, has_system=True)


def _unescape(text: str) -> str:
    return text.replace(ESCAPED_PIPE, "|")


def _row(system: Any, code: Any, text: Any = None) -> Row:
    return (
        token_index,
        {
            "system": clip(system) if isinstance(system, str) else None,
            "code": clip(code) if isinstance(code, str) else None,
            "text": clip(normalise(text)) if isinstance(text, str) else None,
        },
    )


def _rows_of(value: Any) -> list[Row]:
    if isinstance(value, bool):
        return [_row(None, "true" if value else "false")]
    if isinstance(value, str):
        return [_row(None, value)]
    if not isinstance(value, dict):
        return []
    if "coding" in value or ("text" in value and "code" not in value and "value" not in value):
        rows = [_rows_of_coding(c) for c in value.get("coding", []) if isinstance(c, dict)]
        if isinstance(value.get("text"), str):
            rows.append(_row(None, None, value["text"]))
        return rows
    if "code" in value or "display" in value:
        return [_rows_of_coding(value)]
    if "value" in value:  # Identifier or ContactPoint
        kind = value.get("type")
        type_text = kind.get("text") if isinstance(kind, dict) else None
        system = value.get("system")
        if system in _CONTACT_SYSTEMS:
            system = None  # a ContactPoint's system is a kind of contact, not a namespace
        return [_row(system, value["value"], type_text)]
    return []


def _rows_of_coding(coding: dict[str, Any]) -> Row:
    return _row(coding.get("system"), coding.get("code"), coding.get("display"))


def index_rows(values: list[Any]) -> list[Row]:
    """Token rows for the extracted values, without duplicates."""
    rows: list[Row] = []
    seen: set[tuple[Any, ...]] = set()
    for value in values:
        for table, row in _rows_of(value):
            key = (row["system"], row["code"], row["text"])
            if key not in seen and (row["code"] is not None or row["text"] is not None):
                seen.add(key)
                rows.append((table, row))
    return rows


def value_condition(value: TokenValue) -> ColumnElement[bool]:
    """The condition on token_index rows for one token value."""
    column = token_index.c
    clauses: list[ColumnElement[bool]] = []
    if value.code is not None:
        clauses.append(column.code == value.code)
    else:
        clauses.append(column.code.is_not(None))
    if value.has_system:
        clauses.append(column.system == value.system if value.system else column.system.is_(None))
    return and_(*clauses)


def predicate(criterion: Criterion, rows: FromClause) -> ColumnElement[bool]:
    """The WHERE clause on `resource` for a token criterion."""
    parameter = criterion.parameter
    if criterion.modifier == "text":
        conditions = []
        for raw in criterion.values:
            wanted = clip(normalise(_unescape(raw)))
            column = token_index.c.text
            conditions.append((column >= wanted) & (column < wanted + _TOP))
        return rows.c.resource_id.in_(matching_ids(token_index, parameter, or_(*conditions)))
    if criterion.modifier not in (None, "not"):
        raise unsupported_modifier(criterion)
    condition = or_(*(value_condition(TokenValue.parse(v)) for v in criterion.values))
    matched = rows.c.resource_id.in_(matching_ids(token_index, parameter, condition))
    # :not also returns resources without any value (search.html#modifiers).
    return ~matched if criterion.modifier == "not" else matched

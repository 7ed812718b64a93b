"""String search: case- and accent-insensitive prefix match, `:exact`, `:contains`.

Swedish names are normalised the way Swedish users read them: case and most diacritics are
ignored (é = e, ü = u), but å, ä and ö stay letters of their own (Åsa is not Asa), and the
normalised form sorts å, ä, ö after z in Swedish order. Æ and ø count as ä and ö.
"""

from __future__ import annotations

import unicodedata
from typing import Any

from sqlalchemy import ColumnElement, FromClause, or_

from patientkontrakt.search.values import (
    Criterion,
    Row,
    clip,
    matching_ids,
    unsupported_modifier,
)
from patientkontrakt.store.tables import string_index

# Swedish letters keep their identity and sort after z: { | } follow z in ASCII.
_SWEDISH = {"å": "{", "ä": "|", "ö": "}", "æ": "|", "ø": "}"}
_KEEP_MARKS = {("a", "\u030a"): "å", ("a", "\u0308"): "ä", ("o", "\u0308"): "ö"}
_TOP = "\U0010ffff"


def normalise(text: str) -> str:
    """The search and sort form of `text`."""
    if text.isascii():  # most index values: nothing to decompose, case folding is lower()
        return text.lower()
    out: list[str] = []
    for ch in unicodedata.normalize("NFD", text.casefold()):
        if unicodedata.combining(ch):
            if out and (out[-1], ch) in _KEEP_MARKS:
                out[-1] = _KEEP_MARKS[(out[-1], ch)]
            continue
        out.append(ch)
    return "".join(_SWEDISH.get(ch, ch) for ch in out)


_NAME_PARTS = ("text", "family", "given", "prefix", "suffix")
_ADDRESS_PARTS = ("text", "line", "city", "district", "state", "postalCode", "country")


def _strings(value: Any) -> list[str]:
    if isinstance(value, str):
        return [value]
    if isinstance(value, dict):
        parts = _NAME_PARTS if "family" in value or "given" in value else _ADDRESS_PARTS
        found: list[str] = []
        for key in parts if any(k in value for k in parts) else ("text", "display", "value"):
            item = value.get(key)
            found.extend(
                i for i in (item if isinstance(item, list) else [item]) if isinstance(i, str)
            )
        return found
    return []


def index_rows(values: list[Any]) -> list[Row]:
    """One row per string (names and addresses give one per part)."""
    seen: set[str] = set()
    rows: list[Row] = []
    for value in values:
        for text in _strings(value):
            if text not in seen:
                seen.add(text)
                rows.append((string_index, {"value": clip(normalise(text)), "exact": clip(text)}))
    return rows


def _escape_like(text: str) -> str:
    return text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")


def predicate(criterion: Criterion, rows: FromClause) -> ColumnElement[bool]:
    """The WHERE clause on `resource` for a string criterion."""
    parameter = criterion.parameter
    column = string_index.c
    conditions: list[ColumnElement[bool]] = []
    for raw in criterion.values:
        if criterion.modifier == "exact":
            conditions.append(column.exact == clip(raw))
            continue
        wanted = clip(normalise(raw))
        if criterion.modifier == "contains":
            conditions.append(column.value.like(f"%{_escape_like(wanted)}%", escape="\\"))
        elif criterion.modifier is None:
            # A range, not LIKE: both databases then use the b-tree for the prefix.
            conditions.append((column.value >= wanted) & (column.value < wanted + _TOP))
        else:
            raise unsupported_modifier(criterion)
    return rows.c.resource_id.in_(matching_ids(string_index, parameter, or_(*conditions)))

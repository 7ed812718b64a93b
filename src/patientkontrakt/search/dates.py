"""Date search over ranges (search.html#date): every value is the interval its precision
implies, `2026-11` being all of November; prefixes compare intervals.

Dates and times without a zone are read in Europe/Stockholm; everything is stored in UTC as a
half-open interval [low, high).
"""

from __future__ import annotations

import datetime as dt
import re
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import ColumnElement, FromClause, and_, not_, or_

from patientkontrakt.outcomes import bad_request
from patientkontrakt.search.values import (
    Criterion,
    Row,
    matching_ids,
    unsupported_modifier,
)
from patientkontrakt.store.tables import date_index

STOCKHOLM = ZoneInfo("Europe/Stockholm")
MIN_INSTANT = dt.datetime(1, 1, 2, tzinfo=dt.UTC)
MAX_INSTANT = dt.datetime(9999, 12, 30, tzinfo=dt.UTC)
PREFIXES = ("eq", "ne", "gt", "lt", "ge", "le", "sa", "eb", "ap")

_DATE = re.compile(
    r"(?P<y>\d{4})(?:-(?P<m>\d{2})(?:-(?P<d>\d{2})"
    r"(?:T(?P<H>\d{2}):(?P<M>\d{2})(?::(?P<S>\d{2})(?P<f>\.\d+)?)?"
    r"(?P<z>Z|[+-]\d{2}:\d{2})?)?)?)?",
    re.ASCII,
)


def parse_range(text: str) -> tuple[dt.datetime, dt.datetime]:
    """The UTC interval [low, high) of a FHIR date, dateTime or instant; ValueError if none."""
    match = _DATE.fullmatch(text.strip())
    if match is None:
        raise ValueError(f"not a FHIR date: {text!r}")
    g = match.groupdict()
    zone: dt.tzinfo = STOCKHOLM
    if g["z"]:
        zone = dt.UTC if g["z"] == "Z" else _offset(g["z"])
    year = int(g["y"])
    if g["m"] is None:
        start = dt.datetime(year, 1, 1, tzinfo=zone)
        end = dt.datetime(year + 1, 1, 1, tzinfo=zone) if year < 9999 else MAX_INSTANT
    elif g["d"] is None:
        month = int(g["m"])
        start = dt.datetime(year, month, 1, tzinfo=zone)
        if month < 12:
            end = dt.datetime(year, month + 1, 1, tzinfo=zone)
        else:
            end = dt.datetime(year + 1, 1, 1, tzinfo=zone) if year < 9999 else MAX_INSTANT
    else:
        day = dt.datetime(year, int(g["m"]), int(g["d"]), tzinfo=zone)
        if g["H"] is None:
            start, end = day, _add_local(day, dt.timedelta(days=1))
        else:
            seconds = int(g["S"] or 0)
            fraction = g["f"] or ""
            micro = int((fraction[1:] + "000000")[:6]) if fraction else 0
            start = day.replace(
                hour=int(g["H"]), minute=int(g["M"]), second=seconds, microsecond=micro
            )
            if fraction:
                step = dt.timedelta(microseconds=max(1, 10 ** (6 - min(6, len(fraction) - 1))))
            elif g["S"] is not None:
                step = dt.timedelta(seconds=1)
            else:
                step = dt.timedelta(minutes=1)
            end = _add_local(start, step)
    return _utc(start), _utc(end)


def _offset(text: str) -> dt.timezone:
    sign = 1 if text[0] == "+" else -1
    hours, minutes = int(text[1:3]), int(text[4:6])
    return dt.timezone(sign * dt.timedelta(hours=hours, minutes=minutes))


def _add_local(moment: dt.datetime, delta: dt.timedelta) -> dt.datetime:
    # Wall-clock arithmetic, so a Swedish day is 23 or 25 hours at the DST changes.
    try:
        naive = moment.replace(tzinfo=None) + delta
    except OverflowError:  # the end of 9999-12-31
        return MAX_INSTANT
    return naive.replace(tzinfo=moment.tzinfo)


def _utc(moment: dt.datetime) -> dt.datetime:
    try:
        return moment.astimezone(dt.UTC)
    except OverflowError:
        return MIN_INSTANT if moment.year < 2 else MAX_INSTANT


def _ranges_of(value: Any) -> list[tuple[dt.datetime, dt.datetime]]:
    if isinstance(value, str):
        return [parse_range(value)]
    if not isinstance(value, dict):
        return []
    if "start" in value or "end" in value:  # Period; an open end is unbounded
        low = parse_range(value["start"])[0] if isinstance(value.get("start"), str) else None
        high = parse_range(value["end"])[1] if isinstance(value.get("end"), str) else None
        return [(low or MIN_INSTANT, high or MAX_INSTANT)]
    ranges = [parse_range(e) for e in value.get("event", []) if isinstance(e, str)]  # Timing
    repeat = value.get("repeat")
    if isinstance(repeat, dict) and isinstance(repeat.get("boundsPeriod"), dict):
        ranges += _ranges_of(repeat["boundsPeriod"])
    return ranges


def index_rows(values: list[Any]) -> list[Row]:
    """One row per date, period or timing event."""
    rows: list[Row] = []
    for value in values:
        try:
            ranges = _ranges_of(value)
        except ValueError:
            continue  # validation let it through; it cannot be searched
        rows += [(date_index, {"low": low, "high": high}) for low, high in ranges]
    return rows


def split_prefix(raw: str) -> tuple[str, str]:
    """(`ge`, `2026-11-01`) from `ge2026-11-01`; `eq` when no prefix is written."""
    if raw[:2] in PREFIXES and not raw[:2].isdigit():
        return raw[:2], raw[2:]
    return "eq", raw


def condition(prefix: str, low: dt.datetime, high: dt.datetime) -> ColumnElement[bool]:
    """The condition on date_index rows for a prefix and the search value's interval."""
    lo, hi = date_index.c.low, date_index.c.high
    equal = and_(lo >= low, hi <= high)
    if prefix == "eq":
        return equal
    if prefix == "ne":
        return not_(equal)
    if prefix == "gt":
        return hi > high
    if prefix == "lt":
        return lo < low
    if prefix == "ge":
        return or_(hi > high, equal)
    if prefix == "le":
        return or_(lo < low, equal)
    if prefix == "sa":
        return lo >= high
    if prefix == "eb":
        return hi <= low
    # ap: within 10% of the distance from now, at least a day (search.html#prefix).
    now = dt.datetime.now(dt.UTC)
    slack = max(dt.timedelta(days=1), abs(now - low) / 10)
    return and_(lo < high + slack, hi > low - slack)


def parse_value(raw: str, code: str) -> tuple[str, dt.datetime, dt.datetime]:
    """Prefix and interval of a date search value; 400 when malformed."""
    prefix, text = split_prefix(raw)
    try:
        low, high = parse_range(text)
    except ValueError as exc:
        raise bad_request(f"{code}={raw!r} is not a valid date search value") from exc
    return prefix, low, high


def predicate(criterion: Criterion, rows: FromClause) -> ColumnElement[bool]:
    """The WHERE clause on `resource` for a date criterion."""
    parameter = criterion.parameter
    if criterion.modifier is not None:
        raise unsupported_modifier(criterion)
    conditions = [condition(*parse_value(raw, parameter.code)) for raw in criterion.values]
    return rows.c.resource_id.in_(matching_ids(date_index, parameter, or_(*conditions)))


def last_updated_predicate(criterion: Criterion, rows: FromClause) -> ColumnElement[bool]:
    """`_lastUpdated` on the resource row itself (no index rows needed)."""
    conditions = []
    for raw in criterion.values:
        prefix, low, high = parse_value(raw, "_lastUpdated")
        conditions.append(_instant_condition(prefix, rows.c.last_updated, low, high))
    return or_(*conditions)


def _instant_condition(
    prefix: str, column: ColumnElement[dt.datetime], low: dt.datetime, high: dt.datetime
) -> ColumnElement[bool]:
    equal = and_(column >= low, column < high)
    table: dict[str, ColumnElement[bool]] = {
        "eq": equal,
        "ne": not_(equal),
        "gt": column >= high,
        "lt": column < low,
        "ge": column >= low,
        "le": column < high,
        "sa": column >= high,
        "eb": column < low,
    }
    if prefix in table:
        return table[prefix]
    slack = max(dt.timedelta(days=1), abs(dt.datetime.now(dt.UTC) - low) / 10)
    return and_(column >= low - slack, column < high + slack)

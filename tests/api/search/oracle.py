"""A plain in-memory FHIR search, written from the R4 spec (search.html), for the property test.

It knows only the handful of parameters the property test searches with, reads the resources'
JSON directly (no index, no product code) and answers a search with a set of `Type/id` keys.

Strings follow search.html#string (case- and accent-insensitive prefix; `:exact`, `:contains`)
with this product's Swedish rule: å, ä and ö are letters of their own (Åsa is not Asa), æ and ø
count as ä and ö, every other diacritic is ignored (é = e, ü = u). Dates follow search.html#date
and #prefix: every value is the interval its precision implies, read in Europe/Stockholm when it
has no zone; a Period is [start, end] with a missing end open.
"""

from __future__ import annotations

import datetime as dt
import re
import unicodedata
from collections.abc import Callable
from typing import Any
from zoneinfo import ZoneInfo

Resource = dict[str, Any]
Store = dict[str, Resource]
"""`Type/id` to the resource JSON as it was sent (with its id)."""

STOCKHOLM = ZoneInfo("Europe/Stockholm")
BEFORE_ALL = dt.datetime.min.replace(tzinfo=dt.UTC)
AFTER_ALL = dt.datetime.max.replace(tzinfo=dt.UTC)
Interval = tuple[dt.datetime, dt.datetime]
"""A half-open UTC interval [low, high)."""

RESULT_PARAMETERS = frozenset({"_count", "_sort", "_total", "_summary", "_elements"})


# --- strings -------------------------------------------------------------------------------

_OWN_LETTERS = {"å": "å", "ä": "ä", "ö": "ö", "æ": "ä", "ø": "ö"}


def fold(text: str) -> str:
    """Case and non-Swedish diacritics removed; å, ä, ö (and æ, ø as ä, ö) kept as letters."""
    # Composed first, so an `a` followed by a combining ring is the letter å.
    composed = unicodedata.normalize("NFC", unicodedata.normalize("NFC", text).casefold())
    out = []
    for ch in composed:
        if ch in _OWN_LETTERS:
            out.append(_OWN_LETTERS[ch])
        else:
            out.append(
                "".join(c for c in unicodedata.normalize("NFD", ch) if not unicodedata.combining(c))
            )
    return "".join(out)


def string_matches(modifier: str | None, wanted: str, value: str) -> bool:
    """search.html#string: prefix by default, `:exact` whole and as written, `:contains`."""
    if modifier is None:
        return fold(value).startswith(fold(wanted))
    if modifier == "exact":
        return value == wanted
    if modifier == "contains":
        return fold(wanted) in fold(value)
    raise AssertionError(f"the oracle has no string modifier :{modifier}")


# --- dates ---------------------------------------------------------------------------------

_DATE = re.compile(
    r"(?P<year>\d{4})(?:-(?P<month>\d{2})(?:-(?P<day>\d{2})"
    r"(?:T(?P<hour>\d{2}):(?P<minute>\d{2})(?::(?P<second>\d{2}))?"
    r"(?P<zone>Z|[+-]\d{2}:\d{2})?)?)?)?"
)


def _local_midnight(day: dt.date) -> dt.datetime:
    return dt.datetime(day.year, day.month, day.day, tzinfo=STOCKHOLM).astimezone(dt.UTC)


def _zone(text: str | None) -> dt.tzinfo:
    if text is None:
        return STOCKHOLM
    if text == "Z":
        return dt.UTC
    sign = -1 if text.startswith("-") else 1
    return dt.timezone(sign * dt.timedelta(hours=int(text[1:3]), minutes=int(text[4:6])))


def interval(text: str) -> Interval:
    """The UTC interval a date, dateTime or instant stands for (search.html#date)."""
    match = _DATE.fullmatch(text)
    assert match is not None, f"the oracle cannot read the date {text!r}"
    year = int(match["year"])
    if match["month"] is None:
        return _local_midnight(dt.date(year, 1, 1)), _local_midnight(dt.date(year + 1, 1, 1))
    month = int(match["month"])
    if match["day"] is None:
        following = dt.date(year + 1, 1, 1) if month == 12 else dt.date(year, month + 1, 1)
        return _local_midnight(dt.date(year, month, 1)), _local_midnight(following)
    day = dt.date(year, month, int(match["day"]))
    if match["hour"] is None:
        return _local_midnight(day), _local_midnight(day + dt.timedelta(days=1))
    start = dt.datetime(
        year,
        month,
        day.day,
        int(match["hour"]),
        int(match["minute"]),
        int(match["second"] or 0),
        tzinfo=_zone(match["zone"]),
    ).astimezone(dt.UTC)
    step = dt.timedelta(seconds=1 if match["second"] is not None else 60)
    return start, start + step


def period_interval(period: dict[str, str]) -> Interval:
    """A Period: from its start's beginning to its end's end; a missing side is unbounded."""
    low = interval(period["start"])[0] if "start" in period else BEFORE_ALL
    high = interval(period["end"])[1] if "end" in period else AFTER_ALL
    return low, high


def _overlaps(a: Interval, b: Interval) -> bool:
    return a[0] < b[1] and b[0] < a[1]


def _contains(outer: Interval, inner: Interval) -> bool:
    return outer[0] <= inner[0] and inner[1] <= outer[1]


def date_matches(prefix: str, search: Interval, target: Interval) -> bool:
    """search.html#prefix, sentence by sentence, for a search value and a target value."""
    above = (search[1], AFTER_ALL)
    below = (BEFORE_ALL, search[0])
    if prefix == "eq":  # the range of the search value fully contains the range of the target
        return _contains(search, target)
    if prefix == "ne":  # ... does not fully contain the range of the target value
        return not _contains(search, target)
    if prefix == "gt":  # the range above the search value intersects the range of the target
        return _overlaps(above, target)
    if prefix == "lt":  # the range below the search value intersects the range of the target
        return _overlaps(below, target)
    if prefix == "ge":  # gt, or the range of the search value fully contains the target's
        return _overlaps(above, target) or _contains(search, target)
    if prefix == "le":
        return _overlaps(below, target) or _contains(search, target)
    if prefix == "sa":  # no overlap, and the range above the search value contains the target
        return not _overlaps(search, target) and _contains(above, target)
    if prefix == "eb":
        return not _overlaps(search, target) and _contains(below, target)
    raise AssertionError(f"the oracle has no date prefix {prefix}")


def split_prefix(raw: str) -> tuple[str, str]:
    """(`ge`, `2021-03`) from `ge2021-03`; `eq` when no prefix is written."""
    if raw[:2].isalpha():
        return raw[:2], raw[2:]
    return "eq", raw


# --- tokens and references -----------------------------------------------------------------

Token = tuple[str | None, str]


def token_matches(raw: str, token: Token) -> bool:
    """search.html#token: `code`, `system|code`, `|code` and `system|`."""
    system, code = token
    if "|" not in raw:
        return code == raw
    wanted_system, _, wanted_code = raw.partition("|")
    if wanted_system == "":
        return system is None and code == wanted_code
    if wanted_code == "":
        return system == wanted_system
    return system == wanted_system and code == wanted_code


def reference_matches(raw: str, modifier: str | None, reference: str) -> bool:
    """search.html#reference: `Type/id`, or a bare id (with `:Type`, of that type)."""
    target_type, _, target_id = reference.partition("/")
    if "/" in raw:
        return raw == reference
    return target_id == raw and (modifier is None or modifier == target_type)


# --- the parameters the property test uses -------------------------------------------------


def _names(resource: Resource) -> list[str]:
    found = []
    for name in resource.get("name", []):
        found += [name[k] for k in ("text", "family") if k in name]
        for key in ("given", "prefix", "suffix"):
            found += name.get(key, [])
    return found


def _families(resource: Resource) -> list[str]:
    return [n["family"] for n in resource.get("name", []) if "family" in n]


def _birth_date(resource: Resource) -> list[Interval]:
    return [interval(resource["birthDate"])] if "birthDate" in resource else []


def _active(resource: Resource) -> list[Token]:
    active = resource.get("active")
    return [] if active is None else [(None, "true" if active else "false")]


def _status(resource: Resource) -> list[Token]:
    return [(None, resource["status"])] if "status" in resource else []


def _period(resource: Resource) -> list[Interval]:
    return [period_interval(resource["period"])] if "period" in resource else []


def _subject(resource: Resource) -> list[str]:
    return [resource["subject"]["reference"]] if "subject" in resource else []


def _tags(resource: Resource) -> list[Token]:
    return [(t.get("system"), t["code"]) for t in resource.get("meta", {}).get("tag", [])]


PARAMETERS: dict[tuple[str, str], tuple[str, Callable[[Resource], list[Any]]]] = {
    ("Patient", "name"): ("string", _names),
    ("Patient", "family"): ("string", _families),
    ("Patient", "birthdate"): ("date", _birth_date),
    ("Patient", "active"): ("token", _active),
    ("Patient", "_tag"): ("token", _tags),
    ("CarePlan", "status"): ("token", _status),
    ("CarePlan", "date"): ("date", _period),
    ("CarePlan", "subject"): ("reference", _subject),
    ("CarePlan", "_tag"): ("token", _tags),
}


def matches(resource: Resource, name: str, raw: str, store: Store) -> bool:
    """Whether `resource` satisfies one `name=raw` search parameter (commas OR)."""
    head, dot, rest = name.partition(".")
    code, _, modifier_text = head.partition(":")
    modifier = modifier_text or None
    kind, extract = PARAMETERS[(resource["resourceType"], code)]
    values = extract(resource)
    if dot:  # a chain (search.html#chaining): any referenced resource matches the rest
        assert kind == "reference"
        targets = [store[r] for r in values if r in store]
        return any(
            matches(t, rest, raw, store)
            for t in targets
            if modifier is None or t["resourceType"] == modifier
        )
    if modifier == "missing":
        return (not values) == (raw == "true")
    wanted = raw.split(",")
    if kind == "string":
        return any(string_matches(modifier, w, v) for w in wanted for v in values)
    if kind == "token":
        found = any(token_matches(w, t) for w in wanted for t in values)
        if modifier == "not":  # includes resources without any value (search.html#token)
            return not found
        assert modifier is None, modifier
        return found
    if kind == "date":
        assert modifier is None, modifier
        searched = [(split_prefix(w)[0], interval(split_prefix(w)[1])) for w in wanted]
        return any(date_matches(p, s, v) for p, s in searched for v in values)
    assert kind == "reference"
    return any(reference_matches(w, modifier, v) for w in wanted for v in values)


def search(resource_type: str, pairs: list[tuple[str, str]], store: Store) -> set[str]:
    """Keys (`Type/id`) of the resources of `resource_type` matching every pair."""
    return {
        key
        for key, resource in store.items()
        if resource["resourceType"] == resource_type
        and all(
            matches(resource, name, raw, store)
            for name, raw in pairs
            if name not in RESULT_PARAMETERS
        )
    }

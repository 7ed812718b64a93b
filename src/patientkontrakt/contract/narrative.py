"""Swedish narrative for the contract document: XHTML built from escaped text, and the dates,
times, opening hours and contact details written the way a Swedish reader expects them.

Every piece of text from a resource goes through `text()` (HTML-escaped, characters XML 1.0
forbids removed), so the `div` is well-formed XHTML whatever the resources hold
(narrative.html#xhtml: no scripts, no forms, only basic formatting elements).
"""

from __future__ import annotations

import datetime as dt
import html
import re
from collections.abc import Iterable, Sequence
from typing import Any
from zoneinfo import ZoneInfo

STOCKHOLM = ZoneInfo("Europe/Stockholm")
XHTML_NAMESPACE = "http://www.w3.org/1999/xhtml"

WEEKDAYS = ("måndag", "tisdag", "onsdag", "torsdag", "fredag", "lördag", "söndag")
MONTHS = (
    "januari",
    "februari",
    "mars",
    "april",
    "maj",
    "juni",
    "juli",
    "augusti",
    "september",
    "oktober",
    "november",
    "december",
)
DAY_CODES = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
"""FHIR's days-of-week codes in week order."""
DAY_SHORT = {"mon": "mån", "tue": "tis", "wed": "ons", "thu": "tors", "fri": "fre", "sat": "lör"}
DAY_SHORT["sun"] = "sön"

TELECOM_LABELS = {
    "phone": "telefon",
    "email": "e-post",
    "sms": "sms",
    "url": "webb",
    "fax": "fax",
    "pager": "personsökare",
    "other": "kontakt",
}

_FORBIDDEN = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\ufffe\uffff]")


class Html(str):
    """Markup that is already safe to put in the div (never build one from resource text)."""


def text(value: object) -> Html:
    """`value` as escaped XHTML text."""
    return Html(html.escape(_FORBIDDEN.sub("", str(value)), quote=True))


def _safe(part: str | Html) -> Html:
    return part if isinstance(part, Html) else text(part)


def join(parts: Iterable[str | Html], separator: str = "") -> Html:
    """Parts joined; plain strings are escaped, Html is kept."""
    return Html(text(separator).join(_safe(p) for p in parts))


def element(tag: str, *content: str | Html) -> Html:
    """`<tag>content</tag>`; plain strings are escaped."""
    return Html(f"<{tag}>{join(content)}</{tag}>")


def paragraph(*content: str | Html) -> Html:
    """A `<p>`."""
    return element("p", *content)


def bold(*content: str | Html) -> Html:
    """A `<b>`."""
    return element("b", *content)


def bullet_list(items: Sequence[str | Html]) -> Html:
    """A `<ul>` of one `<li>` per item; empty when there are no items."""
    if not items:
        return Html("")
    return Html("<ul>" + "".join(element("li", item) for item in items) + "</ul>")


def div(*blocks: str | Html) -> str:
    """The narrative div with the XHTML namespace (narrative.html)."""
    return f'<div xmlns="{XHTML_NAMESPACE}">{join(blocks)}</div>'


def narrative(*blocks: str | Html) -> dict[str, str]:
    """A generated Narrative (`text` of a resource or a Composition section)."""
    return {"status": "generated", "div": div(*blocks)}


# --- dates and times ------------------------------------------------------------------------------


def parse_moment(value: object) -> dt.datetime | dt.date | None:
    """A FHIR date or dateTime: a UTC-aware datetime when it has a time, else a date.

    Partial dates (`2026`, `2026-11`) are the first day of their year or month.
    """
    if not isinstance(value, str) or not value:
        return None
    try:
        if "T" in value:
            moment = dt.datetime.fromisoformat(value.replace("Z", "+00:00"))
            if moment.tzinfo is None:
                moment = moment.replace(tzinfo=STOCKHOLM)
            return moment.astimezone(dt.UTC)
        parts = [int(p) for p in value.split("-")]
        return dt.date(
            parts[0], parts[1] if len(parts) > 1 else 1, parts[2] if len(parts) > 2 else 1
        )
    except (ValueError, IndexError):
        return None


def sort_key(value: object) -> dt.datetime | None:
    """A FHIR date or dateTime as a UTC instant for ordering (a date is its Stockholm midnight)."""
    moment = parse_moment(value)
    if moment is None:
        return None
    if isinstance(moment, dt.datetime):
        return moment
    return dt.datetime.combine(moment, dt.time(), STOCKHOLM).astimezone(dt.UTC)


def swedish_date(value: dt.date, *, weekday: bool = False) -> str:
    """`1 december 2026`, or `tisdag 1 december 2026` with the weekday."""
    written = f"{value.day} {MONTHS[value.month - 1]} {value.year}"
    return f"{WEEKDAYS[value.weekday()]} {written}" if weekday else written


def swedish_time(moment: dt.datetime) -> str:
    """`09:30`, in Stockholm time."""
    return moment.astimezone(STOCKHOLM).strftime("%H:%M")


def swedish_moment(value: object, *, weekday: bool = True) -> str:
    """A FHIR date or dateTime in Swedish: `tisdag 1 december 2026 kl. 09:30` (Stockholm time).

    A partial date is written as given (`november 2026`, `2026`); an unreadable value as is.
    """
    if isinstance(value, str) and re.fullmatch(r"\d{4}", value):
        return value
    if isinstance(value, str) and re.fullmatch(r"\d{4}-\d{2}", value):
        year, month = value.split("-")
        return f"{MONTHS[int(month) - 1]} {year}" if 1 <= int(month) <= 12 else value
    moment = parse_moment(value)
    if moment is None:
        return str(value)
    if isinstance(moment, dt.datetime):
        local = moment.astimezone(STOCKHOLM)
        return f"{swedish_date(local.date(), weekday=weekday)} kl. {swedish_time(local)}"
    return swedish_date(moment, weekday=weekday)


def swedish_span(start: object, end: object = None, *, weekday: bool = True) -> str:
    """`tisdag 1 december 2026 kl. 09:30–10:00`, or `från 2 november 2026`, or `a – b`."""
    if start and end:
        first, last = parse_moment(start), parse_moment(end)
        if (
            isinstance(first, dt.datetime)
            and isinstance(last, dt.datetime)
            and first.astimezone(STOCKHOLM).date() == last.astimezone(STOCKHOLM).date()
        ):
            return f"{swedish_moment(start, weekday=weekday)}–{swedish_time(last)}"
        return f"{swedish_moment(start, weekday=weekday)} – {swedish_moment(end, weekday=weekday)}"
    if start:
        return f"från {swedish_moment(start, weekday=weekday)}"
    if end:
        return f"till {swedish_moment(end, weekday=weekday)}"
    return ""


def period(value: object) -> str:
    """A FHIR Period in Swedish (dates without weekday), or empty."""
    if not isinstance(value, dict):
        return ""
    return swedish_span(value.get("start"), value.get("end"), weekday=False)


def between(value: object) -> str:
    """A requested Period: `mellan 11 januari 2027 och 22 januari 2027`, `från ...`, or empty."""
    if not isinstance(value, dict):
        return ""
    start, end = value.get("start"), value.get("end")
    if start and end:
        first, last = swedish_moment(start, weekday=False), swedish_moment(end, weekday=False)
        return f"mellan {first} och {last}"
    return swedish_span(start, end, weekday=False)


# --- people, contact details, opening hours -------------------------------------------------------


def human_name(names: object) -> str:
    """The usual or official name of a Patient, Practitioner or RelatedPerson, or empty."""
    if not isinstance(names, list):
        return ""
    candidates = [n for n in names if isinstance(n, dict)]
    preferred = [n for n in candidates if n.get("use") in ("usual", "official")] or candidates
    for name in preferred:
        if name.get("text"):
            return str(name["text"])
        parts = [*name.get("prefix", []), *name.get("given", []), name.get("family", "")]
        written = " ".join(str(p) for p in parts if p)
        if written:
            return written
    return ""


def telecom(points: object) -> list[str]:
    """Contact points as `telefon 08-123 45 67`; old ones (period ended) are left out."""
    if not isinstance(points, list):
        return []
    out = []
    for point in points:
        if not isinstance(point, dict) or not point.get("value"):
            continue
        ended = sort_key((point.get("period") or {}).get("end"))
        if ended is not None and ended < dt.datetime.now(dt.UTC):
            continue
        label = TELECOM_LABELS.get(str(point.get("system", "other")), "kontakt")
        out.append(f"{label} {point['value']}")
    return out


def days(codes: Sequence[str]) -> str:
    """`mån–fre`, `mån, ons, fre` or `lör–sön`: consecutive days of three or more as a range."""
    ordered = [c for c in DAY_CODES if c in codes]
    runs: list[list[str]] = []
    for code in ordered:
        if runs and DAY_CODES.index(code) == DAY_CODES.index(runs[-1][-1]) + 1:
            runs[-1].append(code)
        else:
            runs.append([code])
    parts = []
    for run in runs:
        if len(run) >= 3:
            parts.append(f"{DAY_SHORT[run[0]]}–{DAY_SHORT[run[-1]]}")
        else:
            parts.extend(DAY_SHORT[c] for c in run)
    return ", ".join(parts)


def _clock(value: object) -> str:
    return str(value)[:5] if isinstance(value, str) else ""


def available_times(times: object) -> list[str]:
    """PractitionerRole.availableTime as `mån–fre 08:00–16:30` (or `hela dagen`)."""
    if not isinstance(times, list):
        return []
    out = []
    for item in times:
        if not isinstance(item, dict):
            continue
        codes = [c for c in item.get("daysOfWeek", []) if isinstance(c, str)]
        when = days(codes) if codes else "alla dagar"
        if item.get("allDay"):
            out.append(f"{when} hela dagen")
            continue
        start, end = _clock(item.get("availableStartTime")), _clock(item.get("availableEndTime"))
        hours = f"{start}–{end}" if start and end else start or end
        out.append(f"{when} {hours}".strip())
    return out


def concept(value: object) -> str:
    """A CodeableConcept's text, else its first coding's display, else its code."""
    if not isinstance(value, dict):
        return ""
    if value.get("text"):
        return str(value["text"])
    for coding in value.get("coding", []):
        if isinstance(coding, dict) and (coding.get("display") or coding.get("code")):
            return str(coding.get("display") or coding.get("code"))
    return ""


def concepts(values: object) -> list[str]:
    """The texts of a list of CodeableConcepts."""
    if not isinstance(values, list):
        return []
    return [c for c in (concept(v) for v in values) if c]


def sentence(*parts: str) -> str:
    """Non-empty parts joined with `, ` and ended with a full stop."""
    written = ", ".join(p for p in parts if p)
    return written if not written or written.endswith((".", "!", "?")) else written + "."


def note_texts(notes: Any) -> list[str]:
    """Annotation texts, each with its date when it has one."""
    if not isinstance(notes, list):
        return []
    out = []
    for note in notes:
        if not isinstance(note, dict) or not note.get("text"):
            continue
        when = note.get("time")
        out.append(
            f"{swedish_moment(when, weekday=False)}: {note['text']}" if when else note["text"]
        )
    return out

"""HTTP headers of the FHIR RESTful API: ETag/If-Match, Prefer, HTTP dates."""

from __future__ import annotations

import datetime as dt
import re
from email.utils import format_datetime, parsedate_to_datetime
from typing import Literal

from patientkontrakt.outcomes import bad_request

ReturnPreference = Literal["minimal", "representation", "OperationOutcome"]

_ETAG = re.compile(r'\s*(?:W/)?"(\d+)"\s*', re.ASCII)


def parse_version_etag(value: str, header: str) -> int:
    """The version number in an ETag such as `W/"3"`; 400 when it is not one."""
    match = _ETAG.fullmatch(value)
    if match is None:
        raise bad_request(f'{header} must be a version ETag such as W/"3", not {value!r}')
    return int(match.group(1))


def etag_matches(header_value: str, version_id: int) -> bool:
    """True when an If-None-Match header names `version_id` (or is `*`)."""
    for part in header_value.split(","):
        part = part.strip()
        if part == "*":
            return True
        match = _ETAG.fullmatch(part)
        if match is not None and int(match.group(1)) == version_id:
            return True
    return False


def http_date(moment: dt.datetime) -> str:
    """An RFC 9110 HTTP-date for Last-Modified."""
    return format_datetime(moment.astimezone(dt.UTC), usegmt=True)


def parse_http_date(value: str) -> dt.datetime | None:
    """An If-Modified-Since date, or None when unparseable (the header is then ignored)."""
    try:
        parsed = parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=dt.UTC)


def return_preference(prefer: str | None) -> ReturnPreference:
    """The `return=` part of a Prefer header; representation by default."""
    if prefer:
        for part in prefer.split(";"):
            for token in part.split(","):
                key, _, value = token.strip().partition("=")
                if key.strip().lower() == "return":
                    value = value.strip().strip('"')
                    if value == "minimal":
                        return "minimal"
                    if value == "OperationOutcome":
                        return "OperationOutcome"
    return "representation"

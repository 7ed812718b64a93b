"""fhir/headers.py: version ETags, If-None-Match, HTTP dates (RFC 9110) and Prefer (RFC 7240)."""

from __future__ import annotations

import datetime as dt
from zoneinfo import ZoneInfo

import pytest

from patientkontrakt.fhir.headers import (
    etag_matches,
    http_date,
    parse_http_date,
    parse_version_etag,
    return_preference,
)
from patientkontrakt.outcomes import FhirError

STOCKHOLM = ZoneInfo("Europe/Stockholm")


@pytest.mark.parametrize(
    ("value", "version"),
    [('W/"3"', 3), ('"3"', 3), ('  W/"12"  ', 12), ('W/"0"', 0)],
)
def test_version_etag_is_parsed(value: str, version: int) -> None:
    assert parse_version_etag(value, "If-Match") == version


@pytest.mark.parametrize("value", ["3", 'W/"abc"', 'W/"3', "W/3", "", 'W/""', '"3", "4"', "*"])
def test_other_etags_are_a_400_naming_the_header(value: str) -> None:
    with pytest.raises(FhirError) as caught:
        parse_version_etag(value, "If-Match")
    assert caught.value.status == 400
    assert caught.value.issues[0].code == "invalid"
    assert "If-Match" in caught.value.issues[0].diagnostics


@pytest.mark.parametrize(
    ("header", "version", "matches"),
    [
        ('W/"2"', 2, True),
        ('W/"2"', 3, False),
        ('"2"', 2, True),
        ('W/"1", W/"2"', 2, True),
        ('W/"1",W/"3"', 2, False),
        ("*", 7, True),
        ('W/"x", *', 7, True),
        ("junk", 1, False),
    ],
)
def test_if_none_match(header: str, version: int, matches: bool) -> None:
    assert etag_matches(header, version) is matches


def test_http_date_is_imf_fixdate_in_gmt() -> None:
    # 28 November 2026 is a Saturday; Stockholm is UTC+1 in November.
    moment = dt.datetime(2026, 11, 28, 9, 15, 30, 123000, tzinfo=STOCKHOLM)
    assert http_date(moment) == "Sat, 28 Nov 2026 08:15:30 GMT"


def test_http_date_of_a_summer_instant() -> None:
    # Stockholm is UTC+2 in summer; 1 July 2026 is a Wednesday.
    assert http_date(dt.datetime(2026, 7, 1, 0, 30, tzinfo=STOCKHOLM)) == (
        "Tue, 30 Jun 2026 22:30:00 GMT"
    )


@pytest.mark.parametrize(
    "value",
    [
        "Sun, 06 Nov 1994 08:49:37 GMT",  # IMF-fixdate
        "Sunday, 06-Nov-94 08:49:37 GMT",  # obsolete RFC 850 format
        "Sun Nov  6 08:49:37 1994",  # obsolete asctime format
    ],
)
def test_the_three_http_date_formats_are_read(value: str) -> None:
    # RFC 9110 section 5.6.7: recipients accept all three formats.
    assert parse_http_date(value) == dt.datetime(1994, 11, 6, 8, 49, 37, tzinfo=dt.UTC)


def test_http_date_round_trip() -> None:
    moment = dt.datetime(2026, 11, 28, 8, 15, 30, tzinfo=dt.UTC)
    assert parse_http_date(http_date(moment)) == moment


@pytest.mark.parametrize("value", ["", "yesterday", "2026-11-28", "Sat, 99 Nov 2026 08:15:30 GMT"])
def test_unparseable_dates_are_ignored(value: str) -> None:
    assert parse_http_date(value) is None


@pytest.mark.parametrize(
    ("prefer", "expected"),
    [
        (None, "representation"),
        ("", "representation"),
        ("return=minimal", "minimal"),
        ("return=representation", "representation"),
        ("return=OperationOutcome", "OperationOutcome"),
        ('return="minimal"', "minimal"),
        ("return = minimal", "minimal"),
        ("RETURN=minimal", "minimal"),
        ("respond-async, return=minimal", "minimal"),
        ("handling=strict; return=OperationOutcome", "OperationOutcome"),
        ("handling=lenient", "representation"),
        ("return=everything", "representation"),
    ],
)
def test_prefer_return(prefer: str | None, expected: str) -> None:
    assert return_preference(prefer) == expected

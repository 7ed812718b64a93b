"""The Swedish narrative of `$patient-contract`: dates in Stockholm time, opening hours, contact
details and XHTML that stays well-formed whatever the resources hold. Pure functions, no database.
"""

from __future__ import annotations

import xml.etree.ElementTree as ET

import pytest

from patientkontrakt.contract import narrative as n


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        # Winter: UTC+1.
        ("2026-12-01T08:30:00Z", "tisdag 1 december 2026 kl. 09:30"),
        ("2026-12-01T09:30:00+01:00", "tisdag 1 december 2026 kl. 09:30"),
        # Summer: UTC+2, and the evening before in UTC is the next day in Stockholm.
        ("2026-07-01T07:30:00Z", "onsdag 1 juli 2026 kl. 09:30"),
        ("2026-06-30T22:15:00Z", "onsdag 1 juli 2026 kl. 00:15"),
        ("2027-01-11", "måndag 11 januari 2027"),
        ("2026-11", "november 2026"),
        ("2026", "2026"),
        ("not a date", "not a date"),
    ],
)
def test_moments_are_written_in_swedish_stockholm_time(value: str, expected: str) -> None:
    assert n.swedish_moment(value) == expected


def test_spans_and_periods() -> None:
    assert (
        n.swedish_span("2026-12-01T09:30:00+01:00", "2026-12-01T10:00:00+01:00")
        == "tisdag 1 december 2026 kl. 09:30–10:00"
    )
    assert n.period({"start": "2026-11-02"}) == "från 2 november 2026"
    assert n.period({"start": "2026-11-02", "end": "2027-05-01"}) == (
        "2 november 2026 – 1 maj 2027"
    )
    assert n.between({"start": "2027-01-11", "end": "2027-01-22"}) == (
        "mellan 11 januari 2027 och 22 januari 2027"
    )
    assert n.period(None) == ""


def test_opening_hours() -> None:
    times = [
        {
            "daysOfWeek": ["mon", "tue", "wed", "thu", "fri"],
            "availableStartTime": "08:00:00",
            "availableEndTime": "16:30:00",
        },
        {"daysOfWeek": ["sat", "sun"], "allDay": True},
        {"daysOfWeek": ["fri", "mon", "wed"], "availableStartTime": "10:00:00"},
    ]
    assert n.available_times(times) == [
        "mån–fre 08:00–16:30",
        "lör, sön hela dagen",
        "mån, ons, fre 10:00",
    ]


def test_contact_points_and_names() -> None:
    points = [
        {"system": "phone", "value": "08-46500412"},
        {"system": "email", "value": "sam@example.org"},
        {"system": "phone", "value": "08-1", "period": {"end": "2020-01-01"}},
    ]
    assert n.telecom(points) == ["telefon 08-46500412", "e-post sam@example.org"]
    names = [
        {"use": "old", "text": "Gammalt"},
        {"use": "official", "given": ["Sam"], "family": "T"},
    ]
    assert n.human_name(names) == "Sam T"


def test_every_text_is_escaped_and_the_div_is_xhtml() -> None:
    hostile = 'Tolvan <script>alert("x")</script> & Co \x07'

    div = n.div(n.paragraph(n.bold(hostile), " ", hostile), n.bullet_list([hostile]))

    root = ET.fromstring(div)
    assert root.tag == "{http://www.w3.org/1999/xhtml}div"
    assert [e.tag.split("}")[1] for e in root.iter()] == ["div", "p", "b", "ul", "li"]
    assert "<script>" not in div
    assert "&lt;script&gt;" in div
    assert "\x07" not in div
    assert "".join(root.itertext()).startswith('Tolvan <script>alert("x")</script> & Co')
    assert n.narrative("x") == {
        "status": "generated",
        "div": '<div xmlns="http://www.w3.org/1999/xhtml">x</div>',
    }

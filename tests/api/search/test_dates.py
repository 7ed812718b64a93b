"""Date search (search.html#date, #prefix): every value, stored or searched, is the interval its
precision implies (`2026-11` is all of November), read in Europe/Stockholm when it carries no
zone; the prefixes compare those intervals:

eq  the search range fully contains the target's     ne  it does not
gt  the range above the search value overlaps it      lt  the range below does
ge  gt or eq                                          le  lt or eq
sa  the target starts after the search range ends     eb  it ends before the search range starts
ap  approximately (the server picks the slack)

Types covered: date (Patient.birthdate), dateTime, instant and Period (Observation.date over
`effective[x]`), Period with open ends (CarePlan.date), instant (Appointment.date = start) and
`_lastUpdated` (the server's own meta.lastUpdated).
"""

from __future__ import annotations

import datetime as dt
from typing import Any
from zoneinfo import ZoneInfo

import anyio
import httpx
import pytest

from tests.api.search.helpers import assert_outcome, put
from tests.api.search.helpers import search_sorted as search

pytestmark = pytest.mark.anyio

STOCKHOLM = ZoneInfo("Europe/Stockholm")


# --- date: Patient.birthdate ------------------------------------------------------------------


@pytest.fixture
async def born(client: httpx.AsyncClient) -> None:
    for patient_id, birth_date in [
        ("tolvan", "1912-12-12"),
        ("newyearseve", "1979-12-31"),
        ("leap", "1980-02-29"),
        ("march", "1980-03"),
        ("year", "1980"),
        ("newyear", "1981-01-01"),
    ]:
        await put(client, {"resourceType": "Patient", "id": patient_id, "birthDate": birth_date})
    await put(client, {"resourceType": "Patient", "id": "unknown"})


@pytest.mark.usefixtures("born")
@pytest.mark.parametrize(
    ("value", "expected"),
    [
        # eq: the search range contains the birth date's range
        ("1980", ["leap", "march", "year"]),
        ("eq1980", ["leap", "march", "year"]),
        ("1980-03", ["march"]),
        ("1980-02-29", ["leap"]),
        ("1980-02", ["leap"]),
        # a day in Stockholm is not the UTC day: 1979-12-31 is not in 1980
        ("1979", ["newyearseve"]),
        ("1979-12-31", ["newyearseve"]),
        ("1912-12-12", ["tolvan"]),
        ("1912-12-13", []),
        # a wider value is not contained in a narrower search
        ("1980-03-15", []),
        # a more precise search value than the birth date never contains it
        ("1980-02-29T12:00:00", []),
        # ne: every other one with a value (not `unknown`)
        ("ne1980", ["newyear", "newyearseve", "tolvan"]),
        ("ne1980-03", ["leap", "newyear", "newyearseve", "tolvan", "year"]),
        # gt: something after the search range's end
        ("gt1980-02-29", ["march", "newyear", "year"]),
        ("gt1980", ["newyear"]),
        ("gt1981-01-01", []),
        # lt: something before its start
        ("lt1980-03", ["leap", "newyearseve", "tolvan", "year"]),
        ("lt1980", ["newyearseve", "tolvan"]),
        ("lt1912-12-12", []),
        # ge, le: gt or eq, lt or eq
        ("ge1980-03", ["march", "newyear", "year"]),
        ("ge1981-01-01", ["newyear"]),
        ("le1980-02-29", ["leap", "newyearseve", "tolvan", "year"]),
        ("le1912-12-12", ["tolvan"]),
        # sa: starts after the search range; eb: ends before it
        ("sa1980-02-29", ["march", "newyear"]),
        ("sa1979", ["leap", "march", "newyear", "year"]),
        ("eb1980-03", ["leap", "newyearseve", "tolvan"]),
        ("eb1980", ["newyearseve", "tolvan"]),
        ("eb1912-12-12", []),
        # ap: the server's slack grows with the distance from now; 1912 is far from anything
        # else stored here, and no slack is as much as 25 years for a date 114 years ago
        ("ap1912-12-12", ["tolvan"]),
        # OR
        ("1912,1981", ["newyear", "tolvan"]),
        ("lt1913,gt1980-12-31", ["newyear", "tolvan"]),
    ],
)
async def test_birthdate(client: httpx.AsyncClient, value: str, expected: list[str]) -> None:
    assert await search(client, "/Patient", {"birthdate": value}) == expected


@pytest.mark.usefixtures("born")
async def test_birthdate_and_by_repetition_is_a_range(client: httpx.AsyncClient) -> None:
    params = [("birthdate", "ge1980-01-01"), ("birthdate", "lt1980-04-01")]
    # `year` (all of 1980) reaches past April: lt overlaps, but ge needs its end after 1980-01-01
    assert await search(client, "/Patient", params) == ["leap", "march", "year"]
    params = [("birthdate", "sa1979"), ("birthdate", "eb1981")]
    assert await search(client, "/Patient", params) == ["leap", "march", "year"]


@pytest.mark.usefixtures("born")
async def test_birthdate_missing(client: httpx.AsyncClient) -> None:
    assert await search(client, "/Patient", {"birthdate:missing": "true"}) == ["unknown"]
    assert len(await search(client, "/Patient", {"birthdate:missing": "false"})) == 6


# --- dateTime, instant, Period: Observation.date over effective[x] ----------------------------


def observation(observation_id: str, **effective: Any) -> dict[str, Any]:
    return {
        "resourceType": "Observation",
        "id": observation_id,
        "status": "final",
        "code": {"text": "Blodtryck"},
        **effective,
    }


@pytest.fixture
async def observed(client: httpx.AsyncClient) -> None:
    for resource in [
        observation("morning", effectiveDateTime="2026-11-15T10:00:00+01:00"),
        observation("month", effectiveDateTime="2026-11"),
        observation("day", effectiveDateTime="2026-11-30"),
        observation("span", effectivePeriod={"start": "2026-11-20", "end": "2026-12-05"}),
        observation("instant", effectiveInstant="2026-12-01T08:00:00.000Z"),
        observation("ongoing", effectivePeriod={"start": "2026-10-01"}),
        observation("ended", effectivePeriod={"end": "2026-10-31"}),
        observation("never"),
    ]:
        await put(client, resource)


@pytest.mark.usefixtures("observed")
@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("2026-11", ["day", "month", "morning"]),
        ("2026-11-15", ["morning"]),
        ("2026-11-15T10:00:00+01:00", ["morning"]),
        ("2026-11-15T09:00:00Z", ["morning"]),
        ("2026-11-15T10:00:00", ["morning"]),
        ("2026-11-15T10:00:01+01:00", []),
        ("2026-12", ["instant"]),
        ("2026-12-01", ["instant"]),
        # a second holds the millisecond stored in it, a millisecond does not hold the second
        ("2026-12-01T08:00:00Z", ["instant"]),
        ("2026-12-01T08:00:00.000Z", ["instant"]),
        ("2026-12-01T08:00Z", ["instant"]),
        ("2026", ["day", "instant", "month", "morning", "span"]),
        ("2026-11-20", []),
        ("ne2026-11", ["ended", "instant", "ongoing", "span"]),
        ("gt2026-11-30", ["instant", "ongoing", "span"]),
        ("ge2026-11-30", ["day", "instant", "ongoing", "span"]),
        ("lt2026-11-01", ["ended", "ongoing"]),
        ("le2026-11", ["day", "ended", "month", "morning", "ongoing"]),
        ("le2026-11-20", ["ended", "month", "morning", "ongoing"]),
        ("sa2026-10-31", ["day", "instant", "month", "morning", "span"]),
        ("sa2026-11-30", ["instant"]),
        ("eb2026-11-01", ["ended"]),
        ("eb2026-11-21", ["ended", "morning"]),
        ("eb2026-12-06", ["day", "ended", "instant", "month", "morning", "span"]),
        ("gt2099", ["ongoing"]),
        ("lt1900", ["ended"]),
    ],
)
async def test_observation_date(client: httpx.AsyncClient, value: str, expected: list[str]) -> None:
    assert await search(client, "/Observation", {"date": value}) == expected


@pytest.mark.usefixtures("observed")
async def test_observation_date_missing(client: httpx.AsyncClient) -> None:
    assert await search(client, "/Observation", {"date:missing": "true"}) == ["never"]


# --- Period with open ends: CarePlan.date ------------------------------------------------------


def care_plan(plan_id: str, period: dict[str, str] | None) -> dict[str, Any]:
    resource: dict[str, Any] = {
        "resourceType": "CarePlan",
        "id": plan_id,
        "status": "active",
        "intent": "plan",
        "subject": {"reference": "Patient/tolvan"},
    }
    if period is not None:
        resource["period"] = period
    return resource


@pytest.fixture
async def planned(client: httpx.AsyncClient) -> None:
    for plan_id, period in [
        ("spring", {"start": "2026-01-01", "end": "2026-06-30"}),
        ("open", {"start": "2026-03-01"}),
        ("until", {"end": "2025-12-31"}),
        ("precise", {"start": "2026-03-01T08:00:00+01:00", "end": "2026-03-01T09:00:00+01:00"}),
        ("none", None),
    ]:
        await put(client, care_plan(plan_id, period))


@pytest.mark.usefixtures("planned")
@pytest.mark.parametrize(
    ("value", "expected"),
    [
        # eq: only a period wholly inside; an open end is never inside anything
        ("2026", ["precise", "spring"]),
        ("2026-03-01", ["precise"]),
        ("2026-03", ["precise"]),
        ("2025", []),
        ("ne2026", ["open", "until"]),
        # an open end reaches every future or past
        ("gt2026-12-31", ["open"]),
        ("gt3000", ["open"]),
        ("lt2026-01-01", ["until"]),
        ("lt1000", ["until"]),
        ("ge2026-03-01", ["open", "precise", "spring"]),
        ("ge2026-07-01", ["open"]),
        ("le2026-03-01", ["precise", "spring", "until"]),
        ("le2025-12-31", ["until"]),
        # sa: starts after the end of the search range
        ("sa2025-12-31", ["open", "precise", "spring"]),
        ("sa2026-02-28", ["open", "precise"]),
        ("sa2026-03-01", []),
        # eb: ends before the start of the search range
        ("eb2026-01-01", ["until"]),
        ("eb2026-07-01", ["precise", "spring", "until"]),
        ("eb2026-03-01T09:00:00+01:00", ["until"]),
        ("eb2026-03-01T09:00:01+01:00", ["precise", "until"]),
        # ap: overlaps the search range widened by the slack; at least a day either way
        ("ap2026-03-01T08:30:00+01:00", ["open", "precise", "spring"]),
    ],
)
async def test_care_plan_period(client: httpx.AsyncClient, value: str, expected: list[str]) -> None:
    assert await search(client, "/CarePlan", {"date": value}) == expected


@pytest.mark.usefixtures("planned")
async def test_care_plan_period_missing(client: httpx.AsyncClient) -> None:
    assert await search(client, "/CarePlan", {"date:missing": "true"}) == ["none"]
    present = await search(client, "/CarePlan", {"date:missing": "false"})
    assert present == ["open", "precise", "spring", "until"]


# --- Timing and choice types: CarePlan.activity-date over activity.detail.scheduled[x] ---------


@pytest.fixture
async def scheduled(client: httpx.AsyncClient) -> None:
    def plan(plan_id: str, **scheduled: Any) -> dict[str, Any]:
        resource = care_plan(plan_id, None)
        resource["activity"] = [{"detail": {"status": "scheduled", **scheduled}}]
        return resource

    await put(
        client,
        plan(
            "events",
            scheduledTiming={"event": ["2026-11-28T09:00:00+01:00", "2026-12-05T09:00:00+01:00"]},
        ),
    )
    await put(
        client,
        plan(
            "bounded",
            scheduledTiming={
                "repeat": {
                    "boundsPeriod": {"start": "2026-12-01", "end": "2026-12-31"},
                    "frequency": 1,
                    "period": 1,
                    "periodUnit": "d",
                }
            },
        ),
    )
    await put(client, plan("period", scheduledPeriod={"start": "2026-11-01", "end": "2026-11-15"}))
    await put(client, plan("text", scheduledString="varje morgon"))


@pytest.mark.usefixtures("scheduled")
@pytest.mark.parametrize(
    ("value", "expected"),
    [
        # each event of a Timing is a value of its own
        ("2026-11-28", ["events"]),
        ("2026-12-05", ["events"]),
        ("2026-11-29", []),
        ("2026-11", ["events", "period"]),
        # a Timing's bounds are a period
        ("2026-12", ["bounded", "events"]),
        ("2026-12-15", []),
        ("ge2026-12-15", ["bounded"]),
        ("sa2026-11-30", ["bounded", "events"]),
        ("eb2026-11-16", ["period"]),
        # free text is no date
        ("gt1900", ["bounded", "events", "period"]),
    ],
)
async def test_activity_date(client: httpx.AsyncClient, value: str, expected: list[str]) -> None:
    assert await search(client, "/CarePlan", {"activity-date": value}) == expected


# --- instant: Appointment.date, months and days in Stockholm ------------------------------------


def appointment(appointment_id: str, start: str) -> dict[str, Any]:
    return {
        "resourceType": "Appointment",
        "id": appointment_id,
        "status": "booked",
        "start": start,
        "end": start,
        "participant": [{"actor": {"reference": "Patient/tolvan"}, "status": "accepted"}],
    }


@pytest.fixture
async def booked(client: httpx.AsyncClient) -> None:
    for appointment_id, start in [
        # 2026-12-01 00:30 in Stockholm (UTC+1 in winter)
        ("utc-late", "2026-11-30T23:30:00Z"),
        # the same instant, written in Stockholm's own offset
        ("local-early", "2026-12-01T00:30:00+01:00"),
        # 2026-10-31 23:30 in Stockholm, after the change to winter time on 25 October
        ("october-end", "2026-10-31T23:30:00+01:00"),
        # 2026-07-01 00:30 in Stockholm (UTC+2 in summer)
        ("summer", "2026-06-30T22:30:00Z"),
        # 2026-06-30 23:30 in Stockholm
        ("june-end", "2026-06-30T21:30:00Z"),
        # New Year in Stockholm, still the old year in UTC
        ("new-year", "2026-12-31T23:15:00Z"),
        # with milliseconds
        ("precise", "2026-11-28T09:15:00.250+01:00"),
    ]:
        await put(client, appointment(appointment_id, start))


@pytest.mark.usefixtures("booked")
@pytest.mark.parametrize(
    ("value", "expected"),
    [
        # months and days are Stockholm's
        ("2026-12", ["local-early", "utc-late"]),
        ("2026-11", ["precise"]),
        ("2026-12-01", ["local-early", "utc-late"]),
        ("2026-11-30", []),
        ("2026-10", ["october-end"]),
        ("2026-10-31", ["october-end"]),
        ("2026-11-01", []),
        ("2026-07", ["summer"]),
        ("2026-07-01", ["summer"]),
        ("2026-06", ["june-end"]),
        ("2026-06-30", ["june-end"]),
        ("2027", ["new-year"]),
        ("2027-01-01", ["new-year"]),
        ("2026-12-31", []),
        # a search value with a zone means that instant, whatever zone it is written in
        ("2026-11-30T23:30:00Z", ["local-early", "utc-late"]),
        ("2026-12-01T00:30:00+01:00", ["local-early", "utc-late"]),
        ("2026-12-01T01:30:00+02:00", ["local-early", "utc-late"]),
        ("2026-11-30T18:30:00-05:00", ["local-early", "utc-late"]),
        ("2026-10-31T22:30:00Z", ["october-end"]),
        # without a zone it is Stockholm time: 00:30 on 1 December, not 23:30 UTC
        ("2026-12-01T00:30:00", ["local-early", "utc-late"]),
        ("2026-11-30T23:30:00", []),
        ("2026-07-01T00:30:00", ["summer"]),
        ("2026-06-30T22:30:00", []),
        # minute precision covers the whole minute, second precision the whole second
        ("2026-11-30T23:30Z", ["local-early", "utc-late"]),
        ("2026-11-28T09:15:00+01:00", ["precise"]),
        ("2026-11-28T09:15:00.250+01:00", ["precise"]),
        ("2026-11-28T09:15:00.25+01:00", ["precise"]),
        ("2026-11-28T09:15:00.251+01:00", []),
        # prefixes on instants
        ("gt2026-11-30T23:30:00Z", ["new-year"]),
        ("ge2026-11-30T23:30:00Z", ["local-early", "new-year", "utc-late"]),
        ("lt2026-11-30T23:30:00Z", ["june-end", "october-end", "precise", "summer"]),
        (
            "le2026-11-30T23:30:00Z",
            ["june-end", "local-early", "october-end", "precise", "summer", "utc-late"],
        ),
        ("ne2026-12", ["june-end", "new-year", "october-end", "precise", "summer"]),
        ("sa2026-11", ["local-early", "new-year", "utc-late"]),
        ("eb2026-11", ["june-end", "october-end", "summer"]),
        ("gt2026-12-01", ["new-year"]),
        ("lt2026-12-01", ["june-end", "october-end", "precise", "summer"]),
        ("ap2026-12-01T00:30:00+01:00", ["local-early", "utc-late"]),
    ],
)
async def test_appointment_date(client: httpx.AsyncClient, value: str, expected: list[str]) -> None:
    assert await search(client, "/Appointment", {"date": value}) == expected


# --- malformed values --------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("path", "name", "value"),
    [
        ("/Appointment", "date", "2026-13"),
        ("/Appointment", "date", "xx2026"),
        ("/Appointment", "date", ""),
        ("/Appointment", "date", "2026-02-30"),
        ("/Appointment", "date", "2026-1"),
        ("/Appointment", "date", "26-11-30"),
        ("/Appointment", "date", "2026-11-30T25:00:00Z"),
        ("/Appointment", "date", "2026-11-30T23:60:00Z"),
        ("/Appointment", "date", "2026-11-30T23:30:00+25:00"),
        ("/Appointment", "date", "2026-11-30 23:30:00"),
        ("/Appointment", "date", "2026-11-30T"),
        ("/Appointment", "date", "gt"),
        ("/Appointment", "date", "zz2026-11-30"),
        ("/Appointment", "date", "2026-11-30,yesterday"),
        ("/Appointment", "date:exact", "2026-11-30"),
        ("/Patient", "birthdate", "1912-12-32"),
        ("/Patient", "birthdate", "today"),
        ("/CarePlan", "date", "2026-W48"),
        ("/Observation", "date:missing", "maybe"),
        ("/Patient", "_lastUpdated", "yesterday"),
        ("/Patient", "_lastUpdated", "gt2026-13-01"),
    ],
)
async def test_malformed_date_is_400(
    client: httpx.AsyncClient, path: str, name: str, value: str
) -> None:
    assert_outcome(await client.get(path, params={name: value}), 400)


@pytest.mark.parametrize("value", ["0001-01-01", "9999-12-31", "9999-12", "9999", "ge0001"])
async def test_extreme_dates_do_not_fail(client: httpx.AsyncClient, value: str) -> None:
    await put(client, {"resourceType": "Patient", "id": "tolvan", "birthDate": "1912-12-12"})
    response = await client.get("/Patient", params={"birthdate": value})
    assert response.status_code == 200, response.text


@pytest.mark.parametrize("birth_date", ["0001-01-01", "9999-12-31"])
async def test_extreme_stored_dates_are_found(client: httpx.AsyncClient, birth_date: str) -> None:
    await put(client, {"resourceType": "Patient", "id": "edge", "birthDate": birth_date})
    assert await search(client, "/Patient", {"birthdate": birth_date}) == ["edge"]
    assert await search(client, "/Patient", {"birthdate": birth_date[:4]}) == ["edge"]


# --- _lastUpdated ------------------------------------------------------------------------------


def instant(text: str) -> dt.datetime:
    return dt.datetime.fromisoformat(text.replace("Z", "+00:00"))


def iso_ms(moment: dt.datetime) -> str:
    return moment.astimezone(dt.UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


async def test_last_updated(client: httpx.AsyncClient) -> None:
    first = await put(client, {"resourceType": "Patient", "id": "first"})
    await anyio.sleep(0.02)
    second = await put(client, {"resourceType": "Patient", "id": "second"})
    t1 = instant(first["meta"]["lastUpdated"])
    t2 = instant(second["meta"]["lastUpdated"])
    assert t1 < t2
    # meta.lastUpdated has millisecond precision: its value is that millisecond
    assert await search(client, "/Patient", {"_lastUpdated": iso_ms(t1)}) == ["first"]
    assert await search(client, "/Patient", {"_lastUpdated": f"eq{iso_ms(t2)}"}) == ["second"]
    assert await search(client, "/Patient", {"_lastUpdated": f"gt{iso_ms(t1)}"}) == ["second"]
    assert await search(client, "/Patient", {"_lastUpdated": f"ge{iso_ms(t1)}"}) == [
        "first",
        "second",
    ]
    assert await search(client, "/Patient", {"_lastUpdated": f"lt{iso_ms(t2)}"}) == ["first"]
    assert await search(client, "/Patient", {"_lastUpdated": f"le{iso_ms(t1)}"}) == ["first"]
    assert await search(client, "/Patient", {"_lastUpdated": f"ne{iso_ms(t1)}"}) == ["second"]
    assert await search(client, "/Patient", {"_lastUpdated": f"sa{iso_ms(t1)}"}) == ["second"]
    assert await search(client, "/Patient", {"_lastUpdated": f"eb{iso_ms(t2)}"}) == ["first"]
    # the same instants written in Stockholm time
    local = t1.astimezone(STOCKHOLM).isoformat(timespec="milliseconds")
    assert await search(client, "/Patient", {"_lastUpdated": local}) == ["first"]
    # a whole second or minute holds both when they share it; wide bounds hold both
    both = ["first", "second"]
    assert await search(client, "/Patient", {"_lastUpdated": "gt2000-01-01"}) == both
    assert await search(client, "/Patient", {"_lastUpdated": "lt2000-01-01"}) == []
    assert await search(client, "/Patient", {"_lastUpdated": "gt2999"}) == []
    before = iso_ms(t1 - dt.timedelta(seconds=5))
    after = iso_ms(t2 + dt.timedelta(seconds=5))
    params = [("_lastUpdated", f"ge{before}"), ("_lastUpdated", f"le{after}")]
    assert await search(client, "/Patient", params) == both
    # the day in Stockholm the first was written
    day = t1.astimezone(STOCKHOLM).date().isoformat()
    found = await search(client, "/Patient", {"_lastUpdated": day})
    assert "first" in found
    assert found == [
        pid
        for pid, moment in (("first", t1), ("second", t2))
        if moment.astimezone(STOCKHOLM).date().isoformat() == day
    ]


async def test_last_updated_follows_an_update(client: httpx.AsyncClient) -> None:
    await put(client, {"resourceType": "Patient", "id": "edited", "active": False})
    await put(client, {"resourceType": "Patient", "id": "untouched"})
    await anyio.sleep(0.02)
    edited = await put(client, {"resourceType": "Patient", "id": "edited", "active": True})
    t = instant(edited["meta"]["lastUpdated"])
    assert await search(client, "/Patient", {"_lastUpdated": f"ge{iso_ms(t)}"}) == ["edited"]
    assert await search(client, "/Patient", {"_lastUpdated": f"lt{iso_ms(t)}"}) == ["untouched"]

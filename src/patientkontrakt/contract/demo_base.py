"""Building blocks of the demo county: the test-data tag, references and the demo clock.

Every generated resource carries `meta.tag` HTEST (v3-ActReason: test health data) so that it is
recognisable as synthetic wherever it ends up, and names the product profile where one exists.
Times are relative to a reference date ("today" in Europe/Stockholm unless one is given) so
agreed times are upcoming for whoever loads the county; they are stored as UTC instants.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from patientkontrakt.contract.vocabulary import (
    TEST_DATA_TAG_CODE,
    TEST_DATA_TAG_SYSTEM,
    Canonicals,
)

TEST_TAG = {"system": TEST_DATA_TAG_SYSTEM, "code": TEST_DATA_TAG_CODE}
ID_PREFIX = "demo-"
"""Every demo resource's id starts with this, so the county is easy to find and remove."""


def _stockholm() -> dt.tzinfo:
    try:
        return ZoneInfo("Europe/Stockholm")
    except ZoneInfoNotFoundError:  # a system without tz data: Swedish standard time
        return dt.timezone(dt.timedelta(hours=1), "CET")


STOCKHOLM = _stockholm()


def today_in_stockholm() -> dt.date:
    """The current date in Sweden, the default reference date of the demo county."""
    return dt.datetime.now(STOCKHOLM).date()


def meta(canonicals: Canonicals, profile: str | None = None) -> dict[str, Any]:
    """`meta` with the test-data tag and, when given, the product profile's canonical URL."""
    out: dict[str, Any] = {"tag": [dict(TEST_TAG)]}
    if profile is not None:
        out["profile"] = [canonicals.profile(profile)]
    return out


def information_holder(canonicals: Canonicals, organization: dict[str, Any]) -> dict[str, Any]:
    """The extension naming the care provider unit that holds the information."""
    return {"url": canonicals.information_holder, "valueReference": organization}


def ref(resource_type: str, resource_id: str, display: str | None = None) -> dict[str, Any]:
    """A relative reference with its type, and a display text when one helps a human reader."""
    out: dict[str, Any] = {"reference": f"{resource_type}/{resource_id}", "type": resource_type}
    if display:
        out["display"] = display
    return out


@dataclass(frozen=True)
class Clock:
    """Dates and instants relative to the reference date `today` (local Swedish time)."""

    today: dt.date

    def date(self, days: int) -> str:
        """The date `days` from today (negative: in the past), as a FHIR date."""
        return (self.today + dt.timedelta(days=days)).isoformat()

    def workday(self, days: int) -> dt.date:
        """The date `days` from today, moved off a weekend away from today."""
        day = self.today + dt.timedelta(days=days)
        while day.weekday() >= 5:
            day += dt.timedelta(days=1 if days >= 0 else -1)
        return day

    def local(self, days: int, hour: int, minute: int = 0) -> dt.datetime:
        """A local (Europe/Stockholm) time on the workday `days` from today."""
        return dt.datetime.combine(self.workday(days), dt.time(hour, minute), tzinfo=STOCKHOLM)


def instant(moment: dt.datetime) -> str:
    """An aware datetime as a FHIR instant in UTC with an explicit offset."""
    return moment.astimezone(dt.UTC).isoformat(timespec="seconds")
